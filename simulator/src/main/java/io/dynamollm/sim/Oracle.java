package io.dynamollm.sim;

import io.dynamollm.decision.cluster.PoolBudgeter;
import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.PoolReconciler;
import io.dynamollm.decision.pool.ReshardCost;
import java.util.List;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A lower bound on energy: every window (default 1 min) each pool — one per true type, small ones merged upward —
 * jumps at no cost and no delay to the least-power plan for the load the window will actually bring. Routing uses
 * the true type (perfect prediction).
 */
final class Oracle implements SimPolicy {
  private final WorkloadStats stats;
  private final Map<String, PoolPlanner.Result> memo = new HashMap<>();
  /** Re-configuration at no cost: starts and re-shards take no time. */
  private static final PoolReconciler.Reshards FREE = new PoolReconciler.Reshards(true,
      new ReshardCost("free", false, 0, 0, ReshardCost.LLAMA2_70B_BYTES), 1.0);

  Oracle(WorkloadStats stats) {
    this.stats = stats;
  }

  @Override
  public String name() {
    return "oracle";
  }

  @Override
  public void start(Simulation sim, Workload workload) {
    SimSettings s = sim.settings();
    PoolPlanner planner = new PoolPlanner(s.profile(), s.decisions().planner(),
        new PoolPlanner.Transitions(FREE.cost(), 0, s.transitionPowerW()));
    PoolBudgeter budgeter = new PoolBudgeter(s.profile(), s.decisions().budgeter());
    long window = s.oracleWindowMs();
    sim.every(window, 0, now -> {
      int m0 = (int) (now / 60_000);
      int minutes = (int) Math.max(1, window / 60_000);
      Map<RequestType, Double> load = new EnumMap<>(RequestType.class);
      for (RequestType t : RequestType.values()) {
        double sum = 0;
        for (int m = m0; m < m0 + minutes; m++) {
          sum += stats.rate(t, m);
        }
        load.put(t, sum / minutes);
      }
      // two layouts, each with the least-power plan per pool for this window's actual load: pools per type (small
      // ones merged upward), or everything in one pool; the cheaper one wins
      Map<RequestType, RequestType> perType = budgeter.merge(load, s.slos());
      Map<RequestType, RequestType> single = new EnumMap<>(RequestType.class);
      for (RequestType t : RequestType.values()) {
        single.put(t, RequestType.LL);
      }
      Layout a = layout(sim, planner, perType, load);
      Layout b = layout(sim, planner, single, load);
      Layout best = b.power < a.power ? b : a;
      for (SimPool pool : List.copyOf(sim.pools.values())) {
        if (!best.plans.containsKey(pool.nativeType) || !pool.name.equals(pool.nativeType.name())) {
          pool.types.clear();
          Policies.applyPlan(sim, pool, PoolPlan.EMPTY, 0, 0, FREE);
        }
      }
      for (var e : best.served.entrySet()) {
        RequestType h = e.getKey();
        SimPool pool = sim.pool(h.name(), h, s.slos().of(h), e.getValue());
        PoolPlan plan = best.plans.get(h);
        Policies.applyPlan(sim, pool, plan, plan.gpus(), 0, FREE);
      }
    });
  }

  private record Layout(Map<RequestType, Set<RequestType>> served, Map<RequestType, PoolPlan> plans, double power) {}

  private Layout layout(Simulation sim, PoolPlanner planner, Map<RequestType, RequestType> host,
      Map<RequestType, Double> load) {
    SimSettings s = sim.settings();
    Map<RequestType, Set<RequestType>> served = new EnumMap<>(RequestType.class);
    host.forEach((t, h) -> served.computeIfAbsent(h, k -> EnumSet.noneOf(RequestType.class)).add(t));
    Map<RequestType, PoolPlan> plans = new EnumMap<>(RequestType.class);
    double power = 0;
    int budget = s.servers() * 8;
    for (var e : served.entrySet()) {
      RequestType h = e.getKey();
      double[] ratio = Policies.workRatios(s, h);
      double poolLoad = 0;
      for (RequestType t : e.getValue()) {
        poolLoad += load.get(t) * ratio[t.ordinal()];
      }
      double quantized = poolLoad <= 0 ? 0 : Math.exp(Math.ceil(Math.log(poolLoad) / Math.log(1.01)) * Math.log(1.01));
      String key = h + "|" + quantized;
      var r = memo.computeIfAbsent(key, k -> planner.plan(new PoolPlanner.Request(h.name(), h, s.slos().of(h), quantized,
          budget, FrequencyBounds.H100_DEFAULT, TensorParallelism.PAPER_DEGREES, Optional.empty(), 60, false)));
      plans.put(h, r.plan());
      // the plan's power counts the budget's unused GPUs as parked; the oracle holds only the GPUs it uses
      power += r.plan().predictedPowerW() - (budget - r.plan().gpus()) * s.profile().idlePowerW();
    }
    return new Layout(served, plans, power);
  }

}
