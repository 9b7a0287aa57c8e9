package io.dynamollm.sim;

import io.dynamollm.decision.DecisionNote;
import io.dynamollm.decision.cluster.ClusterStep;
import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.PoolReconciler;
import io.dynamollm.decision.pool.PoolStep;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolRoutes;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * DynamoLLM as the live control plane runs it: the simulator drives the very steps the live actors drive — the
 * {@link ClusterStep} (cluster manager), a {@link PoolStep} per pool (pool managers), an
 * {@link io.dynamollm.decision.instance.InstanceStep} per instance (instance managers: governor and emergency ladder)
 * — and turns their effects into events instead of messages. What differs from the live cluster is only what the
 * environment is: the engines' start-up and re-shard cost ({@link SimSettings}), placement (any free GPU of the
 * cluster fits: servers are not modelled one by one, so no host is ever too fragmented for a wide instance), and
 * the first layout, which the simulator forms at time 0 with instances already serving (a recorded trace starts on a
 * running cluster), where the live cluster starts its engines cold.
 */
final class DynamoLlm implements SimPolicy {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(DynamoLlm.class);

  private ClusterStep cluster;
  private PoolPlanner planner;
  private PoolReconciler.Reshards reshards;
  /** How long a pool keeps a warm spare (the configured policy on this run's start-up cost and profile). */
  private long spareKeepMs;
  private final Map<String, PoolStep> steps = new HashMap<>();
  private boolean initial;

  @Override
  public String name() {
    return "dynamollm";
  }

  @Override
  public boolean usesPrediction() {
    return true;
  }

  @Override
  public void start(Simulation sim, Workload workload) {
    SimSettings s = sim.settings();
    cluster = new ClusterStep(s.profile(), s.decisions(), s.transitions(), 0);
    planner = new PoolPlanner(s.profile(), s.decisions().planner(), s.transitions());
    reshards = new PoolReconciler.Reshards(s.reshardCost().inPlace(), s.reshardCost(),
        s.decisions().planner().maxOfflineShare());
    spareKeepMs = s.decisions().spares().keepMs(planner.transitions(), s.profile().idlePowerW());
    Policies.governInstances(sim, new FrequencyGovernor(s.profile(), s.decisions().governor()));
    Policies.climbLadders(sim);
    initial = true;
    clusterEpoch(sim, 0);
    initial = false;
    sim.every(s.poolEpochMs(), s.poolEpochMs(), now -> {
      if (cluster.due(now)) {
        clusterEpoch(sim, now);
      }
      poolEpoch(sim, now);
    });
    sim.every(s.decisions().poolKeepAliveMs(), s.decisions().poolKeepAliveMs(), now -> {
      cluster.handover(now).ifPresent(e -> budgets(sim, e, now));
      for (var e : List.copyOf(steps.entrySet())) {
        SimPool pool = sim.pools.get(e.getKey());
        // the instances' latest readings, as live instances report every second (their power and energy go up)
        for (SimInstance i : List.copyOf(pool.instances)) {
          exec(sim, pool, e.getValue(), e.getValue().reported(i.telemetry(now), now));
        }
        exec(sim, pool, e.getValue(), e.getValue().keepAlive(now));
      }
    });
  }

  @Override
  public void observeArrival(double nowMs, SimRequest r) {
    cluster.observe(nowMs, r.routedType, 1, r.prompt);
  }

  @Override
  public void observeCompletion(double nowMs, SimRequest r) {
    cluster.completed(nowMs, r.routedType, r.prompt, r.output);
  }

  /** The cluster manager's epoch: budgets to the pools, zero to those the layout drops. */
  private void clusterEpoch(Simulation sim, double now) {
    SimSettings s = sim.settings();
    budgets(sim, cluster.epoch(now, s.slos(), s.servers() * 8, FrequencyBounds.H100_DEFAULT, s.powerBudgetW()), now);
  }

  private void budgets(Simulation sim, ClusterStep.Epoch e, double now) {
    note(now, e.decision());
    for (PoolBudget b : e.retire()) {
      PoolStep step = steps.get(b.pool());
      SimPool pool = sim.pools.get(b.pool());
      if (step != null && pool != null) {
        pool.types.clear();
        exec(sim, pool, step, step.assign(b, now));
      }
    }
    for (PoolBudget b : e.assign()) {
      assign(sim, b, now);
    }
  }

  private void assign(Simulation sim, PoolBudget b, double now) {
    SimPool pool = sim.pool(b.pool(), b.nativeType(), sim.settings().slos().of(b.nativeType()), b.types());
    pool.bounds = b.frequencyBounds();
    if (!b.types().isEmpty()) {
      pool.mix = b.mix();
    }
    PoolStep step = steps.computeIfAbsent(b.pool(), name -> listen(sim, pool, new PoolStep(name, sim.settings()
        .decisions(), reshards, spareKeepMs, false, now)));
    exec(sim, pool, step, step.assign(b, now));
  }

  /** The pool's instances and requests tell its step what the live instances and routers tell a pool manager. */
  private PoolStep listen(Simulation sim, SimPool pool, PoolStep step) {
    pool.onStateChange = i -> exec(sim, pool, step, step.reported(i.telemetry(sim.now()), sim.now()));
    pool.onRouted = r -> step.outcomes(0, 0, Map.of(r.routedType, 1));
    pool.onCompleted = (r, met) -> step.outcomes(1, met ? 0 : 1, Map.of());
    return step;
  }

  /** The pool epoch: forecasts to the pools, each pool plans. */
  private void poolEpoch(Simulation sim, double now) {
    Map<String, ClusterStep.PoolForecast> forecasts = cluster.poolForecasts(now);
    for (var e : List.copyOf(steps.entrySet())) {
      PoolStep step = e.getValue();
      if (step.budget().map(b -> b.gpus() > 0).orElse(false)) {
        Optional.ofNullable(forecasts.get(e.getKey())).ifPresent(f -> step.forecast(f.loadRps(), f.typeRps()));
        exec(sim, sim.pools.get(e.getKey()), step, step.epoch(now));
      }
    }
  }

  /** A pool step's effects as events: what the live pool manager sends as messages. */
  private void exec(Simulation sim, SimPool pool, PoolStep step, PoolStep.Effects fx) {
    double now = sim.now();
    fx.decisions().forEach(n -> note(now, n));
    fx.routes().ifPresent(r -> capacities(sim, r));
    spares(pool, step.spares());
    if (fx.retarget()) {
      step.budget().ifPresent(b -> {
        pool.bounds = b.frequencyBounds();
        step.mixSpec().ifPresent(m -> pool.mix = m);
        for (SimInstance i : pool.instances) {
          if (i.step != null && pool.mix != null) {
            i.step.retarget(b.frequencyBounds(), pool.mix, now);
          }
        }
      });
    }
    if (fx.plan().isPresent()) {
      PoolPlanner.Result r = planner.plan(fx.plan().get());
      pool.plan = r.plan();
      exec(sim, pool, step, step.planned(Optional.of(r), "", now));
    }
    for (PoolStep.Start st : fx.start()) {
      // the placement: a start needs GPUs no instance holds (the cluster's servers are all there is)
      int free = sim.settings().servers() * 8 - sim.gpusInInstances();
      if (free < st.tp().degree()) {
        exec(sim, pool, step, step.placed(st, Optional.empty(), "no " + st.tp().degree() + " GPUs free in the cluster"
            + " (" + free + " free)", now));
        continue;
      }
      SimInstance i = Policies.start(sim, pool, st.tp(), st.clockMhz(), st.capacityRps(),
          initial ? 0 : sim.settings().startupMs());
      exec(sim, pool, step, step.placed(st, Optional.of(i.id), "", now));
      exec(sim, pool, step, step.reported(i.telemetry(now), now)); // it may already serve (an instant start)
    }
    for (PoolReconciler.Reshard r : fx.reshard()) {
      Policies.reshard(sim, r, reshards, step::resharded);
    }
    for (String id : fx.drain()) {
      SimInstance i = sim.instance(id);
      if (i != null) {
        sim.removeInstance(i, true);
      }
    }
    fx.up().flatMap(t -> cluster.poolReport(now, t)).ifPresent(topUp -> {
      note(now, topUp.decision());
      exec(sim, pool, step, step.assign(topUp.budget(), now));
    });
    if (fx.up().isPresent()) {
      // the power governor: a lower clock ceiling or a power cap for one pool, as the live cluster manager sends
      cluster.powerCheck(now).ifPresent(g -> {
        note(now, g.decision());
        PoolStep other = steps.get(g.budget().pool());
        SimPool target = sim.pools.get(g.budget().pool());
        if (other != null && target != null) {
          exec(sim, target, other, other.assign(g.budget(), now));
        }
      });
    }
    step.budget().ifPresent(b -> sim.updateParked(pool, b.gpus()));
  }

  /** Routers weigh instances by the capacities the pool publishes. */
  private static void capacities(Simulation sim, PoolRoutes routes) {
    for (PoolRoutes.Ready r : routes.ready()) {
      SimInstance i = sim.instance(r.instanceId());
      if (i != null) {
        i.capacityRps = r.capacityRps();
      }
    }
  }

  /** The pool's warm spares get no requests (the live pool leaves them out of its routes). */
  private static void spares(SimPool pool, java.util.Set<String> spares) {
    boolean changed = false;
    for (SimInstance i : pool.instances) {
      boolean spare = spares.contains(i.id);
      changed |= spare != i.spare;
      i.spare = spare;
    }
    if (changed) {
      pool.refreshReady();
    }
  }

  private static void note(double now, DecisionNote n) {
    if (log.isDebugEnabled()) {
      log.debug(String.format(Locale.ROOT, "t=%.0fs %s %s: %s | %s (%.0f W)", now / 1000, n.level(), n.target(),
          n.action(), n.reason(), n.predictedSavingW()));
    }
  }
}
