package io.dynamollm.sim;

import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.decision.instance.InstanceStep;
import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.decision.pool.PoolReconciler;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Mix;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The policies the simulator compares. Every one runs the same decision classes the live system runs, restricted to
 * the knobs it may turn:
 *
 * <ul>
 *   <li>{@code singlepool}: one pool, TP8 at the maximum clock, static, sized for the peak (the paper's baseline);
 *   <li>{@code multipool}: nine static pools, one per type, each sized for its own peak, TP8 at the maximum clock;
 *   <li>{@code scaleinst}: one pool; the number of TP8 max-clock instances follows the forecast each cluster epoch;
 *   <li>{@code scaleshard}: one pool on all GPUs at the maximum clock; the TP mix is re-planned each pool epoch;
 *   <li>{@code scalefreq}: one pool of TP8 instances sized for the peak; each instance's clock follows its instance
 *       step;
 *   <li>{@code autoscale}: one TP8 pool at the single best fixed clock whose instance count follows the recent load,
 *       start-ups paid, release hysteresis ({@link Autoscale}) — what production autoscalers do;
 *   <li>{@code dynamollm}: the live control plane's cluster, pool and instance steps, as the live node runs them;
 *   <li>{@code oracle}, {@code oracle-paid}: bounds with perfect knowledge ({@link Oracle}): every window planned for
 *       its actual busiest 10 s, re-configured for free, or paying start-ups and re-shards.
 * </ul>
 *
 * The one-knob policies act on a single pool: they change one knob of the SinglePool baseline.
 */
public final class Policies {
  public static final List<String> ALL = List.of("singlepool", "multipool", "scaleinst", "scaleshard", "scalefreq",
      "autoscale", "dynamollm", "oracle", "oracle-paid");

  static boolean known(String name) {
    return ALL.contains(name);
  }

  private Policies() {}

  /** The policy called {@code name}, for a workload with {@code stats}. */
  static SimPolicy create(String name, WorkloadStats stats) {
    return switch (name) {
      case "singlepool" -> new SinglePool(false, false, false, stats);
      case "scaleinst" -> new SinglePool(true, false, false, stats);
      case "scaleshard" -> new SinglePool(false, true, false, stats);
      case "scalefreq" -> new SinglePool(false, false, true, stats);
      case "multipool" -> new MultiPool(stats);
      case "dynamollm" -> new DynamoLlm();
      case "oracle" -> new Oracle(stats, false);
      case "oracle-paid" -> new Oracle(stats, true);
      case "autoscale" -> new Autoscale(stats);
      default -> throw new IllegalArgumentException("unknown policy '" + name + "': expected one of "
          + String.join(", ", ALL));
    };
  }

  /**
   * What one instance of {@code tp} at the maximum clock carries of {@code mix} within the planner's SLO margin (the
   * capacity model the static baselines are sized by, as the live pools plan by it).
   */
  static double capacity(SimSettings s, Mix mix, TensorParallelism tp) {
    return s.planner().capacityRps(mix, tp, FrequencyBounds.H100_DEFAULT);
  }

  // ================================================================== shared machinery

  /**
   * Brings a pool to a plan with the live reconciler ({@link PoolReconciler}): instances whose TP stays keep running;
   * in place, others re-shard on their own GPUs (staggered); what is missing starts (after {@code startupMs}); what is
   * extra drains once the new instances serve. Budget GPUs left over are parked (idle).
   */
  static void applyPlan(Simulation sim, SimPool pool, PoolPlan plan, int budgetGpus, double startupMs,
      PoolReconciler.Reshards reshards) {
    pool.plan = plan;
    for (int pass = 0; pass < 2; pass++) { // instant starts serve at once: a second pass drains what they replace
      var actions = PoolReconciler.reconcile(plan, live(pool), reshards);
      for (PoolPlan.Group g : actions.start()) {
        start(sim, pool, g.tp(), g.clockMhz(), g.capacityRps(), startupMs);
      }
      for (PoolReconciler.Reshard r : actions.reshard()) {
        reshard(sim, r, reshards, null);
      }
      for (String id : actions.drain()) {
        sim.removeInstance(sim.instance(id), true);
      }
      if (actions.start().isEmpty() || startupMs > 0) {
        break;
      }
    }
    setClocks(sim, pool, plan);
    sim.updateParked(pool, budgetGpus);
  }

  /**
   * Instances that keep their TP run at the plan's clock for it (policies without a governor: the plan's clock is the
   * only one there is); a TP with groups at two clocks gives its instances the higher clocks first.
   */
  private static void setClocks(Simulation sim, SimPool pool, PoolPlan plan) {
    for (TensorParallelism tp : TensorParallelism.PAPER_DEGREES) {
      List<Integer> clocks = new ArrayList<>();
      plan.groups().stream().filter(g -> g.tp().equals(tp))
          .sorted((a, b) -> Integer.compare(b.clockMhz(), a.clockMhz()))
          .forEach(g -> {
            for (int k = 0; k < g.instances(); k++) {
              clocks.add(g.clockMhz());
            }
          });
      int k = 0;
      for (SimInstance i : pool.instances) {
        if (i.tp.equals(tp) && i.step == null && (i.state == InstanceState.READY || i.state == InstanceState.STARTING)
            && k < clocks.size()) {
          i.setClock(sim.now(), clocks.get(k++));
        }
      }
    }
  }

  /** The pool's instances as the reconciler sees them. */
  static List<PoolReconciler.Live> live(SimPool pool) {
    List<PoolReconciler.Live> out = new ArrayList<>();
    for (SimInstance i : pool.instances) {
      out.add(new PoolReconciler.Live(i.id, i.tp, i.state, i.capacityRps));
    }
    return out;
  }

  static SimInstance start(Simulation sim, SimPool pool, TensorParallelism tp, int clockMhz, double capacityRps,
      double startupMs) {
    return sim.addInstance(pool, tp, clockMhz, startupMs, capacityRps, true);
  }

  /**
   * Re-shards in place after the reconciler's delay; {@code done} hears the old id, its partners and the new instances
   * (the pool step's {@code resharded}).
   */
  static void reshard(Simulation sim, PoolReconciler.Reshard r, PoolReconciler.Reshards how,
      ReshardListener done) {
    SimInstance old = sim.instance(r.id());
    if (old == null) {
      return;
    }
    double ms = how.cost().millis(old.tp, r.into().get(0).tp());
    sim.at(sim.now() + r.delayMs(), t -> {
      if (old.state == InstanceState.STOPPED || old.state == InstanceState.DRAINING) {
        return;
      }
      List<SimInstance> partners = new ArrayList<>();
      r.partners().forEach(id -> Optional.ofNullable(sim.instance(id)).ifPresent(partners::add));
      List<SimInstance> created = sim.reshard(old, partners, r.into(), ms);
      if (done != null) {
        Map<String, TensorParallelism> ids = new java.util.LinkedHashMap<>();
        created.forEach(c -> ids.put(c.id, c.tp));
        done.resharded(old.id, r.partners(), ids);
      }
    });
  }

  /** Hears an in-place re-shard that happened. */
  interface ReshardListener {
    void resharded(String old, List<String> partners, Map<String, TensorParallelism> created);
  }

  /**
   * Gives every new instance the instance step the live instance manager runs, with {@code governor} and the pool's
   * bounds and native SLO; the instance starts at the step's clock (the highest in the bounds).
   */
  static void governInstances(Simulation sim, FrequencyGovernor governor) {
    SimSettings s = sim.settings();
    sim.instanceSteps(i -> new InstanceStep(s.profile(), governor,
        new InstanceStep.Instance(i.id, i.pool.nativeType, i.tp, s.profile().clockLevelsMhz()), i.pool.bounds,
        i.pool.mix, s.instanceEpochMs(), Long.MAX_VALUE / 4, sim.now()));
    sim.every(s.instanceEpochMs(), s.instanceEpochMs(), now -> {
      for (SimInstance i : sim.readyInstances()) {
        if (i.step != null) {
          i.step.govern(now).ifPresent(c -> i.setClock(now, c.toMhz()));
        }
      }
    });
  }

  /** Every ladder interval, each ready instance's step climbs the emergency ladder on its queue. */
  static void climbLadders(Simulation sim) {
    sim.every(sim.settings().decisions().ladderIntervalMs(), sim.settings().decisions().ladderIntervalMs(), now -> {
      for (SimInstance i : sim.readyInstances()) {
        if (i.step == null || i.engine.waitingCount() == 0) {
          continue;
        }
        List<InstanceStep.Queued> queued = new ArrayList<>();
        for (var j : i.engine.waiting()) {
          queued.add(new InstanceStep.Queued(j.seq(), j.arrivalMs(), j.promptTokens(),
              sim.settings().slos().of(j.payload().routedType).ttftP99Ms()));
        }
        boolean canReroute = sim.rerouteTarget(i.pool.nativeType, i).isPresent();
        var a = i.step.ladder(now, queued, i.busyUntil(now), canReroute);
        if (!a.any()) {
          continue;
        }
        i.engine.reorder(a.order());
        sim.metrics.reordered += a.reordered() ? 1 : 0;
        if (a.raise().isPresent()) {
          sim.metrics.maxClockRaises++;
          i.setClock(now, a.raise().get().toMhz());
        }
        for (long seq : a.reroute()) {
          var job = i.engine.withdraw(seq);
          if (job == null) {
            i.step.notWithdrawn(true);
            continue;
          }
          Optional<SimInstance> to = sim.rerouteTarget(job.payload().routedType, i);
          if (to.isPresent()) {
            sim.rerouteTo(job.payload(), to.get());
          } else {
            i.enqueue(now, job.payload(), false); // nowhere to go after all: back in the queue
          }
        }
        for (long seq : a.reject()) {
          var job = i.engine.withdraw(seq);
          if (job != null) {
            sim.dropped(job.payload());
          } else {
            i.step.notWithdrawn(false);
          }
        }
        i.kick(now);
      }
    });
  }
}
