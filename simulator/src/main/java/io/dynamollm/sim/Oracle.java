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
 * same candidates and capacity model DynamoLLM uses, every {@value #BLOCK} windows — and the planner plans each pool
 * for the load the window will actually bring: the busiest 10 s of its types together (the bursts within the window,
 * not its mean), of the mix of types and lengths the workload really has then. Routing uses the true type.
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
  private final Map<Integer, List<PoolBudgeter.PoolBudget>> blocks = new HashMap<>();
  /** Windows per layout: plans follow every window's load, the pools' types every block's. */
  private static final int BLOCK = 5;
  /** A window's plan covers the load this long before and after it. */
  private static final double EDGE_MS = 30_000;
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
        s.decisions().budgeter().bootstrapShare(), s.decisions().budgeter().handoverSlack()));
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
    double from = w * windowMs;
    double to = from + windowMs;
    // the block's mix: the one its pools were laid out and sized for
    Map<RequestType, Double> weights = blockWeights(Math.floorDiv(w, BLOCK));
    Map<String, Planned> out = new LinkedHashMap<>();
    int block = Math.floorDiv(w, BLOCK);
    List<PoolBudgeter.PoolBudget> pools = blocks.get(block);
    if (pools == null) {
      pools = partition(sim, block);
      blocks.put(block, pools);
    }
    for (PoolBudgeter.PoolBudget budget : pools) {
      Set<RequestType> types = budget.types();
      Map<RequestType, Double> wts = new EnumMap<>(RequestType.class);
      Map<RequestType, Slo> slos = new EnumMap<>(RequestType.class);
      for (RequestType t : types) {
        wts.put(t, Math.round(weights.get(t) * 50) / 50.0);
        slos.put(t, s.slos().of(t));
      }
      // the pool's own busiest 10 s of the window and half a minute either side (requests arriving at a window's end
      // are served into the next, and an instance drained at its start still empties its queue): its types together
      double poolLoad = stats.shortPeak(types, from - EDGE_MS, to + EDGE_MS);
      if (poolLoad <= 0) {
        continue;
      }
      MixSpec spec = new MixSpec(wts, stats.shapes(), slos);
      Mix mix = spec.toMix();
      double quantized = Math.exp(Math.ceil(Math.log(poolLoad) / Math.log(1.01)) * Math.log(1.01));
      String name = largest(types).name();
      // within the GPUs the block's layout gave the pool (the layouts of a block fit the cluster together)
      int gpus = Math.max(2, budget.gpus());
      PoolPlanner.Result r = plans.computeIfAbsent(mix.hashCode() + "|" + mix + "|" + quantized + "|" + gpus, k ->
          planner.plan(new PoolPlanner.Request(name, mix, quantized, gpus, FrequencyBounds.H100_DEFAULT,
              TensorParallelism.PAPER_DEGREES, Optional.empty(), windowMs / 1000, false)));
      out.put(name, new Planned(largest(types), types, spec, r.plan()));
    }
    return out;
  }

  /**
   * The pools of block {@code b}: the budgeter's layout for the block, each candidate pool planned for its own busiest
   * 10 s of the block (of its types together) and the block's mix, the previous block's layout as the one in force.
   */
  /** Each type's arrivals in block {@code b}: the block's mix. */
  private Map<RequestType, Double> blockWeights(int b) {
    double from = b * BLOCK * windowMs;
    double to = from + BLOCK * windowMs;
    Map<RequestType, Double> weights = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      double n = 0;
      for (int m = (int) (from / 60_000); m < (int) Math.ceil(to / 60_000); m++) {
        n += stats.rate(t, m);
      }
      weights.put(t, n);
    }
    return weights;
  }

  private List<PoolBudgeter.PoolBudget> partition(Simulation sim, int b) {
    SimSettings s = sim.settings();
    double from = b * BLOCK * windowMs;
    double to = from + BLOCK * windowMs;
    Map<RequestType, Double> weights = blockWeights(b);
    if (weights.values().stream().allMatch(v -> v <= 0)) {
      return List.of();
    }
    List<Set<RequestType>> before = new ArrayList<>();
    blocks.getOrDefault(b - 1, List.of()).forEach(p -> before.add(p.types()));
    return budgeter.allocate(new PoolBudgeter.Question(types -> stats.shortPeak(types, from - EDGE_MS,
        to + EDGE_MS), weights,
        stats.shapes(), s.slos(), s.servers() * 8, FrequencyBounds.H100_DEFAULT, before, Map.of())).pools();
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
