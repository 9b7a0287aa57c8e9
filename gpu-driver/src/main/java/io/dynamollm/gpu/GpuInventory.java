package io.dynamollm.gpu;

import java.util.List;

/**
 * The GPUs a host offers, or why it offers none. "NVML is not available here" is a value, not a crash: callers decide
 * whether to fall back to simulated GPUs or to refuse to start.
 */
public sealed interface GpuInventory permits GpuInventory.Available, GpuInventory.Unavailable {

  /** The devices visible to this process (after CUDA_VISIBLE_DEVICES). */
  record Available(String backend, String driverVersion, List<GpuDevice> devices) implements GpuInventory {
    public Available {
      devices = List.copyOf(devices);
    }
  }

  /**
   * No GPU could be reached.
   *
   * @param reason what failed, in words a person can act on
   */
  record Unavailable(String reason) implements GpuInventory {}
}
