package io.dynamollm.protocol;

import java.util.List;

/**
 * The cluster's pools of one cluster epoch: every pool's budget. Kept durably so that a cluster manager that takes
 * over (another node, a restart) resumes them.
 *
 * @param epoch the cluster epoch
 * @param pools the budgets of that epoch (with any top-ups since)
 */
public record PoolLayout(long epoch, List<PoolBudget> pools) implements CborSerializable {
  public PoolLayout {
    pools = List.copyOf(pools);
  }
}
