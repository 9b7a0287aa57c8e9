package io.dynamollm.gpu;

/**
 * The NVIDIA driver is not loaded, or the NVML library does not match it (NVML_ERROR_DRIVER_NOT_LOADED,
 * NVML_ERROR_LIBRARY_NOT_FOUND, NVML_ERROR_FUNCTION_NOT_FOUND, NVML_ERROR_LIB_RM_VERSION_MISMATCH).
 */
public final class GpuDriverNotLoadedException extends GpuException {
  private static final long serialVersionUID = 1L;

  public GpuDriverNotLoadedException(String operation, int code, String message) {
    super(operation, code, message);
  }
}
