package io.dynamollm.gpu.nvml;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import io.dynamollm.gpu.ClockEventReasons;
import io.dynamollm.gpu.GpuCapabilities;
import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.GpuException;
import io.dynamollm.gpu.MemoryInfo;
import io.dynamollm.gpu.NvmlCodes;
import io.dynamollm.gpu.PowerLimitConstraints;
import io.dynamollm.gpu.Utilization;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A real GPU through NVML. Created by {@link NvmlGpuDevices}; valid until it is closed. */
final class NvmlGpuDevice implements GpuDevice {
  private final NvmlLibrary nvml;
  private final Pointer handle;
  private final int index;
  private final String uuid;
  private final String name;
  private final List<Integer> supportedClocks;
  private final GpuCapabilities capabilities;
  private volatile boolean eventReasonsFallback;

  NvmlGpuDevice(NvmlLibrary nvml, Pointer handle, int index, String uuid) {
    this.nvml = nvml;
    this.handle = handle;
    this.index = index;
    this.uuid = uuid;
    byte[] buf = new byte[96];
    check(nvml.nvmlDeviceGetName(handle, buf, buf.length), "nvmlDeviceGetName");
    this.name = NvmlGpuDevices.cString(buf);
    this.supportedClocks = readSupportedClocks();
    this.capabilities = new GpuCapabilities(
        !supportedClocks.isEmpty(), probe(this::powerLimitConstraints), probe(this::totalEnergyMj), probe(this::clockEventReasons));
  }

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
    return false;
  }

  @Override
  public GpuCapabilities capabilities() {
    return capabilities;
  }

  @Override
  public List<Integer> supportedGraphicsClocksMhz() {
    return supportedClocks;
  }

  private List<Integer> readSupportedClocks() {
    IntByReference memCount = new IntByReference(0);
    int rc = nvml.nvmlDeviceGetSupportedMemoryClocks(handle, memCount, null);
    if (rc == NvmlCodes.ERROR_NOT_SUPPORTED) {
      return List.of();
    }
    if (rc != NvmlCodes.ERROR_INSUFFICIENT_SIZE && rc != NvmlCodes.SUCCESS) {
      check(rc, "nvmlDeviceGetSupportedMemoryClocks");
    }
    int[] mem = new int[Math.max(1, memCount.getValue())];
    memCount.setValue(mem.length);
    check(nvml.nvmlDeviceGetSupportedMemoryClocks(handle, memCount, mem), "nvmlDeviceGetSupportedMemoryClocks");
    if (memCount.getValue() == 0) {
      return List.of();
    }
    // Graphics clocks are listed per memory clock; locking applies to the highest memory clock, the serving default.
    int memClock = Arrays.stream(mem, 0, memCount.getValue()).max().getAsInt();
    int[] clocks = new int[512];
    IntByReference count = new IntByReference(clocks.length);
    check(nvml.nvmlDeviceGetSupportedGraphicsClocks(handle, memClock, count, clocks),
        "nvmlDeviceGetSupportedGraphicsClocks(mem " + memClock + " MHz)");
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i < count.getValue(); i++) {
      out.add(clocks[i]);
    }
    out.sort((a, b) -> Integer.compare(b, a));
    return List.copyOf(out);
  }

  @Override
  public void setLockedGpuClocks(int minMhz, int maxMhz) {
    check(nvml.nvmlDeviceSetGpuLockedClocks(handle, minMhz, maxMhz),
        "nvmlDeviceSetGpuLockedClocks(GPU " + index + ", " + minMhz + ", " + maxMhz + ")");
  }

  @Override
  public void resetLockedGpuClocks() {
    check(nvml.nvmlDeviceResetGpuLockedClocks(handle), "nvmlDeviceResetGpuLockedClocks(GPU " + index + ")");
  }

  @Override
  public PowerLimitConstraints powerLimitConstraints() {
    IntByReference min = new IntByReference();
    IntByReference max = new IntByReference();
    check(nvml.nvmlDeviceGetPowerManagementLimitConstraints(handle, min, max), "nvmlDeviceGetPowerManagementLimitConstraints");
    IntByReference def = new IntByReference();
    check(nvml.nvmlDeviceGetPowerManagementDefaultLimit(handle, def), "nvmlDeviceGetPowerManagementDefaultLimit");
    return new PowerLimitConstraints(min.getValue(), max.getValue(), def.getValue());
  }

  @Override
  public int powerLimitMw() {
    IntByReference v = new IntByReference();
    check(nvml.nvmlDeviceGetPowerManagementLimit(handle, v), "nvmlDeviceGetPowerManagementLimit");
    return v.getValue();
  }

  @Override
  public void setPowerLimitMw(int milliwatts) {
    check(nvml.nvmlDeviceSetPowerManagementLimit(handle, milliwatts),
        "nvmlDeviceSetPowerManagementLimit(GPU " + index + ", " + milliwatts + " mW)");
  }

  @Override
  public void resetPowerLimit() {
    setPowerLimitMw(powerLimitConstraints().defaultMw());
  }

  @Override
  public int powerUsageMw() {
    IntByReference v = new IntByReference();
    check(nvml.nvmlDeviceGetPowerUsage(handle, v), "nvmlDeviceGetPowerUsage");
    return v.getValue();
  }

  @Override
  public long totalEnergyMj() {
    LongByReference v = new LongByReference();
    check(nvml.nvmlDeviceGetTotalEnergyConsumption(handle, v), "nvmlDeviceGetTotalEnergyConsumption");
    return v.getValue();
  }

  @Override
  public int smClockMhz() {
    IntByReference v = new IntByReference();
    check(nvml.nvmlDeviceGetClockInfo(handle, NvmlCodes.CLOCK_SM, v), "nvmlDeviceGetClockInfo(SM)");
    return v.getValue();
  }

  @Override
  public Utilization utilization() {
    NvmlLibrary.NvmlUtilization u = new NvmlLibrary.NvmlUtilization();
    check(nvml.nvmlDeviceGetUtilizationRates(handle, u), "nvmlDeviceGetUtilizationRates");
    return new Utilization(u.gpu, u.memory);
  }

  @Override
  public MemoryInfo memory() {
    NvmlLibrary.NvmlMemory m = new NvmlLibrary.NvmlMemory();
    check(nvml.nvmlDeviceGetMemoryInfo(handle, m), "nvmlDeviceGetMemoryInfo");
    return new MemoryInfo(m.total, m.used);
  }

  @Override
  public int temperatureC() {
    IntByReference v = new IntByReference();
    check(nvml.nvmlDeviceGetTemperature(handle, NvmlCodes.TEMPERATURE_GPU, v), "nvmlDeviceGetTemperature");
    return v.getValue();
  }

  @Override
  public ClockEventReasons clockEventReasons() {
    LongByReference v = new LongByReference();
    if (!eventReasonsFallback) {
      try {
        check(nvml.nvmlDeviceGetCurrentClocksEventReasons(handle, v), "nvmlDeviceGetCurrentClocksEventReasons");
        return new ClockEventReasons(v.getValue());
      } catch (UnsatisfiedLinkError older) {
        eventReasonsFallback = true; // drivers before 535 only have the old name
      }
    }
    check(nvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle, v), "nvmlDeviceGetCurrentClocksThrottleReasons");
    return new ClockEventReasons(v.getValue());
  }

  private void check(int rc, String operation) {
    NvmlGpuDevices.check(nvml, rc, operation);
  }

  private static boolean probe(java.util.function.Supplier<?> read) {
    try {
      read.get();
      return true;
    } catch (GpuException.NotSupported e) {
      return false;
    }
  }
}
