package io.dynamollm.gpu;

import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * A device that remembers the clock lock last asked of it: what the control plane requested, next to the SM clock the
 * GPU applies ({@link #smClockMhz}), for metrics ({@code DCGM_FI_DEV_SM_CLOCK} applied, {@code
 * dynamollm_gpu_sm_clock_requested_mhz} requested). NVML reads back application clocks but not a locked range, so
 * the request is recorded where it is made. Every other call goes to the device unchanged.
 */
public final class ClockRequestRecorder implements GpuDevice {
  private final GpuDevice device;
  private volatile int requestedMaxMhz; // 0: no lock (the driver's default boost behaviour)

  public ClockRequestRecorder(GpuDevice device) {
    this.device = Objects.requireNonNull(device, "device");
  }

  /** The upper end of the lock last set and not reset since; empty when the clock is not locked. */
  public OptionalInt requestedMhz() {
    int r = requestedMaxMhz;
    return r == 0 ? OptionalInt.empty() : OptionalInt.of(r);
  }

  @Override
  public GpuDevice underlying() {
    return device.underlying();
  }

  @Override
  public void setLockedGpuClocks(int minMhz, int maxMhz) {
    device.setLockedGpuClocks(minMhz, maxMhz);
    requestedMaxMhz = maxMhz;
  }

  @Override
  public void resetLockedGpuClocks() {
    device.resetLockedGpuClocks();
    requestedMaxMhz = 0;
  }

  @Override
  public int index() {
    return device.index();
  }

  @Override
  public String uuid() {
    return device.uuid();
  }

  @Override
  public String name() {
    return device.name();
  }

  @Override
  public boolean simulated() {
    return device.simulated();
  }

  @Override
  public GpuCapabilities capabilities() {
    return device.capabilities();
  }

  @Override
  public List<Integer> supportedGraphicsClocksMhz() {
    return device.supportedGraphicsClocksMhz();
  }

  @Override
  public PowerLimitConstraints powerLimitConstraints() {
    return device.powerLimitConstraints();
  }

  @Override
  public int powerLimitMw() {
    return device.powerLimitMw();
  }

  @Override
  public void setPowerLimitMw(int milliwatts) {
    device.setPowerLimitMw(milliwatts);
  }

  @Override
  public void resetPowerLimit() {
    device.resetPowerLimit();
  }

  @Override
  public int powerUsageMw() {
    return device.powerUsageMw();
  }

  @Override
  public long totalEnergyMj() {
    return device.totalEnergyMj();
  }

  @Override
  public int smClockMhz() {
    return device.smClockMhz();
  }

  @Override
  public Utilization utilization() {
    return device.utilization();
  }

  @Override
  public MemoryInfo memory() {
    return device.memory();
  }

  @Override
  public int temperatureC() {
    return device.temperatureC();
  }

  @Override
  public ClockEventReasons clockEventReasons() {
    return device.clockEventReasons();
  }
}
