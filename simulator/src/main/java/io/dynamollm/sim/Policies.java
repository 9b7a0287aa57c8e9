package io.dynamollm.sim;

import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
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
 *   <li>{@code scalefreq}: one pool of TP8 instances sized for the peak; each instance's clock follows the governor;
 *   <li>{@code dynamollm}: pools per predicted type with merging, GPUs per pool each cluster epoch (forecaster,
 *       budgeter), TP × count × clock per pool each pool epoch (planner), clock per instance each instance epoch
 *       (governor), the emergency ladder;
 *   <li>{@code oracle}: a lower bound — every window (1 min) each true type's pool jumps, at no cost, to the least-power
 *       plan for the requests that window will actually bring.
 * </ul>
 *
 * The one-knob policies act on a single pool: they change one knob of the SinglePool baseline.
 */
final class Policies {
  static final List<String> ALL = List.of("singlepool", "multipool", "scaleinst", "scaleshard", "scalefreq", "dynamollm",
      "oracle");
  /** Policies run only when named: {@code dynamollm-live} is DynamoLLM as the live cluster manager runs it. */
  static final List<String> EXTRA = List.of("dynamollm-live");

  static boolean known(String name) {
    return ALL.contains(name) || EXTRA.contains(name);
  }

  private Policies() {}

  static SimPolicy create(String name, WorkloadStats stats) {
    return switch (name) {
      case "singlepool" -> new SinglePool(false, false, false);
      case "scaleinst" -> new SinglePool(true, false, false);
      case "scaleshard" -> new SinglePool(false, true, false);
      case "scalefreq" -> new SinglePool(false, false, true);
      case "multipool" -> new MultiPool(stats);
      case "dynamollm" -> new DynamoLlm(stats, false);
      case "dynamollm-live" -> new DynamoLlm(stats, true);
      case "oracle" -> new Oracle(stats);
      default -> throw new IllegalArgumentException("unknown policy '" + name + "': expected one of "
          + String.join(", ", ALL) + ", " + String.join(", ", EXTRA));
    };
  }

  static Slo margin(Slo slo, double m) {
    return new Slo(slo.ttftP99Ms() * m, slo.tbtP99Ms() * m);
  }

  /**
   * Native-equivalent work of one request of {@code t} in a pool sized for {@code host}: the ratio of their TP8
   * max-clock capacities, times the settings' mix penalty for types other than the native one.
   */
  static double[] workRatios(SimSettings s, RequestType host) {
    Profile p = s.profile();
    SloTable slos = s.slos();
    double[] r = new double[9];
    double capHost = p.capacityRps(host, TensorParallelism.TP8, p.maxClockMhz(), slos.of(host));
    for (RequestType t : RequestType.values()) {
      double capT = p.capacityRps(t, TensorParallelism.TP8, p.maxClockMhz(), slos.of(t));
      double ratio = capT > 0 && capHost > 0 ? capHost / capT : 1;
      r[t.ordinal()] = t == host ? ratio : ratio * s.mixPenalty();
    }
    return r;
  }


  // ================================================================== shared machinery

  /**
   * Brings a pool to a plan. Instances whose TP stays keep running (their clock and routing weight follow the plan);
   * instances of a TP no longer wanted are re-sharded into wanted ones on their own GPUs, in waves that take no more
   * than {@code maxLossShare} of the pool's capacity offline at once; what is still missing starts new (after
   * {@code startupMs}); what is still extra drains. GPUs of the budget left over are parked (idle).
   */
  static void applyPlan(Simulation sim, SimPool pool, PoolPlan plan, int budgetGpus, double startupMs, boolean instant,
      boolean addOnly, double maxLossShare) {
    applyPlan(sim, pool, plan, budgetGpus, startupMs, instant, addOnly, maxLossShare, new int[] {pool.parkedGpus}, new int[] {Integer.MAX_VALUE});
  }

  /**
   * As above, with {@code warmGpus[0]} GPUs that may start warm (weights already on them: parked in this pool or
   * handed over by a pool that shrinks — every pool serves the same model) and at most {@code coldGpus[0]} GPUs
   * started cold; both counters are decremented by what this call uses, so one allowance can be shared by pools.
   */
  static void applyPlan(Simulation sim, SimPool pool, PoolPlan plan, int budgetGpus, double startupMs, boolean instant,
      boolean addOnly, double maxLossShare, int[] warmGpus, int[] coldGpus) {
    double now = sim.now();
    Map<TensorParallelism, List<PoolPlan.Group>> wanted = new java.util.TreeMap<>();
    for (PoolPlan.Group g : plan.groups()) {
      wanted.computeIfAbsent(g.tp(), k -> new ArrayList<>()).add(g);
    }
    // current serving instances by TP
    Map<TensorParallelism, List<SimInstance>> have = new java.util.TreeMap<>();
    for (SimInstance i : pool.instances) {
      if (i.state == SimInstance.State.READY || i.state == SimInstance.State.STARTING
          || i.state == SimInstance.State.RESHARDING) {
        have.computeIfAbsent(i.tp, k -> new ArrayList<>()).add(i);
      }
    }
    List<SimInstance> surplus = new ArrayList<>();
    List<PoolPlan.Group> deficit = new ArrayList<>(); // one entry per missing instance
    for (TensorParallelism tp : TensorParallelism.PAPER_DEGREES) {
      List<SimInstance> h = have.getOrDefault(tp, List.of());
      List<PoolPlan.Group> w = wanted.getOrDefault(tp, List.of());
      int idx = 0;
      for (PoolPlan.Group g : w) {
        for (int k = 0; k < g.instances(); k++) {
          if (idx < h.size()) {
            SimInstance inst = h.get(idx++);
            inst.capacityRps = g.capacityRps();
            if (!addOnly) {
              inst.setClock(now, g.clockMhz());
            }
          } else {
            deficit.add(g);
          }
        }
      }
      for (; idx < h.size(); idx++) {
        surplus.add(h.get(idx));
      }
    }
    if (addOnly) {
      // start cold, ahead of the epoch, what the coming epoch needs beyond what exists (up to coldLimit GPUs)
      int freeGpus = surplus.stream().mapToInt(i -> i.tp.degree()).sum();
      int cold = coldGpus[0];
      int coldBefore = cold;
      for (PoolPlan.Group g : deficit) {
        if (freeGpus >= g.tp().degree()) {
          freeGpus -= g.tp().degree();
          continue; // an existing instance will be re-sharded into it
        }
        if (cold < g.tp().degree()) {
          continue; // GPUs handed over by shrinking pools will start it warm at the epoch's start
        }
        cold -= g.tp().degree();
        SimInstance n = sim.addInstance(pool, g.tp(), g.clockMhz(), instant ? 0 : startupMs, true);
        n.capacityRps = g.capacityRps();
      }
      // the new budget takes effect at the epoch's start: until then the pool parks nothing beyond its old budget
      coldGpus[0] = cold;
      updateParked(sim, pool, pool.budgetGpus + (coldBefore - cold));
      return;
    }
    // re-shard surplus instances into deficit instances, GPU for GPU, staggered
    double poolCapacity = Math.max(1e-9, pool.instances.stream()
        .filter(i -> i.state == SimInstance.State.READY).mapToDouble(i -> i.capacityRps).sum());
    double offline = 0;
    double wave = 0;
    List<SimInstance> remainingSurplus = new ArrayList<>(surplus);
    List<PoolPlan.Group> remainingDeficit = new ArrayList<>(deficit);
    while (!remainingSurplus.isEmpty() && !remainingDeficit.isEmpty()) {
      SimInstance old = remainingSurplus.remove(0);
      int gpus = old.tp.degree();
      List<TensorParallelism> into = new ArrayList<>();
      List<PoolPlan.Group> groups = new ArrayList<>();
      var it = remainingDeficit.iterator();
      while (it.hasNext()) {
        PoolPlan.Group g = it.next();
        if (g.tp().degree() <= gpus) {
          into.add(g.tp());
          groups.add(g);
          gpus -= g.tp().degree();
          it.remove();
        }
      }
      if (into.isEmpty()) {
        // the deficit wants larger instances than this one: merge with other surplus instances of the same TP
        PoolPlan.Group g = remainingDeficit.get(0);
        int need = g.tp().degree() - old.tp.degree();
        List<SimInstance> partners = new ArrayList<>();
        for (SimInstance o : remainingSurplus) {
          if (need <= 0) {
            break;
          }
          partners.add(o);
          need -= o.tp.degree();
        }
        if (need > 0) {
          remainingSurplus.add(0, old);
          break;
        }
        remainingSurplus.removeAll(partners);
        remainingDeficit.remove(0);
        double ms = instant ? 0 : sim.settings().reshardCost().millis(old.tp, g.tp());
        double when = now + wave;
        SimInstance first = old;
        for (SimInstance pnr : partners) {
          sim.removeInstance(pnr, false);
        }
        scheduleReshard(sim, first, List.of(g.tp()), List.of(g), ms, when);
        offline += old.capacityRps;
      } else {
        double ms = instant ? 0 : sim.settings().reshardCost().millis(old.tp, into.get(0));
        scheduleReshard(sim, old, into, groups, ms, now + wave);
        offline += old.capacityRps;
      }
      if (offline > maxLossShare * poolCapacity) {
        wave += Math.max(1, instant ? 0 : sim.settings().reshardCost().millis(TensorParallelism.TP4, TensorParallelism.TP2)) + 1;
        offline = 0;
      }
    }
    // new instances start warm on parked budget GPUs (the weights are still there: as fast as a re-shard), cold
    // otherwise (weights load: start-up time)
    for (PoolPlan.Group g : remainingDeficit) {
      double startMs = startupMs;
      if (warmGpus[0] >= g.tp().degree()) {
        warmGpus[0] -= g.tp().degree();
        startMs = sim.settings().reshardCost().millis(TensorParallelism.TP2, g.tp());
      }
      SimInstance n = sim.addInstance(pool, g.tp(), g.clockMhz(), instant ? 0 : startMs, true);
      n.capacityRps = g.capacityRps();
    }
    for (SimInstance extra : remainingSurplus) {
      sim.removeInstance(extra, true);
    }
    pool.plan = plan;
    updateParked(sim, pool, budgetGpus);
  }

  private static void scheduleReshard(Simulation sim, SimInstance old, List<TensorParallelism> into,
      List<PoolPlan.Group> groups, double ms, double when) {
    sim.at(when, t -> {
      if (old.state == SimInstance.State.STOPPED || old.state == SimInstance.State.DRAINING) {
        return;
      }
      List<SimInstance> created = sim.reshard(old, into, groups.get(0).clockMhz(), ms);
      for (int k = 0; k < created.size(); k++) {
        created.get(k).capacityRps = groups.get(k).capacityRps();
        created.get(k).clockMhz = groups.get(k).clockMhz();
      }
      updateParked(sim, old.pool, -1);
    });
  }

  /** Budget GPUs not in an instance are parked (drawing idle power); -1 keeps the last budget. */
  static void updateParked(Simulation sim, SimPool pool, int budgetGpus) {
    if (budgetGpus >= 0) {
      pool.budgetGpus = budgetGpus;
    }
    // a draining instance still holds its GPUs: they are parked only once it has stopped
    int inInstances = pool.gpusInInstances();
    sim.setParked(pool, Math.max(0, pool.budgetGpus - inInstances));
  }

  /** Per-instance clock control shared by scalefreq and dynamollm. */
  static void governInstances(Simulation sim, FrequencyGovernor governor, long epochMs) {
    double now = sim.now();
    double window = epochMs / 1000.0;
    for (SimPool pool : sim.pools.values()) {
      for (SimInstance i : pool.instances) {
        if (i.state != SimInstance.State.READY) {
          i.arrivalsInWindow = 0;
          continue;
        }
        i.trimObservations(now - 30_000);
        Optional<Double> ttft = Optional.empty();
        Optional<Double> tbt = Optional.empty();
        if (i.completions.size() >= 20) {
          double[] a = new double[i.completions.size()];
          double[] b = new double[a.length];
          int k = 0;
          for (double[] c : i.completions) {
            a[k] = c[1];
            b[k++] = c[2];
          }
          ttft = Optional.of(p99(a) * pool.slo.ttftP99Ms());
          tbt = Optional.of(p99(b) * pool.slo.tbtP99Ms());
        }
        double load = i.arrivalsInWindow / window;
        i.arrivalsInWindow = 0;
        FrequencyGovernor.State st = i.governorState instanceof FrequencyGovernor.State s ? s
            : FrequencyGovernor.State.initial(i.clockMhz);
        var d = governor.decide(st, new FrequencyGovernor.Input((long) now, pool.nativeType, i.tp, load, pool.slo,
            pool.bounds, ttft, tbt));
        i.governorState = d.state();
        i.setClock(now, d.state().clockMhz());
      }
    }
  }

  static double p99(double[] v) {
    java.util.Arrays.sort(v);
    return v[Math.max(0, (int) Math.ceil(0.99 * v.length) - 1)];
  }
}
