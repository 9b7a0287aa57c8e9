package io.dynamollm.gpu;

/**
 * A GPU operation failed. One subtype per class of NVML error, each carrying NVML's return code and its message, so
 * callers can react to the class ({@link GpuLostException}: give the GPU up; {@link GpuNoPermissionException}: run
 * as root or with CAP_SYS_ADMIN) and show the text.
 */
public abstract sealed class GpuException extends RuntimeException
    permits GpuException.NotSupported,
        GpuNoPermissionException,
        GpuLostException,
        GpuDriverNotLoadedException,
        GpuException.InvalidArgument,
        GpuException.Uninitialized,
        GpuException.NotFound,
        GpuException.Timeout,
        GpuException.InUse,
        GpuException.InsufficientResources,
        GpuException.Unknown {
  private static final long serialVersionUID = 1L;

  private final int nvmlCode;
  private final String nvmlMessage;
  private final String operation;

  GpuException(String operation, int nvmlCode, String nvmlMessage) {
    super(operation + " failed: " + nvmlMessage + " (NVML error " + nvmlCode + ")");
    this.operation = operation;
    this.nvmlCode = nvmlCode;
    this.nvmlMessage = nvmlMessage;
  }

  /** NVML's return code ({@code nvmlReturn_t}). */
  public int nvmlCode() {
    return nvmlCode;
  }

  /** NVML's text for the code ({@code nvmlErrorString}). */
  public String nvmlMessage() {
    return nvmlMessage;
  }

  /** The operation that failed, e.g. {@code nvmlDeviceSetGpuLockedClocks(GPU 0, 1200, 1200)}. */
  public String operation() {
    return operation;
  }

  /** The exception for an NVML return code. */
  public static GpuException of(String operation, int code, String message) {
    return switch (code) {
      case NvmlCodes.ERROR_NOT_SUPPORTED -> new NotSupported(operation, code, message);
      case NvmlCodes.ERROR_NO_PERMISSION -> new GpuNoPermissionException(operation, code, message);
      case NvmlCodes.ERROR_GPU_IS_LOST, NvmlCodes.ERROR_RESET_REQUIRED -> new GpuLostException(operation, code, message);
      case NvmlCodes.ERROR_DRIVER_NOT_LOADED, NvmlCodes.ERROR_LIBRARY_NOT_FOUND, NvmlCodes.ERROR_FUNCTION_NOT_FOUND,
          NvmlCodes.ERROR_LIB_RM_VERSION_MISMATCH -> new GpuDriverNotLoadedException(operation, code, message);
      case NvmlCodes.ERROR_INVALID_ARGUMENT, NvmlCodes.ERROR_FREQ_NOT_SUPPORTED,
          NvmlCodes.ERROR_ARGUMENT_VERSION_MISMATCH -> new InvalidArgument(operation, code, message);
      case NvmlCodes.ERROR_UNINITIALIZED -> new Uninitialized(operation, code, message);
      case NvmlCodes.ERROR_NOT_FOUND, NvmlCodes.ERROR_GPU_NOT_FOUND -> new NotFound(operation, code, message);
      case NvmlCodes.ERROR_TIMEOUT -> new Timeout(operation, code, message);
      case NvmlCodes.ERROR_IN_USE -> new InUse(operation, code, message);
      case NvmlCodes.ERROR_INSUFFICIENT_POWER, NvmlCodes.ERROR_MEMORY, NvmlCodes.ERROR_INSUFFICIENT_RESOURCES,
          NvmlCodes.ERROR_INSUFFICIENT_SIZE -> new InsufficientResources(operation, code, message);
      default -> new Unknown(operation, code, message);
    };
  }

  /** The device or driver does not support the operation (NVML_ERROR_NOT_SUPPORTED). */
  public static final class NotSupported extends GpuException {
    private static final long serialVersionUID = 1L;

    public NotSupported(String operation, int code, String message) {
      super(operation, code, message);
    }
  }

  /** A value outside what the device accepts (NVML_ERROR_INVALID_ARGUMENT, NVML_ERROR_FREQ_NOT_SUPPORTED). */
  public static final class InvalidArgument extends GpuException {
    private static final long serialVersionUID = 1L;

    public InvalidArgument(String operation, int code, String message) {
      super(operation, code, message);
    }
  }

  /** NVML was used before nvmlInit or after nvmlShutdown (NVML_ERROR_UNINITIALIZED). */
  public static final class Uninitialized extends GpuException {
    private static final long serialVersionUID = 1L;

    public Uninitialized(String operation, int code, String message) {
      super(operation, code, message);
    }
  }

  /** No such device or object (NVML_ERROR_NOT_FOUND, NVML_ERROR_GPU_NOT_FOUND). */
  public static final class NotFound extends GpuException {
    private static final long serialVersionUID = 1L;

    public NotFound(String operation, int code, String message) {
      super(operation, code, message);
    }
  }

  /** The driver did not answer in time (NVML_ERROR_TIMEOUT). */
  public static final class Timeout extends GpuException {
    private static final long serialVersionUID = 1L;

    public Timeout(String operation, int code, String message) {
      super(operation, code, message);
    }
  }

  /** Another client holds the resource (NVML_ERROR_IN_USE). */
  public static final class InUse extends GpuException {
    private static final long serialVersionUID = 1L;

    public InUse(String operation, int code, String message) {
      super(operation, code, message);
    }
  }

  /** Power, memory or buffer space ran short (NVML_ERROR_INSUFFICIENT_*, NVML_ERROR_MEMORY). */
  public static final class InsufficientResources extends GpuException {
    private static final long serialVersionUID = 1L;

    public InsufficientResources(String operation, int code, String message) {
      super(operation, code, message);
    }
  }

  /** Any other NVML error (NVML_ERROR_UNKNOWN and codes this binding does not know). */
  public static final class Unknown extends GpuException {
    private static final long serialVersionUID = 1L;

    public Unknown(String operation, int code, String message) {
      super(operation, code, message);
    }
  }
}
