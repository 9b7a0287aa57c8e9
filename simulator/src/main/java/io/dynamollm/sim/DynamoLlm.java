package io.dynamollm.sim;

import io.dynamollm.decision.cluster.ClusterLayout;
import io.dynamollm.decision.cluster.LoadForecaster;
import io.dynamollm.decision.cluster.PoolBudgeter;
import io.dynamollm.decision.instance.EmergencyLadder;
import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.decision.pool.CapacityCorrection;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * DynamoLLM: pools per predicted request type, merged when small (PoolBudgeter, each cluster epoch, instances started
 * ahead of the epoch); per pool the instance count, TP and clock (PoolPlanner, each pool epoch, re-configuration
 * weighed and staggered); per instance the clock (FrequencyGovernor, each instance epoch); the emergency ladder every
 * second.
 *
 * <p>Start: a trace of an hour carries no history to forecast its first epoch from, so the first epoch's pools come
 * from that epoch's per-type peaks (standing in for a forecast from earlier days — SinglePool is likewise sized from
 * the trace's peak); from then on it follows its own forecasts.
 *
 * <p>{@code dynamollm-live} is the same policy as the live cluster manager runs it, for comparing the live control
 * plane with the simulator: no history at the start ({@link ClusterLayout}'s bootstrap — one LL pool on every GPU at
 * the maximum clock until a forecast window of arrivals exists, looked at again every pool epoch), then cluster epochs
 * that take effect when they are decided (no start ahead), the pools' capacity corrections in the budgets, loads
 * without the calibrated mix penalty, and GPUs no pool holds added to a pool whose plan falls short
 * ({@link ClusterLayout#topUp}).
 */
final class DynamoLlm implements SimPolicy {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(DynamoLlm.class);

  private static String fmtTime(double ms) {
    return String.format(java.util.Locale.ROOT, "t=%.0fs", ms / 1000);
  }

  private final WorkloadStats stats;
  private final boolean live;
  private ClusterLayout layouts;
  private boolean bootstrap;
  private boolean seenTraffic;
  private double nextEpochMs;
  private final Map<RequestType, SimPool> routing = new EnumMap<>(RequestType.class);
  private LoadForecaster clusterForecaster;
  private PoolBudgeter budgeter;
  private PoolPlanner planner;
  private FrequencyGovernor governor;
  private final EmergencyLadder ladder = new EmergencyLadder();
  private final Map<String, Integer> budgets = new HashMap<>();

  DynamoLlm(WorkloadStats stats, boolean live) {
    this.stats = stats;
    this.live = live;
  }

  @Override
  public String name() {
    return live ? "dynamollm-live" : "dynamollm";
  }

  @Override
  public boolean usesPrediction() {
    return true;
  }

  @Override
  public void start(Simulation sim, Workload workload) {
    SimSettings s = sim.settings();
    Profile p = s.profile();
    clusterForecaster = new LoadForecaster(LoadForecaster.Settings.DEFAULT);
    budgeter = new PoolBudgeter(p, new PoolBudgeter.Settings(0.5, 0.9, s.startupMs(), 1.15, 1.0));
    planner = new PoolPlanner(p, PoolPlanner.Settings.DEFAULT.withReshardCost(s.reshardCost())
        .withStartupMs(s.startupMs()).withTransitionPowerW(s.transitionPowerW()));
    governor = new FrequencyGovernor(p, FrequencyGovernor.Settings.DEFAULT);
    if (live) {
      layouts = new ClusterLayout(budgeter, p, 0.9);
      applyLayout(sim, layouts.decide(0, Map.of(), s.slos(), s.servers() * 8, FrequencyBounds.H100_DEFAULT, budgets,
          Map.of()), true);
      sim.every(s.poolEpochMs(), s.poolEpochMs(), now -> {
        if (bootstrap || now >= nextEpochMs) {
          liveEpoch(sim, now);
        }
        replanPools(sim, now);
      });
      sim.every(s.instanceEpochMs(), s.instanceEpochMs(), now -> Policies.governInstances(sim, governor, s.instanceEpochMs()));
      sim.every(1000, 1000, now -> climbLadder(sim, now));
      return;
    }

    // first epoch: from that epoch's per-type peaks (see the class comment)
    Map<RequestType, Double> peaks = new EnumMap<>(RequestType.class);
    int firstEpochMinutes = (int) (s.clusterEpochMs() / 60_000);
    for (RequestType t : RequestType.values()) {
      peaks.put(t, stats.peak(t, 1, 0, firstEpochMinutes));
    }
    allocate(sim, 0, peaks, true);

    for (double t = s.clusterEpochMs(); t < workload.durationMs(); t += s.clusterEpochMs()) {
      double epochStart = t;
      sim.at(Math.max(0, t - s.startupMs()), now -> {
        Map<RequestType, Double> forecast = new EnumMap<>(RequestType.class);
        clusterForecaster.forecast((long) epochStart, s.clusterEpochMs()).forEach((k, v) -> forecast.put(k, v.peakRps()));
        allocate(sim, epochStart, forecast, false);
      });
    }
    sim.every(s.poolEpochMs(), s.poolEpochMs(), now -> replanPools(sim, now));
    sim.every(s.instanceEpochMs(), s.instanceEpochMs(), now -> Policies.governInstances(sim, governor, s.instanceEpochMs()));
    sim.every(1000, 1000, now -> climbLadder(sim, now));
  }

  /** Cluster epoch: pools, their types and GPU budgets; start new GPUs now, switch at the epoch's start. */
  private void allocate(Simulation sim, double epochStart, Map<RequestType, Double> forecast, boolean initial) {
    SimSettings s = sim.settings();
    var alloc = budgeter.allocate((long) epochStart, forecast, s.slos(), s.servers() * 8, FrequencyBounds.H100_DEFAULT,
        budgets);
    log.debug("{} cluster epoch at {}: {}; pools {}", fmtTime(sim.now()), fmtTime(epochStart), alloc.reason(),
        alloc.pools().stream().map(pb -> pb.name() + pb.types() + "=" + pb.gpus() + " GPUs for "
            + String.format(java.util.Locale.ROOT, "%.1f", pb.loadRps()) + " req/s").toList());
    List<Runnable> atStart = new ArrayList<>();
    Map<String, SimPool> keep = new HashMap<>();
    // GPUs change hands between pools without reloading weights (every pool serves the same model): only a net
    // growth of the cluster's GPUs starts cold, ahead of the epoch; the rest starts warm at the epoch's start
    int held = 0;
    for (SimPool p : sim.pools.values()) {
      held += p.budgetGpus;
    }
    int[] cold = {Math.max(0, alloc.gpusUsed() - held)};
    int[] warm = {0};
    for (var pb : alloc.pools()) {
      SimPool existing = sim.pools.get(pb.name());
      int before = existing == null ? 0 : existing.budgetGpus;
      warm[0] += Math.max(0, before - pb.gpus());
    }
    for (SimPool p : sim.pools.values()) {
      if (alloc.pools().stream().noneMatch(pb -> pb.name().equals(p.name))) {
        warm[0] += p.budgetGpus;
      }
    }
    for (var pb : alloc.pools()) {
      SimPool pool = sim.pool(pb.name(), pb.nativeType(), pb.slo(), pb.types());
      pool.workRatio = Policies.workRatios(s, pb.nativeType());
      keep.put(pb.name(), pool);
      var r = planner.plan(new PoolPlanner.Request(pool.name, pb.nativeType(), pb.slo(), pb.loadRps(), pb.gpus(),
          FrequencyBounds.H100_DEFAULT, TensorParallelism.PAPER_DEGREES, Optional.empty(), s.clusterEpochMs() / 1000.0, false));
      budgets.put(pb.name(), pb.gpus());
      if (initial) {
        Policies.applyPlan(sim, pool, r.plan(), pb.gpus(), 0, true, false, 1.0);
      } else {
        Policies.applyPlan(sim, pool, r.plan(), Math.max(pb.gpus(), pool.budgetGpus), s.startupMs(), false, true, 0.25,
            new int[] {0}, cold);
        atStart.add(() -> {
          int[] mine = {warm[0] + pool.parkedGpus};
          int start = mine[0];
          Policies.applyPlan(sim, pool, r.plan(), pb.gpus(), s.startupMs(), false, false, 0.25, mine, new int[] {Integer.MAX_VALUE});
          warm[0] = Math.max(0, warm[0] - (start - mine[0]));
        });
      }
    }
    Runnable switchRouting = () -> {
      routing.clear();
      for (var e : alloc.routing().entrySet()) {
        routing.put(e.getKey(), keep.get(e.getValue()));
      }
      for (SimPool pool : sim.pools.values()) {
        if (!keep.containsKey(pool.name)) {
          retire(sim, pool);
        }
      }
      atStart.forEach(Runnable::run);
    };
    if (initial) {
      switchRouting.run();
    } else {
      sim.at(epochStart, now -> switchRouting.run());
    }
  }

  /** The live cluster manager's epoch: {@link ClusterLayout} on the forecasts and the pools' corrections. */
  private void liveEpoch(Simulation sim, double now) {
    SimSettings s = sim.settings();
    Map<RequestType, LoadForecaster.Forecast> forecast = seenTraffic
        ? clusterForecaster.forecast((long) now, s.clusterEpochMs()) : Map.of();
    Map<RequestType, Double> corrections = new EnumMap<>(RequestType.class);
    for (SimPool pool : sim.pools.values()) {
      if (pool.budgetGpus > 0 && pool.capacityCorrection.factor() > 1) {
        pool.types.forEach(t -> corrections.merge(t, pool.capacityCorrection.factor(), Math::max));
      }
    }
    ClusterLayout.Layout layout = layouts.decide((long) now, forecast, s.slos(), s.servers() * 8,
        FrequencyBounds.H100_DEFAULT, budgets, corrections);
    if (layout.bootstrap() && bootstrap) {
      return; // still too little history: the bootstrap pool stays
    }
    log.debug("{} live cluster epoch: {}", fmtTime(now), layout.reason());
    applyLayout(sim, layout, false);
  }

  /** Pools of a layout as the live pool managers form them: planned at once, new instances cold, the rest drained. */
  private void applyLayout(Simulation sim, ClusterLayout.Layout layout, boolean initial) {
    SimSettings s = sim.settings();
    bootstrap = layout.bootstrap();
    nextEpochMs = sim.now() + s.clusterEpochMs();
    Map<String, SimPool> keep = new HashMap<>();
    for (ClusterLayout.Pool pb : layout.pools()) {
      Slo slo = s.slos().of(pb.nativeType());
      SimPool pool = sim.pool(pb.name(), pb.nativeType(), slo, pb.types());
      pool.workRatio = Policies.workRatios(s, pb.nativeType());
      pool.bounds = pb.bounds();
      pool.assignedLoadRps = pb.loadRps();
      keep.put(pb.name(), pool);
      var r = planner.plan(new PoolPlanner.Request(pool.name, pb.nativeType(), slo,
          pool.capacityCorrection.apply(pb.loadRps()), pb.gpus(), pb.bounds(), TensorParallelism.PAPER_DEGREES,
          pool.plan.groups().isEmpty() ? Optional.empty() : Optional.of(pool.plan), s.poolEpochMs() / 1000.0, false));
      budgets.put(pb.name(), pb.gpus());
      Policies.applyPlan(sim, pool, r.plan(), pb.gpus(), initial ? 0 : s.startupMs(), initial, false, 0.25);
    }
    routing.clear();
    layout.routing().forEach((t, name) -> routing.put(t, keep.get(name)));
    for (SimPool pool : sim.pools.values()) {
      if (!keep.containsKey(pool.name) && pool.budgetGpus > 0) {
        pool.budgetGpus = 0;
        retire(sim, pool);
      }
    }
  }

  /** A pool the new layout no longer has: its instances go, its parked GPUs too, its backlog to the pools that serve. */
  private void retire(Simulation sim, SimPool pool) {
    budgets.remove(pool.name);
    for (SimInstance i : List.copyOf(pool.instances)) {
      sim.removeInstance(i, true);
    }
    Policies.updateParked(sim, pool, 0);
    while (!pool.backlog.isEmpty()) {
      SimRequest r = pool.backlog.poll();
      sim.route(poolFor(r.routedType), r);
    }
  }

  /** Pool epoch: re-plan each pool within its budget for the next pool epoch's forecast. */
  private void replanPools(Simulation sim, double now) {
    SimSettings s = sim.settings();
    Map<RequestType, LoadForecaster.Forecast> f = clusterForecaster.forecast((long) now, s.poolEpochMs());
    for (SimPool pool : sim.pools.values()) {
      if (pool.budgetGpus == 0 || !routing.containsValue(pool)) {
        continue;
      }
      double load = 0;
      boolean partial = false;
      for (RequestType t : pool.types) {
        load += f.get(t).peakRps() * pool.workRatio[t.ordinal()];
        partial |= f.get(t).partialHistory();
      }
      if (live) {
        // as the live cluster manager: no forecast while any seen type's history is partial (the pool keeps its
        // budget's load), loads without the mix penalty
        boolean livePartial = !seenTraffic;
        Map<RequestType, Double> peaks = new EnumMap<>(RequestType.class);
        for (var e : f.entrySet()) {
          livePartial |= e.getValue().partialHistory() && e.getValue().basis() != LoadForecaster.Basis.NO_DATA;
          peaks.put(e.getKey(), e.getValue().peakRps());
        }
        load = livePartial ? pool.assignedLoadRps : layouts.nativeLoad(pool.nativeType, pool.types, peaks, s.slos());
      } else if (partial) {
        load = Math.max(load, pool.plan.plannedLoadRps()); // too little history to plan below the provisioned load
      }
      // telemetry refines the profile online (the rule the live pool managers use)
      pool.capacityCorrection = pool.capacityCorrection.next(pool.epochCompleted, pool.epochMissed,
          CapacityCorrection.Settings.DEFAULT);
      pool.epochCompleted = 0;
      pool.epochMissed = 0;
      load = pool.capacityCorrection.apply(load);
      double remaining = live ? s.poolEpochMs() : s.clusterEpochMs() - (now % s.clusterEpochMs());
      var r = planner.plan(new PoolPlanner.Request(pool.name, pool.nativeType, pool.slo, load, pool.budgetGpus,
          pool.bounds, TensorParallelism.PAPER_DEGREES, Optional.of(pool.plan), remaining / 1000.0, false));
      if (live && PoolTelemetry.isShort(r.plan().capacityRps(), load)) {
        // as the live cluster manager: GPUs no pool holds, for the fewest-GPU layout of the load (ClusterLayout.topUp)
        int held = 0;
        for (SimPool other : sim.pools.values()) {
          held += other.budgetGpus;
        }
        int add = layouts.topUp(pool.nativeType, pool.slo, load, pool.budgetGpus, s.servers() * 8 - held, pool.bounds);
        if (add > 0) {
          pool.budgetGpus += add;
          budgets.put(pool.name, pool.budgetGpus);
          r = planner.plan(new PoolPlanner.Request(pool.name, pool.nativeType, pool.slo, load, pool.budgetGpus,
              pool.bounds, TensorParallelism.PAPER_DEGREES, Optional.of(pool.plan), remaining / 1000.0, false));
        }
      }
      if (r.plan().capacityRps() < load && !live) {
        // the budget cannot carry the forecast: take GPUs no pool holds rather than wait for the next cluster epoch
        int held = 0;
        for (SimPool other : sim.pools.values()) {
          held += other.budgetGpus;
        }
        int free = s.servers() * 8 - held;
        if (free > 0) {
          var wider = planner.plan(new PoolPlanner.Request(pool.name, pool.nativeType, pool.slo, load,
              pool.budgetGpus + free, FrequencyBounds.H100_DEFAULT, TensorParallelism.PAPER_DEGREES, Optional.of(pool.plan),
              remaining / 1000.0, false));
          int budget = Math.max(pool.budgetGpus, wider.plan().gpus());
          budgets.put(pool.name, budget);
          pool.budgetGpus = budget;
          r = wider;
        }
      }
      if (r.changed()) {
        log.debug("{} pool {}: load {} budget {}: {}", fmtTime(now), pool.name, String.format(java.util.Locale.ROOT, "%.2f", load), pool.budgetGpus, r.reason());
      }
      if (r.changed()) {
        Policies.applyPlan(sim, pool, r.plan(), pool.budgetGpus, s.startupMs(), false, false, 0.25);
      } else {
        pool.plan = r.plan();
      }
    }
  }

  /** Requests threatening their TTFT: reorder, raise the clock, re-route, drop what is already late. */
  private void climbLadder(Simulation sim, double now) {
    Profile p = sim.profile();
    int max = p.maxClockMhz();
    for (SimPool pool : sim.pools.values()) {
      for (SimInstance i : pool.instances) {
        if (i.state != SimInstance.State.READY || i.waiting.isEmpty()) {
          continue;
        }
        List<EmergencyLadder.Waiting> waiting = new ArrayList<>(i.waiting.size());
        Map<Long, SimRequest> byId = new HashMap<>();
        for (SimRequest r : i.waiting) {
          Slo slo = sim.settings().slos().of(r.routedType);
          int tokens = Math.max(1, Math.min(8192, r.prompt));
          waiting.add(new EmergencyLadder.Waiting(r.id, r.arrivalMs + slo.ttftP99Ms(), p.prefillMs(i.tp, tokens, i.clockMhz),
              p.prefillMs(i.tp, tokens, max)));
          byId.put(r.id, r);
        }
        SimInstance alternative = alternativeFor(sim, i);
        var a = ladder.evaluate(new EmergencyLadder.Snapshot(now, waiting, i.busyUntil(now), i.clockMhz == max,
            alternative != null, 0));
        if (!a.any()) {
          continue;
        }
        i.waiting.clear();
        for (long id : a.order()) {
          i.waiting.add(byId.get(id));
        }
        if (a.reordered()) {
          sim.metrics.reordered++;
        }
        if (a.raiseToMaxClock()) {
          sim.metrics.maxClockRaises++;
          i.setClock(now, max);
          // hold the raised clock against the governor until the observations release it
          i.governorState = new FrequencyGovernor.State(max, (long) now, max);
        }
        for (long id : a.reroute()) {
          sim.metrics.rerouted++;
          SimRequest r = byId.get(id);
          r.reroutes++;
          alternative.enqueue(now, r);
        }
        for (long id : a.reject()) {
          sim.dropped(byId.get(id));
        }
        i.kick(now);
      }
    }
  }

  /** Another ready instance of the same pool or of a pool of a larger type, the least loaded. */
  private static SimInstance alternativeFor(Simulation sim, SimInstance self) {
    SimInstance best = null;
    for (SimPool pool : sim.pools.values()) {
      if (pool != self.pool && !pool.nativeType.covers(self.pool.nativeType)) {
        continue;
      }
      for (SimInstance i : pool.instances) {
        if (i != self && i.acceptsRequests() && i.waiting.isEmpty()
            && (best == null || i.outstanding() < best.outstanding())) {
          best = i;
        }
      }
    }
    return best;
  }

  @Override
  public SimPool poolFor(RequestType type) {
    SimPool p = routing.get(type);
    if (p != null) {
      return p;
    }
    return routing.values().iterator().next();
  }

  @Override
  public void observeArrival(double nowMs, SimRequest r) {
    seenTraffic = true;
    clusterForecaster.observe((long) nowMs, r.routedType, 1);
  }
}
