package io.dynamollm.gpu;

/** NVML's return codes ({@code nvmlReturn_t}) and the constants of nvml.h this binding uses. */
public final class NvmlCodes {
  public static final int SUCCESS = 0;
  public static final int ERROR_UNINITIALIZED = 1;
  public static final int ERROR_INVALID_ARGUMENT = 2;
  public static final int ERROR_NOT_SUPPORTED = 3;
  public static final int ERROR_NO_PERMISSION = 4;
  public static final int ERROR_ALREADY_INITIALIZED = 5;
  public static final int ERROR_NOT_FOUND = 6;
  public static final int ERROR_INSUFFICIENT_SIZE = 7;
  public static final int ERROR_INSUFFICIENT_POWER = 8;
  public static final int ERROR_DRIVER_NOT_LOADED = 9;
  public static final int ERROR_TIMEOUT = 10;
  public static final int ERROR_IRQ_ISSUE = 11;
  public static final int ERROR_LIBRARY_NOT_FOUND = 12;
  public static final int ERROR_FUNCTION_NOT_FOUND = 13;
  public static final int ERROR_CORRUPTED_INFOROM = 14;
  public static final int ERROR_GPU_IS_LOST = 15;
  public static final int ERROR_RESET_REQUIRED = 16;
  public static final int ERROR_OPERATING_SYSTEM = 17;
  public static final int ERROR_LIB_RM_VERSION_MISMATCH = 18;
  public static final int ERROR_IN_USE = 19;
  public static final int ERROR_MEMORY = 20;
  public static final int ERROR_NO_DATA = 21;
  public static final int ERROR_INSUFFICIENT_RESOURCES = 23;
  public static final int ERROR_FREQ_NOT_SUPPORTED = 24;
  public static final int ERROR_ARGUMENT_VERSION_MISMATCH = 25;
  public static final int ERROR_GPU_NOT_FOUND = 28;
  public static final int ERROR_UNKNOWN = 999;

  /** nvmlClockType_t */
  public static final int CLOCK_GRAPHICS = 0;
  public static final int CLOCK_SM = 1;
  public static final int CLOCK_MEM = 2;
  /** nvmlTemperatureSensors_t */
  public static final int TEMPERATURE_GPU = 0;

  private NvmlCodes() {}
}
