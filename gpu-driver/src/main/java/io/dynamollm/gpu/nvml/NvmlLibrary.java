package io.dynamollm.gpu.nvml;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * The part of NVML's C API ({@code nvml.h}) this project uses, mapped with JNA. Versioned entry points are named
 * explicitly ({@code nvmlInit_v2}, {@code nvmlDeviceGetCount_v2}, {@code nvmlDeviceGetHandleByIndex_v2}) because the
 * unversioned symbols are the legacy ABI. Every function returns an {@code nvmlReturn_t}.
 */
public interface NvmlLibrary extends Library {

  int nvmlInit_v2();

  int nvmlShutdown();

  String nvmlErrorString(int result);

  int nvmlSystemGetDriverVersion(byte[] version, int length);

  int nvmlDeviceGetCount_v2(IntByReference deviceCount);

  int nvmlDeviceGetHandleByIndex_v2(int index, PointerByReference device);

  int nvmlDeviceGetUUID(Pointer device, byte[] uuid, int length);

  int nvmlDeviceGetName(Pointer device, byte[] name, int length);

  int nvmlDeviceGetSupportedMemoryClocks(Pointer device, IntByReference count, int[] clocksMHz);

  int nvmlDeviceGetSupportedGraphicsClocks(Pointer device, int memoryClockMHz, IntByReference count, int[] clocksMHz);

  int nvmlDeviceGetClockInfo(Pointer device, int type, IntByReference clockMHz);

  int nvmlDeviceSetGpuLockedClocks(Pointer device, int minGpuClockMHz, int maxGpuClockMHz);

  int nvmlDeviceResetGpuLockedClocks(Pointer device);

  int nvmlDeviceGetPowerManagementLimitConstraints(Pointer device, IntByReference minLimit, IntByReference maxLimit);

  int nvmlDeviceGetPowerManagementDefaultLimit(Pointer device, IntByReference defaultLimit);

  int nvmlDeviceGetPowerManagementLimit(Pointer device, IntByReference limit);

  int nvmlDeviceSetPowerManagementLimit(Pointer device, int limit);

  int nvmlDeviceGetPowerUsage(Pointer device, IntByReference power);

  int nvmlDeviceGetTotalEnergyConsumption(Pointer device, LongByReference energy);

  int nvmlDeviceGetUtilizationRates(Pointer device, NvmlUtilization utilization);

  int nvmlDeviceGetMemoryInfo(Pointer device, NvmlMemory memory);

  int nvmlDeviceGetTemperature(Pointer device, int sensorType, IntByReference temp);

  /** Newer name (driver 535+); {@link #nvmlDeviceGetCurrentClocksThrottleReasons} is the fallback. */
  int nvmlDeviceGetCurrentClocksEventReasons(Pointer device, LongByReference reasons);

  int nvmlDeviceGetCurrentClocksThrottleReasons(Pointer device, LongByReference reasons);

  /** {@code nvmlUtilization_t}. */
  @Structure.FieldOrder({"gpu", "memory"})
  class NvmlUtilization extends Structure {
    public int gpu;
    public int memory;
  }

  /** {@code nvmlMemory_t}. */
  @Structure.FieldOrder({"total", "free", "used"})
  class NvmlMemory extends Structure {
    public long total;
    public long free;
    public long used;
  }
}
