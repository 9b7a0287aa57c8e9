package io.dynamollm.gpu.sim;

import io.dynamollm.gpu.ClockEventReasons;
import io.dynamollm.gpu.GpuCapabilities;
import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.GpuException;
import io.dynamollm.gpu.MemoryInfo;
import io.dynamollm.gpu.NvmlCodes;
import io.dynamollm.gpu.PowerLimitConstraints;
import io.dynamollm.gpu.Utilization;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * A simulated H100: behaves like the NVML device for every verb, with power from the profile's model of what its
 * engine is doing ({@link #setActivity}) at the applied clock, and an energy counter that integrates that power over
 * time. Time comes from a nanosecond clock passed in, so a simulation on virtual time and a live node on the wall clock
 * use the same class.
 *
 * <p>As on the hardware: a locked clock range runs at its highest supported clock; a range outside the supported
 * clocks is refused with NVML_ERROR_INVALID_ARGUMENT; setting a power limit outside the constraints likewise; the
 * draw never exceeds the power limit. The supported clocks are the H100's 15 MHz steps within the range the profile
 * models (810–1980 MHz for the bundled profile), so no clock is reachable that the model would have to extrapolate.
 */
public final class SimulatedGpuDevice implements GpuDevice {
  /** H100 80GB HBM3 as NVML reports it. */
  public static final long H100_MEMORY_BYTES = 81_559L * 1024 * 1024;
  public static final PowerLimitConstraints H100_POWER_LIMITS = new PowerLimitConstraints(200_000, 700_000, 700_000);
  /** H100 graphics clocks run from 345 MHz in 15 MHz steps to 1980 MHz. */
  static final int H100_LOWEST_MHZ = 345;
  static final int H100_STEP_MHZ = 15;

  private final int index;
  private final String uuid;
  private final String name;
  private final Profile profile;
  private final LongSupplier nanoTime;
  private final List<Integer> supportedClocks;

  private GpuActivity activity = GpuActivity.IDLE;
  private int lockedMinMhz = -1;
  private int lockedMaxMhz = -1;
  private int powerLimitMw = H100_POWER_LIMITS.defaultMw();
  private long memoryUsedBytes;
  private long lastNanos;
  private double energyMj;

  public SimulatedGpuDevice(int index, String uuid, Profile profile, LongSupplier nanoTime) {
    this.index = index;
    this.uuid = Objects.requireNonNull(uuid, "uuid");
    this.name = "Simulated NVIDIA H100 80GB HBM3";
    this.profile = Objects.requireNonNull(profile, "profile");
    this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
    int lowestModeled = profile.clockLevelsMhz().get(0);
    int max = profile.maxClockMhz();
    List<Integer> clocks = new ArrayList<>();
    for (int mhz = max; mhz >= H100_LOWEST_MHZ; mhz -= H100_STEP_MHZ) {
      if (mhz >= lowestModeled) {
        clocks.add(mhz);
      }
    }
    this.supportedClocks = List.copyOf(clocks);
    this.lastNanos = nanoTime.getAsLong();
  }

  /** A host's worth of simulated GPUs, UUIDs derived from the host name so they are stable across restarts. */
  public static List<SimulatedGpuDevice> host(String hostName, int count, Profile profile, LongSupplier nanoTime) {
    List<SimulatedGpuDevice> out = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      String uuid = String.format("GPU-51a0%04x-%04x-4000-8000-%012x", Math.abs(hostName.hashCode()) & 0xffff, i, (long) i);
      out.add(new SimulatedGpuDevice(i, uuid, profile, nanoTime));
    }
    return out;
  }

  // ---------------------------------------------------------------- engine side

  /** What the engine is doing from now on. */
  public synchronized void setActivity(GpuActivity newActivity) {
    accumulate();
    this.activity = Objects.requireNonNull(newActivity, "activity");
  }

  public synchronized GpuActivity activity() {
    return activity;
  }

  /** Device memory the engine holds (weights and KV cache). */
  public synchronized void setMemoryUsedBytes(long bytes) {
    if (bytes < 0 || bytes > H100_MEMORY_BYTES) {
      throw new IllegalArgumentException("memory used must be within 0.." + H100_MEMORY_BYTES + " bytes, got " + bytes);
    }
    this.memoryUsedBytes = bytes;
  }

  /** The clock the GPU runs at now: the top of a locked range, else the maximum. */
  public synchronized int appliedClockMhz() {
    return lockedMaxMhz > 0 ? lockedMaxMhz : supportedClocks.get(0);
  }

  // ---------------------------------------------------------------- GpuDevice

  @Override
  public int index() {
    return index;
  }

  @Override
  public String uuid() {
    return uuid;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public boolean simulated() {
    return true;
  }

  @Override
  public GpuCapabilities capabilities() {
    return new GpuCapabilities(true, true, true, true);
  }

  @Override
  public List<Integer> supportedGraphicsClocksMhz() {
    return supportedClocks;
  }

  @Override
  public synchronized void setLockedGpuClocks(int minMhz, int maxMhz) {
    String op = "nvmlDeviceSetGpuLockedClocks(GPU " + index + ", " + minMhz + ", " + maxMhz + ")";
    int lowest = supportedClocks.get(supportedClocks.size() - 1);
    int highest = supportedClocks.get(0);
    if (minMhz > maxMhz || maxMhz < lowest || minMhz > highest) {
      throw GpuException.of(op, NvmlCodes.ERROR_INVALID_ARGUMENT, "Invalid Argument");
    }
    accumulate();
    // The hardware runs at supported clocks inside the range; a range between two steps snaps down to the step below.
    int top = highestSupportedAtMost(Math.min(maxMhz, highest));
    int bottom = Math.min(top, lowestSupportedAtLeast(Math.max(minMhz, lowest)));
    lockedMinMhz = bottom;
    lockedMaxMhz = top;
  }

  @Override
  public synchronized void resetLockedGpuClocks() {
    accumulate();
    lockedMinMhz = -1;
    lockedMaxMhz = -1;
  }

  /** The locked range, or empty when the clocks are not locked. */
  public synchronized java.util.Optional<int[]> lockedRangeMhz() {
    return lockedMaxMhz > 0 ? java.util.Optional.of(new int[] {lockedMinMhz, lockedMaxMhz}) : java.util.Optional.empty();
  }

  @Override
  public PowerLimitConstraints powerLimitConstraints() {
    return H100_POWER_LIMITS;
  }

  @Override
  public synchronized int powerLimitMw() {
    return powerLimitMw;
  }

  @Override
  public synchronized void setPowerLimitMw(int milliwatts) {
    if (!H100_POWER_LIMITS.allows(milliwatts)) {
      throw GpuException.of("nvmlDeviceSetPowerManagementLimit(GPU " + index + ", " + milliwatts + " mW)",
          NvmlCodes.ERROR_INVALID_ARGUMENT, "Invalid Argument");
    }
    accumulate();
    powerLimitMw = milliwatts;
  }

  @Override
  public void resetPowerLimit() {
    setPowerLimitMw(H100_POWER_LIMITS.defaultMw());
  }

  @Override
  public synchronized int powerUsageMw() {
    return (int) Math.round(currentPowerW() * 1000);
  }

  @Override
  public synchronized long totalEnergyMj() {
    accumulate();
    return (long) Math.floor(energyMj);
  }

  @Override
  public synchronized int smClockMhz() {
    if (activity instanceof GpuActivity.Prefill p) {
      return profile.prefillHeldClockMhz(p.tp(), p.tokens(), appliedClockMhz()); // held down by power, as measured
    }
    return activity instanceof GpuActivity.Idle && lockedMaxMhz < 0 ? H100_LOWEST_MHZ : appliedClockMhz();
  }

  @Override
  public synchronized Utilization utilization() {
    if (activity instanceof GpuActivity.Prefill) {
      return new Utilization(100, 35);
    }
    if (activity instanceof GpuActivity.Decode) {
      return new Utilization(100, 85);
    }
    return new Utilization(0, 0);
  }

  @Override
  public synchronized MemoryInfo memory() {
    return new MemoryInfo(H100_MEMORY_BYTES, memoryUsedBytes);
  }

  @Override
  public synchronized int temperatureC() {
    // Steady-state die temperature: ambient-cooled DGX, about 0.07 °C per watt above 28 °C.
    return (int) Math.round(28 + 0.07 * currentPowerW());
  }

  @Override
  public synchronized ClockEventReasons clockEventReasons() {
    long mask = 0;
    if (activity instanceof GpuActivity.Idle) {
      mask |= ClockEventReasons.GPU_IDLE;
    }
    if (lockedMaxMhz > 0 && lockedMaxMhz < supportedClocks.get(0)) {
      mask |= ClockEventReasons.APPLICATIONS_CLOCKS_SETTING;
    }
    if (uncappedPowerW() > powerLimitMw / 1000.0) {
      mask |= ClockEventReasons.SW_POWER_CAP;
    }
    return new ClockEventReasons(mask);
  }

  // ---------------------------------------------------------------- model

  private double currentPowerW() {
    return Math.min(uncappedPowerW(), powerLimitMw / 1000.0);
  }

  private double uncappedPowerW() {
    int mhz = appliedClockMhz();
    if (activity instanceof GpuActivity.Prefill p) {
      return profile.prefillPowerW(p.tp(), p.tokens(), mhz);
    }
    if (activity instanceof GpuActivity.Decode d) {
      return profile.decodePowerW(d.tp(), d.batch(), mhz);
    }
    if (activity instanceof GpuActivity.Loading) {
      return profile.loadingPowerW();
    }
    return profile.idlePowerW();
  }

  private void accumulate() {
    long now = nanoTime.getAsLong();
    long dt = now - lastNanos;
    if (dt > 0) {
      energyMj += currentPowerW() * dt / 1e6; // W × ns = 1e-9 J = 1e-6 mJ
    }
    lastNanos = now;
  }

  private int highestSupportedAtMost(int mhz) {
    for (int c : supportedClocks) {
      if (c <= mhz) {
        return c;
      }
    }
    return -1;
  }

  private int lowestSupportedAtLeast(int mhz) {
    for (int i = supportedClocks.size() - 1; i >= 0; i--) {
      if (supportedClocks.get(i) >= mhz) {
        return supportedClocks.get(i);
      }
    }
    return supportedClocks.get(0);
  }
}
