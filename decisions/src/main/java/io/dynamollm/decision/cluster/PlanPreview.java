package io.dynamollm.decision.cluster;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.PoolReconciler;
import io.dynamollm.decision.pool.PoolStep;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.RequestType;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What the cluster would run under a proposal ("what if I tightened this SLO?"): the cluster step's proposed layout
 * and budgets ({@link ClusterStep#propose}), each pool's first plan from a fresh {@link PoolStep} given its budget,
 * solved by the pool planner — the same steps an epoch runs, none of them applied. Power is the planner's prediction
 * at the planned load; energy per hour is that power for an hour.
 */
public final class PlanPreview {
  /**
   * One pool of the preview.
   *
   * @param plan the pool's plan: its instance groups (TP, clock, count), predicted power, planned load
   * @param capacityRps what the plan carries within the pool's SLOs, req/s
   * @param meetsSlos whether that covers the planned load (else the pool is short and its types miss their SLOs)
   * @param outcome how the planner found the plan (OPTIMAL, FEASIBLE, FALLBACK, INFEASIBLE)
   * @param powerCapW the pool's share of the watt budget where the budget caps it, W; 0: not capped
   */
  public record Pool(String pool, Set<RequestType> types, int gpus, double loadRps, PoolPlan plan,
      double capacityRps, boolean meetsSlos, String outcome, double powerCapW) {}

  /** The whole preview: its pools, their predicted power and the budgeter's reason for the layout. */
  public record Result(List<Pool> pools, double predictedPowerW, String layoutReason) {
    public Result {
      pools = List.copyOf(pools);
    }

    /** Energy of an hour at the predicted power, kWh. */
    public double energyPerHourKwh() {
      return predictedPowerW / 1000;
    }

    /** GPUs the plans use. */
    public int gpusUsed() {
      return pools.stream().mapToInt(p -> p.plan().groups().stream().mapToInt(PoolPlan.Group::gpus).sum()).sum();
    }
  }

  private PlanPreview() {}

  /** The pools' plans for {@code proposal}, as their pool steps and the planner would make them at {@code nowMs}. */
  public static Result of(ClusterStep.Proposal proposal, DecisionSettings settings, PoolPlanner planner,
      PoolReconciler.Reshards reshards, double nowMs) {
    List<Pool> pools = new ArrayList<>();
    double power = 0;
    for (PoolBudget b : proposal.budgets()) {
      PoolStep step = new PoolStep(b.pool(), settings, reshards, 0, false, nowMs);
      Optional<PoolPlanner.Request> req = step.assign(b, nowMs).plan();
      PoolPlanner.Result r = req.map(planner::plan).orElse(null);
      PoolPlan plan = r == null ? PoolPlan.EMPTY : r.plan();
      double capacity = plan.capacityRps();
      // a capped plan carries less than its budget's load: judged against the load, not what the cap let it plan for
      pools.add(new Pool(b.pool(), b.types(), b.gpus(), b.loadRps(), plan, capacity,
          capacity + 1e-9 >= Math.max(plan.plannedLoadRps(), b.loadRps()), r == null ? "none"
          : r.solverOutcome().name(), b.powerCapW()));
      power += plan.predictedPowerW();
    }
    return new Result(pools, power, proposal.layout().reason());
  }
}
