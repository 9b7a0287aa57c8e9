package io.dynamollm.gpu;

/**
 * The caller may not change this setting (NVML_ERROR_NO_PERMISSION): setting clocks and power limits needs root or
 * CAP_SYS_ADMIN on the GPU host.
 */
public final class GpuNoPermissionException extends GpuException {
  private static final long serialVersionUID = 1L;

  public GpuNoPermissionException(String operation, int code, String message) {
    super(operation, code, message);
  }
}
