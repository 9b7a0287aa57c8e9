package io.dynamollm.sim;

import io.dynamollm.decision.cluster.LoadForecaster;
import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.PoolReconciler;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.Profile;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;

/**
 * The SinglePool baseline — one pool of TP8 instances at the maximum clock serving every type, sized for the peak —
 * and its one-knob variants: ScaleInst (instance count follows the forecast), ScaleShard (TP mix re-planned on the
 * same GPUs), ScaleFreq (each instance's clock follows the governor).
 */
final class SinglePool implements SimPolicy {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(SinglePool.class);

  private static String fmtTime(double ms) {
    return String.format(java.util.Locale.ROOT, "t=%.0fs", ms / 1000);
  }

  private final boolean scaleInst;
  private final boolean scaleShard;
  private final boolean scaleFreq;
  private final WorkloadStats stats;
  private SimPool pool;
  private Mix mix;
  private LoadForecaster forecaster;

  SinglePool(boolean scaleInst, boolean scaleShard, boolean scaleFreq, WorkloadStats stats) {
    this.scaleInst = scaleInst;
    this.scaleShard = scaleShard;
    this.scaleFreq = scaleFreq;
    this.stats = stats;
  }

  @Override
  public String name() {
    return scaleInst ? "scaleinst" : scaleShard ? "scaleshard" : scaleFreq ? "scalefreq" : "singlepool";
  }

  @Override
  public void start(Simulation sim, Workload workload) {
    SimSettings s = sim.settings();
    Profile p = s.profile();
    RequestType nativeType = RequestType.LL;
    Slo slo = s.slos().of(nativeType);
    pool = sim.pool("all", nativeType, slo, EnumSet.allOf(RequestType.class));
    // sized and governed for the workload's own mix of types and lengths (the baseline's operator knows its service)
    mix = stats.mix(EnumSet.allOf(RequestType.class), s.slos());
    pool.mix = stats.mixSpec(EnumSet.allOf(RequestType.class), s.slos());
    int max = p.maxClockMhz();
    double cap = Policies.capacity(s, mix, TensorParallelism.TP8);
    if (scaleFreq) {
      Policies.governInstances(sim, new FrequencyGovernor(p, s.decisions().governor()));
    }
    int n = s.servers();
    for (int i = 0; i < n; i++) {
      sim.addInstance(pool, TensorParallelism.TP8, max, 0, cap, false);
    }
    pool.plan = new PoolPlan(List.of(new PoolPlan.Group(TensorParallelism.TP8, max, n, cap, 0)), 0, 0);
    sim.updateParked(pool, n * 8);
    forecaster = new LoadForecaster(s.decisions().forecaster());
    if (scaleInst) {
      // decide at T - start-up so new instances are ready at T; drain extras at T
      for (double t = s.clusterEpochMs(); t < workload.durationMs(); t += s.clusterEpochMs()) {
        double epochStart = t;
        sim.at(Math.max(0, t - s.startupMs()), now -> scaleInstances(sim, epochStart, cap));
      }
    }
    if (scaleShard) {
      PoolPlanner planner = new PoolPlanner(p, s.decisions().planner(), s.transitions());
      sim.every(s.poolEpochMs(), s.poolEpochMs(), now -> reshardPool(sim, planner, now));
    }
  }

  /** The forecast peak, req/s; with too little history it never falls below what the pool is planned for. */
  private double forecastLoad(double startMs, double lengthMs) {
    double load = 0;
    boolean partial = false;
    for (var e : forecaster.forecast((long) startMs, (long) lengthMs, 0).entrySet()) {
      load += e.getValue().peakRps();
      partial |= e.getValue().partialHistory() && e.getValue().basis() != LoadForecaster.Basis.NO_DATA;
    }
    return partial ? Math.max(load, pool.plan.capacityRps()) : load;
  }

  private void scaleInstances(Simulation sim, double epochStart, double cap) {
    double load = forecastLoad(epochStart, sim.settings().clusterEpochMs());
    int max = sim.settings().servers();
    int want = Math.max(1, Math.min(max, (int) Math.ceil(load / cap - 1e-9)));
    List<SimInstance> live = pool.instances.stream()
        .filter(i -> i.state == InstanceState.READY || i.state == InstanceState.STARTING).toList();
    int have = live.size();
    if (want > have) {
      for (int k = have; k < want; k++) {
        sim.addInstance(pool, TensorParallelism.TP8, sim.profile().maxClockMhz(), sim.settings().startupMs(), cap,
            true);
      }
    } else if (want < have) {
      sim.at(epochStart, now -> {
        List<SimInstance> ready = pool.instances.stream().filter(i -> i.state == InstanceState.READY).toList();
        for (int k = 0; k < ready.size() - want; k++) {
          sim.removeInstance(ready.get(ready.size() - 1 - k), true);
        }
        // GPUs given back to the cluster are not held by the pool
        sim.updateParked(pool, 0);
      });
    }
  }

  private void reshardPool(Simulation sim, PoolPlanner planner, double now) {
    SimSettings s = sim.settings();
    double load = forecastLoad(now, s.poolEpochMs());
    int max = s.profile().maxClockMhz();
    var r = planner.plan(new PoolPlanner.Request(pool.name, mix, load, s.servers() * 8,
        new FrequencyBounds(max, max), TensorParallelism.PAPER_DEGREES, Optional.of(pool.plan), s.poolEpochMs() / 1000.0, true));
    if (r.changed()) {
      log.debug("{} scaleshard at {} req/s: {}", fmtTime(now), String.format(java.util.Locale.ROOT, "%.2f", load),
          r.reason());
      Policies.applyPlan(sim, pool, r.plan(), s.servers() * 8, s.startupMs(), new PoolReconciler.Reshards(
          s.reshardCost().inPlace(), s.reshardCost(), s.decisions().planner().maxOfflineShare()));
    }
  }

  @Override
  public void observeArrival(double nowMs, SimRequest r) {
    forecaster.observe((long) nowMs, r.routedType, 1, r.prompt);
  }
}
