package io.dynamollm.gpu.nvml;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.GpuException;
import io.dynamollm.gpu.GpuInventory;
import io.dynamollm.gpu.NvmlCodes;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opens NVML through JNA and lists the GPUs this process may use. Close it to call {@code nvmlShutdown}.
 *
 * <p>{@link #open} never throws for a host without NVIDIA GPUs: it returns {@link GpuInventory.Unavailable} with the
 * reason (library missing, driver not loaded, no device visible).
 */
public final class NvmlGpuDevices implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(NvmlGpuDevices.class);
  /** Names tried when no library path is configured: the driver's versioned soname first. */
  static final List<String> DEFAULT_LIBRARY_NAMES = List.of("libnvidia-ml.so.1", "nvidia-ml");

  private final NvmlLibrary nvml;
  private final GpuInventory inventory;
  private boolean closed;

  private NvmlGpuDevices(NvmlLibrary nvml, GpuInventory inventory) {
    this.nvml = nvml;
    this.inventory = inventory;
  }

  /**
   * Loads NVML and enumerates the visible GPUs.
   *
   * @param libraryPath a path to {@code libnvidia-ml.so.1}, or empty for the system's
   * @param cudaVisibleDevices the value of CUDA_VISIBLE_DEVICES, or empty when unset
   */
  public static NvmlGpuDevices open(Optional<String> libraryPath, Optional<String> cudaVisibleDevices) {
    NvmlLibrary nvml;
    try {
      nvml = load(libraryPath);
    } catch (UnsatisfiedLinkError e) {
      return new NvmlGpuDevices(null, new GpuInventory.Unavailable(
          "NVML is not available here: cannot load " + libraryPath.orElse("libnvidia-ml.so.1") + " ("
              + firstLine(e.getMessage()).replaceAll(":\\s*$", "") + "); is the NVIDIA driver installed?"));
    }
    int rc = nvml.nvmlInit_v2();
    if (rc != NvmlCodes.SUCCESS) {
      return new NvmlGpuDevices(null, new GpuInventory.Unavailable(
          "NVML is not available here: nvmlInit_v2 returned " + rc + " (" + errorString(nvml, rc) + ")"));
    }
    try {
      IntByReference count = new IntByReference();
      check(nvml, nvml.nvmlDeviceGetCount_v2(count), "nvmlDeviceGetCount_v2");
      List<CudaVisibleDevices.NvmlGpu> all = new ArrayList<>();
      List<Pointer> handles = new ArrayList<>();
      for (int i = 0; i < count.getValue(); i++) {
        PointerByReference ref = new PointerByReference();
        check(nvml, nvml.nvmlDeviceGetHandleByIndex_v2(i, ref), "nvmlDeviceGetHandleByIndex_v2(" + i + ")");
        handles.add(ref.getValue());
        byte[] uuid = new byte[96];
        check(nvml, nvml.nvmlDeviceGetUUID(ref.getValue(), uuid, uuid.length), "nvmlDeviceGetUUID(" + i + ")");
        all.add(new CudaVisibleDevices.NvmlGpu(i, cString(uuid)));
      }
      List<Integer> visible = CudaVisibleDevices.visible(cudaVisibleDevices, all);
      if (visible.isEmpty()) {
        nvml.nvmlShutdown();
        String why = count.getValue() == 0 ? "NVML lists no GPU on this host"
            : "CUDA_VISIBLE_DEVICES='" + cudaVisibleDevices.orElse("") + "' hides all " + count.getValue() + " GPUs";
        return new NvmlGpuDevices(null, new GpuInventory.Unavailable(why));
      }
      List<GpuDevice> devices = new ArrayList<>();
      for (int idx : visible) {
        devices.add(new NvmlGpuDevice(nvml, handles.get(idx), idx, all.get(idx).uuid()));
      }
      byte[] version = new byte[96];
      String driver = nvml.nvmlSystemGetDriverVersion(version, version.length) == NvmlCodes.SUCCESS ? cString(version) : "unknown";
      log.info("NVML {}: {} of {} GPUs visible", driver, devices.size(), count.getValue());
      return new NvmlGpuDevices(nvml, new GpuInventory.Available("nvml", driver, devices));
    } catch (GpuException e) {
      nvml.nvmlShutdown();
      return new NvmlGpuDevices(null, new GpuInventory.Unavailable("NVML is not usable here: " + e.getMessage()));
    }
  }

  private static NvmlLibrary load(Optional<String> libraryPath) {
    if (libraryPath.isPresent() && !libraryPath.get().isBlank()) {
      return Native.load(libraryPath.get(), NvmlLibrary.class);
    }
    UnsatisfiedLinkError last = null;
    for (String name : DEFAULT_LIBRARY_NAMES) {
      try {
        return Native.load(name, NvmlLibrary.class);
      } catch (UnsatisfiedLinkError e) {
        last = e;
      }
    }
    throw last;
  }

  /** The GPUs, or why there are none. */
  public GpuInventory inventory() {
    return inventory;
  }

  @Override
  public synchronized void close() {
    if (nvml != null && !closed) {
      closed = true;
      nvml.nvmlShutdown();
    }
  }

  static void check(NvmlLibrary nvml, int rc, String operation) {
    if (rc != NvmlCodes.SUCCESS) {
      throw GpuException.of(operation, rc, errorString(nvml, rc));
    }
  }

  static String errorString(NvmlLibrary nvml, int rc) {
    try {
      String s = nvml.nvmlErrorString(rc);
      return s == null ? "NVML error " + rc : s;
    } catch (UnsatisfiedLinkError e) {
      return "NVML error " + rc;
    }
  }

  static String cString(byte[] bytes) {
    int n = 0;
    while (n < bytes.length && bytes[n] != 0) {
      n++;
    }
    return new String(bytes, 0, n, StandardCharsets.UTF_8);
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "no detail";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
