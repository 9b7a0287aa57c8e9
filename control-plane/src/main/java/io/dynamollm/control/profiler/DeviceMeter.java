package io.dynamollm.control.profiler;

import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.GpuException;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;

/** The GPU driver's devices (NVML, or simulated ones in this process): energy counter, power and SM clock. */
final class DeviceMeter implements GpuMeter {
  private final List<? extends GpuDevice> devices;
  private final String description;
  private final AutoCloseable closer;

  DeviceMeter(List<? extends GpuDevice> devices, String description, AutoCloseable closer) {
    if (devices.isEmpty()) {
      throw new IllegalArgumentException("no GPUs to read");
    }
    this.devices = List.copyOf(devices);
    this.description = description;
    this.closer = closer;
  }

  @Override
  public Reading read() throws IOException {
    try {
      double mj = 0;
      double mw = 0;
      int[] mhz = new int[devices.size()];
      for (int i = 0; i < mhz.length; i++) {
        GpuDevice d = devices.get(i);
        mj += d.totalEnergyMj();
        mw += d.powerUsageMw();
        mhz[i] = d.smClockMhz();
      }
      Arrays.sort(mhz);
      return new Reading(System.nanoTime(), mj / 1000.0, mw / 1000.0 / mhz.length, mhz[mhz.length / 2]);
    } catch (GpuException e) {
      throw new IOException("reading the GPUs: " + e.getMessage(), e);
    }
  }

  @Override
  public int gpus() {
    return devices.size();
  }

  @Override
  public String describe() {
    return description;
  }

  @Override
  public void close() {
    try {
      closer.close();
    } catch (Exception e) {
      // nothing held that outlives the process
    }
  }
}
