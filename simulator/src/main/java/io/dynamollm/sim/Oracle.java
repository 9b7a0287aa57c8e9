package io.dynamollm.sim;

import io.dynamollm.decision.cluster.PoolBudgeter;
import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.PoolReconciler;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.MixSpec;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Mix;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Two bounds with perfect knowledge of the workload. Every window (default 1 min) the budgeter lays out pools — the
 * same candidates and capacity model DynamoLLM uses — and the planner plans each for the load the window will
 * actually bring: each type's mean over the window times the window's busiest 10 s over its mean (the bursts within
 * it, not its mean), each pool's mix of the types and lengths the workload really has. Routing uses the true type.
 *
 * <ul>
 *   <li>{@code oracle}: pools jump to each window's plan at no cost and no delay — what no real cluster can do, the
 *       bound on energy. The run checks it meets the SLOs for at least 99 % of the requests and that no policy with as
 *       good an attainment uses less energy (the runner fails loudly otherwise).
 *   <li>{@code oracle-paid}: the same plans, but paid for as the cluster pays: new instances start cold (started a
 *       start-up time ahead of the first window that needs them, which it knows), TP changes cost what the re-shard
 *       preset says, and an instance is kept while any window up to a start-up time ahead needs it (releasing and
 *       restarting would cost more). The bound a real policy can approach.
 * </ul>
 */
final class Oracle implements SimPolicy {
  private final WorkloadStats stats;
  private final boolean paid;
  /** Each window's layout: pool name → its types and plan. */
  private final Map<Integer, Map<String, Planned>> windows = new HashMap<>();
  /** Each block of {@value #BLOCK} windows' pools (their types): the budgeter lays out pools per block. */
  private final Map<Integer, List<Set<RequestType>>> blocks = new HashMap<>();
  /** Windows per layout: plans follow every window's load, the pools' types every block's. */
  private static final int BLOCK = 5;
  /** The share of requests the oracle's plans allow to miss their TTFT SLO. */
  static final double ORACLE_MISS_BUDGET = 0.006;
  private final Map<String, PoolPlanner.Result> plans = new HashMap<>();
  private PoolBudgeter budgeter;
  private PoolPlanner planner;
  private PoolReconciler.Reshards reshards;
  private double windowMs;

  /** Re-configuration at no cost: starts and re-shards take no time. */
  private static final PoolReconciler.Reshards FREE = new PoolReconciler.Reshards(true,
      new ReshardCost("free", false, 0, 0, ReshardCost.LLAMA2_70B_BYTES), 1.0);

  private record Planned(RequestType nativeType, Set<RequestType> types, MixSpec mix, PoolPlan plan) {}

  Oracle(WorkloadStats stats, boolean paid) {
    this.stats = stats;
    this.paid = paid;
  }

  @Override
  public String name() {
    return paid ? "oracle-paid" : "oracle";
  }

  @Override
  public void start(Simulation sim, Workload workload) {
    SimSettings s = sim.settings();
    PoolPlanner.Transitions transitions = paid ? s.transitions()
        : new PoolPlanner.Transitions(FREE.cost(), 0, s.transitionPowerW());
    // a bound must meet the SLOs: its plans sit at capacity every window, where the load model is up to ~40 %
    // optimistic about a mix's TTFT misses (docs/profile.md), so it plans for 0.6 % of them instead of 1 %
    planner = new PoolPlanner(s.profile(), s.decisions().planner().withMissBudget(
        Math.min(ORACLE_MISS_BUDGET, s.decisions().planner().missBudget())), transitions);
    budgeter = new PoolBudgeter(planner, new PoolBudgeter.Settings(s.decisions().budgeter().fillShare(), 1, 0,
        s.decisions().budgeter().bootstrapShare()));
    reshards = paid ? new PoolReconciler.Reshards(s.reshardCost().inPlace(), s.reshardCost(),
        s.decisions().planner().maxOfflineShare()) : FREE;
    windowMs = s.oracleWindowMs();
    int ahead = paid ? (int) Math.ceil(s.startupMs() / windowMs) : 0;
    sim.every(windowMs, 0, now -> apply(sim, (int) Math.round(now / windowMs), ahead, now == 0));
  }

  /** Window {@code w}'s pools, and those later windows up to {@code ahead} need already. */
  private void apply(Simulation sim, int w, int ahead, boolean first) {
    windows.keySet().removeIf(k -> k < w); // windows behind are never asked again
    blocks.keySet().removeIf(k -> k < Math.floorDiv(w, BLOCK) - 1);
    Map<String, Planned> target = new LinkedHashMap<>(layout(sim, w));
    Map<String, PoolPlan> keep = new LinkedHashMap<>();
    target.forEach((name, p) -> keep.put(name, p.plan()));
    int cluster = sim.settings().servers() * 8;
    // the windows ahead, nearest first, as long as their needs fit beside what is kept already
    for (int k = 1; k <= ahead; k++) {
      Map<String, PoolPlan> more = new LinkedHashMap<>(keep);
      Map<String, Planned> later = layout(sim, w + k);
      later.forEach((name, p) -> more.merge(name, p.plan(), Oracle::union));
      if (more.values().stream().mapToInt(PoolPlan::gpus).sum() > cluster) {
        break;
      }
      keep.clear();
      keep.putAll(more);
      later.forEach((name, p) -> target.putIfAbsent(name, new Planned(p.nativeType(), Set.of(), p.mix(), p.plan())));
    }
    for (SimPool pool : List.copyOf(sim.pools.values())) {
      if (!keep.containsKey(pool.name)) {
        pool.types.clear();
        Policies.applyPlan(sim, pool, PoolPlan.EMPTY, 0, 0, reshards);
      }
    }
    double startup = paid && !first ? sim.settings().startupMs() : 0;
    for (var e : keep.entrySet()) {
      Planned p = target.get(e.getKey());
      SimPool pool = sim.pool(e.getKey(), p.nativeType(), sim.settings().slos().of(p.nativeType()), p.types());
      pool.mix = p.mix();
      Policies.applyPlan(sim, pool, e.getValue(), e.getValue().gpus(), startup, reshards);
    }
  }

  /** The layout and plans of window {@code w}, from its true loads. */
  private Map<String, Planned> layout(Simulation sim, int w) {
    Map<String, Planned> l = windows.get(w);
    if (l == null) {
      l = plan(sim, w);
      windows.put(w, l);
    }
    return l;
  }

  private Map<String, Planned> plan(Simulation sim, int w) {
    SimSettings s = sim.settings();
    Map<RequestType, Double> load = windowLoads(w);
    Map<RequestType, Double> weights = new EnumMap<>(RequestType.class);
    int m0 = (int) (w * windowMs / 60_000);
    int minutes = (int) Math.max(1, Math.round(windowMs / 60_000));
    for (RequestType t : RequestType.values()) {
      double near = 0;
      for (int m = m0 - 7; m < m0 + minutes + 7; m++) {
        near += stats.rate(t, m); // the mix of the quarter hour around: the window's own is too noisy to plan by
      }
      weights.put(t, near);
    }
    Map<String, Planned> out = new LinkedHashMap<>();
    if (load.values().stream().allMatch(v -> v <= 0)) {
      return out;
    }
    int block = Math.floorDiv(w, BLOCK);
    List<Set<RequestType>> pools = blocks.get(block);
    if (pools == null) {
      pools = partition(sim, block);
      blocks.put(block, pools);
    }
    for (Set<RequestType> types : pools) {
      Map<RequestType, Double> wts = new EnumMap<>(RequestType.class);
      Map<RequestType, Slo> slos = new EnumMap<>(RequestType.class);
      double poolLoad = 0;
      for (RequestType t : types) {
        wts.put(t, Math.round(weights.get(t) * 50) / 50.0);
        slos.put(t, s.slos().of(t));
        poolLoad += load.get(t);
      }
      if (poolLoad <= 0) {
        continue;
      }
      MixSpec spec = new MixSpec(wts, stats.shapes(), slos);
      Mix mix = spec.toMix();
      double quantized = Math.exp(Math.ceil(Math.log(poolLoad) / Math.log(1.01)) * Math.log(1.01));
      String name = largest(types).name();
      PoolPlanner.Result r = plans.computeIfAbsent(mix.hashCode() + "|" + mix + "|" + quantized, k -> {
        int gpus = Math.max(2, planner.size(mix, quantized, FrequencyBounds.H100_DEFAULT).gpus());
        return planner.plan(new PoolPlanner.Request(name, mix, quantized, gpus, FrequencyBounds.H100_DEFAULT,
            TensorParallelism.PAPER_DEGREES, Optional.empty(), windowMs / 1000, false));
      });
      out.put(name, new Planned(largest(types), types, spec, r.plan()));
    }
    return out;
  }

  /**
   * Each type's load in window {@code w}: its mean over the window times the window's busiest 10 s over its mean
   * (bursts come for all types at once).
   */
  private Map<RequestType, Double> windowLoads(int w) {
    double from = w * windowMs;
    double to = from + windowMs;
    Map<RequestType, Double> load = new EnumMap<>(RequestType.class);
    int m0 = (int) (from / 60_000);
    int minutes = (int) Math.max(1, Math.round(windowMs / 60_000));
    double mean = 0;
    for (RequestType t : RequestType.values()) {
      double sum = 0;
      for (int m = m0; m < m0 + minutes; m++) {
        sum += stats.rate(t, m);
      }
      load.put(t, sum / minutes);
      mean += sum / minutes;
    }
    double burst = mean > 0 ? Math.max(1, stats.shortPeak(EnumSet.allOf(RequestType.class), from, to) / mean) : 1;
    load.replaceAll((t, v) -> v * burst);
    return load;
  }

  /**
   * The pools of block {@code b}: the budgeter's layout for the block's per-type loads (each type's busiest window of
   * the block), the previous block's layout as the one in force.
   */
  private List<Set<RequestType>> partition(Simulation sim, int b) {
    SimSettings s = sim.settings();
    Map<RequestType, Double> load = new EnumMap<>(RequestType.class);
    for (int w = b * BLOCK; w < (b + 1) * BLOCK; w++) {
      for (var e : windowLoads(w).entrySet()) {
        load.merge(e.getKey(), e.getValue(), Math::max);
      }
    }
    if (load.values().stream().allMatch(v -> v <= 0)) {
      return List.of(EnumSet.allOf(RequestType.class));
    }
    var alloc = budgeter.allocate(new PoolBudgeter.Question(load, stats.shapes(), s.slos(), s.servers() * 8,
        FrequencyBounds.H100_DEFAULT, blocks.getOrDefault(b - 1, List.of())));
    List<Set<RequestType>> pools = new ArrayList<>();
    alloc.pools().forEach(p -> pools.add(p.types()));
    return pools;
  }

  private static RequestType largest(Set<RequestType> types) {
    RequestType best = null;
    for (RequestType t : types) {
      int size = t.input().ordinal() + t.output().ordinal();
      if (best == null || size > best.input().ordinal() + best.output().ordinal()
          || (size == best.input().ordinal() + best.output().ordinal() && t.compareTo(best) > 0)) {
        best = t;
      }
    }
    return best;
  }

  /** Per TP, the larger instance count of the two plans (each group at the first plan's clock where it has one). */
  private static PoolPlan union(PoolPlan a, PoolPlan b) {
    Map<TensorParallelism, PoolPlan.Group> byTp = new LinkedHashMap<>();
    for (PoolPlan.Group g : a.groups()) {
      byTp.merge(g.tp(), g, (x, y) -> x.instances() >= y.instances() ? x : y);
    }
    for (PoolPlan.Group g : b.groups()) {
      PoolPlan.Group have = byTp.get(g.tp());
      if (have == null) {
        byTp.put(g.tp(), g);
      } else if (g.instances() > have.instances()) {
        byTp.put(g.tp(), new PoolPlan.Group(g.tp(), have.clockMhz(), g.instances(), have.capacityRps(),
            have.loadPerInstanceRps()));
      }
    }
    List<PoolPlan.Group> groups = new ArrayList<>(byTp.values());
    groups.sort((x, y) -> Integer.compare(y.tp().degree(), x.tp().degree()));
    return new PoolPlan(groups, a.predictedPowerW(), a.plannedLoadRps());
  }
}
