package io.dynamollm.control.cluster;

import io.dynamollm.protocol.CborSerializable;
import io.dynamollm.protocol.FrequencyBounds;
import java.util.Objects;

/**
 * What the operator allows the whole cluster: the clock range every instance stays within, and how many GPUs the
 * pools may hold together. Kept in durable Distributed Data ({@link LimitsStore}), set through
 * {@code PUT /api/v1/limits}.
 *
 * @param bounds the clock range of every instance
 * @param gpuBudget the most GPUs all pools hold together; 0 = every GPU of the cluster's hosts
 */
public record ClusterLimits(FrequencyBounds bounds, int gpuBudget) implements CborSerializable {
  public ClusterLimits {
    Objects.requireNonNull(bounds, "bounds");
    if (gpuBudget < 0) {
      throw new IllegalArgumentException("a GPU budget is 0 (every GPU) or positive, got " + gpuBudget);
    }
  }

  /** The GPUs the pools may hold on hosts with {@code hostGpus} GPUs. */
  public int usableGpus(int hostGpus) {
    return gpuBudget == 0 ? hostGpus : Math.min(hostGpus, gpuBudget);
  }
}
