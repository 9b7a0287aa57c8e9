package io.dynamollm.decision.pool;

import io.dynamollm.protocol.TensorParallelism;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * A pool's layout: groups of identical instances, each group at one TP and clock, sharing the pool's load equally.
 *
 * @param groups the groups, largest TP first
 * @param predictedPowerW predicted power of the pool's GPUs at the planned load (parked budget GPUs at idle included)
 * @param plannedLoadRps the load the plan was made for
 */
public record PoolPlan(List<Group> groups, double predictedPowerW, double plannedLoadRps) {

  /**
   * @param tp tensor parallelism of each instance
   * @param clockMhz clock of each instance
   * @param instances how many
   * @param capacityRps each instance's capacity within the SLO (with the planner's margin)
   * @param loadPerInstanceRps the load each instance is planned to carry
   */
  public record Group(TensorParallelism tp, int clockMhz, int instances, double capacityRps, double loadPerInstanceRps) {
    public int gpus() {
      return tp.degree() * instances;
    }
  }

  public PoolPlan {
    groups = groups.stream()
        .filter(g -> g.instances() > 0)
        .sorted(Comparator.comparing(Group::tp).reversed().thenComparing(Comparator.comparingInt(Group::clockMhz).reversed()))
        .toList();
  }

  public static final PoolPlan EMPTY = new PoolPlan(List.of(), 0, 0);

  public int gpus() {
    return groups.stream().mapToInt(Group::gpus).sum();
  }

  public int instances() {
    return groups.stream().mapToInt(Group::instances).sum();
  }

  public double capacityRps() {
    return groups.stream().mapToDouble(g -> g.capacityRps() * g.instances()).sum();
  }

  /** e.g. "2×TP4@1605 + 1×TP8@1980". */
  public String describe() {
    if (groups.isEmpty()) {
      return "no instances";
    }
    return groups.stream()
        .map(g -> String.format(Locale.ROOT, "%d×%s@%d", g.instances(), g.tp(), g.clockMhz()))
        .collect(Collectors.joining(" + "));
  }
}
