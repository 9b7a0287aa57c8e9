package io.dynamollm.decision.cluster;

import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.TypeShape;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The cluster manager's decision each cluster epoch, from a cold start on: which pools exist, which types each
 * serves, how many GPUs each holds and for what load. Pure; the cluster step ({@link ClusterStep}) runs it, for the
 * live cluster manager and the simulator alike.
 *
 * <ul>
 *   <li><b>Bootstrap</b>: until the forecaster has its minimum history (a partial history reads low), one pool of
 *       every type on every GPU with clocks held at the maximum, planned for {@code bootstrapShare} of what the
 *       cluster's TP8 instances carry of the mix seen so far — the SinglePool baseline.
 *   <li><b>Pools</b>: {@link PoolBudgeter} on each type's load to plan for — its forecast peak or, where higher, its
 *       bursts — times the capacity correction of the pool that served it (its telemetry: it missed SLOs at the
 *       profile's capacity), with the lengths learned online.
 * </ul>
 *
 * The load a pool plans for ({@link Pool#loadRps}) is without the correction: each pool manager applies its own when
 * it plans, once.
 */
public final class ClusterLayout {

  /**
   * One pool of the layout.
   *
   * @param forecastRps each type's recent arrival rate, req/s (the weights of the pool's mix)
   * @param loadRps the pool's load to plan for, req/s, without capacity correction
   * @param predictedPowerW the budgeter's prediction of its power at that load
   */
  public record Pool(String name, RequestType nativeType, Set<RequestType> types, Map<RequestType, Double> forecastRps,
      double loadRps, int gpus, FrequencyBounds bounds, double predictedPowerW) {
    public Pool {
      types = Set.copyOf(types);
      forecastRps = Map.copyOf(forecastRps);
    }
  }

  /**
   * @param pools the pools with GPUs
   * @param bootstrap whether this is the bootstrap layout (too little history): look again soon
   * @param predictedPowerW the power it is predicted to draw
   * @param reason why, in a line
   */
  public record Layout(List<Pool> pools, boolean bootstrap, double predictedPowerW, String reason) {
    public Layout {
      pools = List.copyOf(pools);
    }

    public static final Layout NONE = new Layout(List.of(), false, 0, "no layout");

    /** The pool serving each type. */
    public Map<RequestType, String> routing() {
      Map<RequestType, String> r = new EnumMap<>(RequestType.class);
      for (Pool p : pools) {
        p.types().forEach(t -> r.put(t, p.name()));
      }
      return r;
    }

    public int gpus() {
      return pools.stream().mapToInt(Pool::gpus).sum();
    }
  }

  private final PoolBudgeter budgeter;

  public ClusterLayout(PoolBudgeter budgeter) {
    this.budgeter = Objects.requireNonNull(budgeter, "budgeter");
  }

  public PoolBudgeter budgeter() {
    return budgeter;
  }

  /** What the forecaster says about the coming epoch. */
  public interface Forecasts {
    /** Whether any traffic has been seen. */
    boolean seen();

    /** Whether the history is shorter than the forecaster's minimum (forecasts would read low). */
    boolean partial();

    /** The load a pool of {@code types} plans for: its forecast peak or, where higher, its bursts (req/s). */
    double planRps(Set<RequestType> types);

    /** Each type's recent arrival rate: the shares of the pools' mixes. */
    Map<RequestType, Double> weights();
  }

  /**
   * @param forecasts the forecaster's view of the epoch
   * @param shapes each type's lengths
   * @param slos the SLOs of this epoch
   * @param gpus GPUs of the cluster's hosts
   * @param bounds the clock range pools may use
   * @param corrections the capacity corrections of the pools in force (by their types)
   * @param current the pools in force (their types), for the budgeter's hysteresis
   */
  public Layout decide(Forecasts forecasts, Map<RequestType, TypeShape> shapes, SloTable slos, int gpus,
      FrequencyBounds bounds, Map<Set<RequestType>, Double> corrections, List<Set<RequestType>> current) {
    return decide(forecasts, shapes, slos, gpus, bounds, corrections, current, 0);
  }

  /**
   * As {@link #decide(Forecasts, Map, SloTable, int, FrequencyBounds, Map, List)}, keeping the layout in force unless
   * another saves more than {@code keepCurrentWithin} (a layout change the cluster has no room to hand over costs
   * a cold start for every pool it adds).
   */
  public Layout decide(Forecasts forecasts, Map<RequestType, TypeShape> shapes, SloTable slos, int gpus,
      FrequencyBounds bounds, Map<Set<RequestType>, Double> corrections, List<Set<RequestType>> current,
      double keepCurrentWithin) {
    if (gpus <= 0) {
      throw new IllegalArgumentException("a layout needs GPUs, got " + gpus);
    }
    Set<RequestType> all = EnumSet.allOf(RequestType.class);
    if (!forecasts.seen() || forecasts.partial() || forecasts.planRps(all) <= 0) {
      return bootstrap(forecasts.seen() ? forecasts.weights() : Map.of(), shapes, slos, gpus, bounds,
          !forecasts.seen() ? "no traffic seen yet" : forecasts.partial()
              ? "less history than the forecaster's minimum" : "no load forecast");
    }
    var alloc = budgeter.allocate(new PoolBudgeter.Question(forecasts::planRps, forecasts.weights(), shapes, slos, gpus,
        bounds, current, corrections, keepCurrentWithin));
    List<Pool> pools = new ArrayList<>();
    for (var pb : alloc.pools()) {
      Map<RequestType, Double> f = new EnumMap<>(RequestType.class);
      for (RequestType t : pb.types()) {
        f.put(t, forecasts.weights().getOrDefault(t, 0.0));
      }
      pools.add(new Pool(pb.name(), pb.nativeType(), pb.types(), f, forecasts.planRps(pb.types()), pb.gpus(), bounds,
          pb.powerW()));
    }
    String reason = alloc.reason();
    if (corrections.values().stream().anyMatch(c -> c > 1.0)) {
      reason += "; the pools in force sized with their capacity corrections " + corrections.entrySet().stream()
          .filter(e -> e.getValue() > 1.0)
          .map(e -> String.format(Locale.ROOT, "%s x%.2f", e.getKey().stream().sorted().toList(), e.getValue()))
          .toList();
    }
    return new Layout(pools, false, alloc.predictedPowerW(), reason);
  }

  /**
   * Between cluster epochs: the GPUs to add to a pool whose plan cannot carry the load it plans for (its forecast
   * times its capacity correction) within its budget, taken from the {@code free} GPUs no pool holds — the fewest-GPU
   * plan for that load less the budget, at most what is free; 0 when nothing is free or more GPUs would not help.
   */
  public int topUp(Mix mix, double plannedLoadRps, int budgetGpus, int free, FrequencyBounds bounds) {
    if (free <= 0) {
      return 0;
    }
    PoolPlanner.Sizing s = budgeter.planner().size(mix, plannedLoadRps, bounds);
    int need = s.feasible() ? s.fewestGpus() : budgetGpus + free; // nothing meets it: all that is free helps most
    int add = Math.max(0, Math.min(free, need - budgetGpus));
    return add - add % 2; // instances are TP2 at the least
  }

  private Layout bootstrap(Map<RequestType, Double> seen, Map<RequestType, TypeShape> shapes, SloTable slos, int gpus,
      FrequencyBounds bounds, String why) {
    Map<RequestType, Double> weights = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      weights.put(t, seen.getOrDefault(t, 0.0));
    }
    Mix mix = Mix.of(weights, shapes::get, slos::of);
    // the highest clock the profile knows within the operator's range (a range's top need not be a clock level: held
    // at a top that is none, the planner found no clock within it and fell back to the GPU's maximum, past the limit)
    int top = budgeter.planner().profile().clockLevelsMhz().stream().filter(bounds::contains)
        .max(Integer::compare).orElse(bounds.maxMhz());
    FrequencyBounds atMax = new FrequencyBounds(top, top);
    double perInstance = budgeter.planner().capacityRps(mix, TensorParallelism.TP8, atMax);
    // clocks held at the maximum: until the minimum history the mix and its lengths are mostly the profile's prior,
    // and governors lowering clocks on it missed TTFT SLOs where the prior is wrong (measured on the long-context zoo
    // workload: 98.1 % attainment governed, 99.4 % held; the energy is the bootstrap epochs' only)
    double nominal = budgeter.settings().bootstrapShare() * (gpus / 8.0) * perInstance;
    Map<RequestType, Double> f = new EnumMap<>(RequestType.class);
    double total = weights.values().stream().mapToDouble(Double::doubleValue).sum();
    for (RequestType t : RequestType.values()) {
      f.put(t, total > 0 ? nominal * weights.get(t) / total : nominal / RequestType.values().length);
    }
    // its predicted power: the instances that carry the nominal load at the held clock, the rest of the GPUs idle (what a
    // watt budget is checked against)
    PoolPlanner.Sizing size = budgeter.planner().size(mix, nominal, atMax);
    double idle = budgeter.planner().profile().idlePowerW();
    double predicted = size.gpus() <= gpus ? size.powerW() + (gpus - size.gpus()) * idle
        : size.powerW() * gpus / size.gpus();
    Pool all = new Pool("LL", RequestType.LL, EnumSet.allOf(RequestType.class), f, nominal, gpus, atMax, predicted);
    return new Layout(List.of(all), true, all.predictedPowerW(), why + ": one pool of every type on all " + gpus
        + " GPUs, planned for the capacity of TP8 instances at the maximum clock");
  }
}
