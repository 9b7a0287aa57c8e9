package io.dynamollm.gpu;

/** The GPU fell off the bus or needs a reset (NVML_ERROR_GPU_IS_LOST, NVML_ERROR_RESET_REQUIRED): give it up. */
public final class GpuLostException extends GpuException {
  private static final long serialVersionUID = 1L;

  public GpuLostException(String operation, int code, String message) {
    super(operation, code, message);
  }
}
