package io.dynamollm.gpu;

import java.util.List;

/**
 * One GPU, after NVML's verbs and in NVML's units (MHz, mW, mJ, bytes, °C). Implementations: {@code NvmlGpuDevice}
 * (the real device through JNA) and {@code SimulatedGpuDevice} (the embedded default where no GPU is present).
 *
 * <p>Exactly one actor owns each device and nothing else calls it; implementations therefore need not be fast under
 * contention, but they are thread-safe. Every failing call throws a {@link GpuException} subtype.
 */
public interface GpuDevice {

  /** NVML index on this host. */
  int index();

  /** NVML UUID, e.g. "GPU-8a7f…". */
  String uuid();

  /** Product name, e.g. "NVIDIA H100 80GB HBM3". */
  String name();

  /** Whether this is a simulated device. */
  boolean simulated();

  /** What the device supports. */
  GpuCapabilities capabilities();

  /** Graphics clocks the device can run at, MHz, highest first (as NVML and nvidia-smi list them). */
  List<Integer> supportedGraphicsClocksMhz();

  /** Locks the graphics clock into [minMhz, maxMhz] ({@code nvmlDeviceSetGpuLockedClocks}). */
  void setLockedGpuClocks(int minMhz, int maxMhz);

  /** Removes a clock lock ({@code nvmlDeviceResetGpuLockedClocks}). */
  void resetLockedGpuClocks();

  /** Settable power-limit range and default. */
  PowerLimitConstraints powerLimitConstraints();

  /** Current power limit, mW. */
  int powerLimitMw();

  /** Sets the power limit, mW ({@code nvmlDeviceSetPowerManagementLimit}). */
  void setPowerLimitMw(int milliwatts);

  /** Sets the power limit back to its default. */
  void resetPowerLimit();

  /** Current power draw, mW. */
  int powerUsageMw();

  /** Energy used since the driver was loaded, mJ; monotone. */
  long totalEnergyMj();

  /** Current SM clock, MHz. */
  int smClockMhz();

  /** Utilization over the driver's last sample period. */
  Utilization utilization();

  /** Device memory. */
  MemoryInfo memory();

  /** GPU core temperature, °C. */
  int temperatureC();

  /** Why the clock is below its maximum right now. */
  ClockEventReasons clockEventReasons();

  /** The device itself under any wrapper ({@link ClockRequestRecorder}); this one when it wraps nothing. */
  default GpuDevice underlying() {
    return this;
  }

  /** The supported clock nearest to {@code mhz} — how the hardware treats a request between two supported clocks. */
  default int nearestSupportedClockMhz(int mhz) {
    int best = -1;
    for (int c : supportedGraphicsClocksMhz()) {
      if (best < 0 || Math.abs(c - mhz) < Math.abs(best - mhz) || (Math.abs(c - mhz) == Math.abs(best - mhz) && c > best)) {
        best = c;
      }
    }
    if (best < 0) {
      throw new GpuException.NotSupported("nearestSupportedClock(GPU " + index() + ")", NvmlCodes.ERROR_NOT_SUPPORTED,
          "the device lists no supported graphics clocks");
    }
    return best;
  }
}
