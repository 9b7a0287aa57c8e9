package io.dynamollm.control.cluster;

import io.dynamollm.protocol.CborSerializable;
import io.dynamollm.protocol.FrequencyBounds;
import java.util.Objects;

/**
 * What the operator allows the whole cluster: the clock range every instance stays within, how many GPUs the pools
 * may hold together, and how much GPU power they may draw (the watt budget, held as {@code PowerCap} says). Kept in durable Distributed Data ({@link LimitsStore}), set through
 * {@code PUT /api/v1/limits}.
 *
 * @param bounds the clock range of every instance
 * @param gpuBudget the most GPUs all pools hold together; 0 = every GPU of the cluster's hosts
 * @param powerBudgetW the most GPU power the cluster draws, W; 0 = no budget
 */
public record ClusterLimits(FrequencyBounds bounds, int gpuBudget, double powerBudgetW) implements CborSerializable {
  public ClusterLimits {
    Objects.requireNonNull(bounds, "bounds");
    if (gpuBudget < 0) {
      throw new IllegalArgumentException("a GPU budget is 0 (every GPU) or positive, got " + gpuBudget);
    }
    if (!Double.isFinite(powerBudgetW) || powerBudgetW < 0) {
      throw new IllegalArgumentException("a watt budget is 0 (none) or positive, got " + powerBudgetW);
    }
  }

  /** Without a watt budget. */
  public ClusterLimits(FrequencyBounds bounds, int gpuBudget) {
    this(bounds, gpuBudget, 0);
  }

  /** The GPUs the pools may hold on hosts with {@code hostGpus} GPUs. */
  public int usableGpus(int hostGpus) {
    return gpuBudget == 0 ? hostGpus : Math.min(hostGpus, gpuBudget);
  }
}
