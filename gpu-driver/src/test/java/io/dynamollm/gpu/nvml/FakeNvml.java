package io.dynamollm.gpu.nvml;

import com.sun.jna.Library;
import com.sun.jna.Native;

/** The scripting side of the C stand-in for libnvidia-ml.so.1 (src/test/c/fake_nvml.c). */
public interface FakeNvml extends Library {

  /** Path of the stand-in the test build compiled. */
  static String path() {
    String p = System.getProperty("dynamollm.test.fake-nvml");
    if (p == null) {
      throw new IllegalStateException("dynamollm.test.fake-nvml is not set: run the tests through Maven");
    }
    return p;
  }

  /** The build of the stand-in that lacks nvmlDeviceGetCurrentClocksEventReasons, like drivers before 535. */
  static String oldDriverPath() {
    java.io.File f = new java.io.File(path());
    return new java.io.File(f.getParentFile(), "old-driver/" + f.getName()).getPath();
  }

  static FakeNvml load(String path) {
    return Native.load(path, FakeNvml.class);
  }

  void fake_nvml_reset(int deviceCount);

  void fake_nvml_fail(String function, int code);

  void fake_nvml_set(int device, String key, long value);

  long fake_nvml_get(int device, String key);

  String fake_nvml_calls();
}
