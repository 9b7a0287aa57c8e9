package io.dynamollm.decision.cluster;

import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HashMap;
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
 *   <li><b>Bootstrap</b>: until the forecaster has a forecast window of history (a partial history reads low), one LL
 *       pool on every GPU serves every type with clocks held at the maximum, planned for {@code bootstrapShare} of the
 *       cluster's TP8 capacity — the SinglePool baseline. A mixed pool judged by LL's SLO would otherwise lower clocks
 *       that short prompts' tight TTFT cannot afford.
 *   <li><b>Pools per type</b>: {@link PoolBudgeter} on the forecast, each type's forecast multiplied by the capacity
 *       correction of the pool that served it (its telemetry: it missed SLOs at the profile's capacity). A pool the
 *       budgeter funds with no GPU would strand its types: they join the smallest funded pool that covers them, else
 *       the largest.
 * </ul>
 *
 * The load a pool plans for ({@link Pool#loadRps}) is the uncorrected forecast: each pool manager applies its own
 * correction when it plans, so it is not counted twice.
 */
public final class ClusterLayout {

  /** One pool of the layout. */
  public record Pool(String name, RequestType nativeType, Set<RequestType> types, Map<RequestType, Double> forecastRps,
      double loadRps, int gpus, FrequencyBounds bounds) {
    public Pool {
      types = Set.copyOf(types);
      forecastRps = Map.copyOf(forecastRps);
    }
  }

  /**
   * @param pools the pools with GPUs
   * @param bootstrap whether this is the bootstrap layout (too little history): look again soon
   * @param reason why, in a line
   */
  public record Layout(List<Pool> pools, boolean bootstrap, String reason) {
    public Layout {
      pools = List.copyOf(pools);
    }

    public static final Layout NONE = new Layout(List.of(), false, "no layout");

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
  private final Profile profile;
  private final double bootstrapShare;

  /** The bootstrap pool plans for the budgeter's {@code bootstrapShare} of the cluster's TP8 capacity. */
  public ClusterLayout(PoolBudgeter budgeter, Profile profile) {
    this.budgeter = Objects.requireNonNull(budgeter, "budgeter");
    this.profile = Objects.requireNonNull(profile, "profile");
    this.bootstrapShare = budgeter.settings().bootstrapShare();
  }

  /**
   * @param forecast each type's forecast for the epoch; empty when no traffic has been seen yet
   * @param slos the SLOs of this epoch
   * @param gpus GPUs of the cluster's hosts
   * @param bounds the clock range pools may use
   * @param corrections each type's capacity correction (the factor of the pool that served it; absent = 1)
   */
  public Layout decide(Map<RequestType, LoadForecaster.Forecast> forecast, SloTable slos, int gpus,
      FrequencyBounds bounds, Map<RequestType, Double> corrections) {
    if (gpus <= 0) {
      throw new IllegalArgumentException("a layout needs GPUs, got " + gpus);
    }
    boolean partial = forecast.isEmpty();
    Map<RequestType, Double> peaks = new EnumMap<>(RequestType.class);
    for (var e : forecast.entrySet()) {
      peaks.put(e.getKey(), e.getValue().peakRps());
      // a type never seen has no history at all, which is no reason to distrust the others
      partial |= e.getValue().partialHistory() && e.getValue().basis() != LoadForecaster.Basis.NO_DATA;
    }
    double total = peaks.values().stream().mapToDouble(Double::doubleValue).sum();
    if (partial || total <= 0) {
      return bootstrap(slos, gpus, bounds, forecast.isEmpty() ? "no traffic seen yet" : partial
          ? "less history than one forecast window" : "no load forecast");
    }
    Map<RequestType, Double> corrected = new EnumMap<>(RequestType.class);
    peaks.forEach((t, rps) -> corrected.put(t, rps * Math.max(1.0, corrections.getOrDefault(t, 1.0))));
    var alloc = budgeter.allocate(corrected, slos, gpus, bounds);
    List<PoolBudgeter.PoolBudget> funded = alloc.pools().stream().filter(pb -> pb.gpus() > 0).toList();
    Map<String, Set<RequestType>> extra = new HashMap<>();
    for (var pb : alloc.pools()) {
      if (pb.gpus() > 0 || funded.isEmpty()) {
        continue;
      }
      PoolBudgeter.PoolBudget host = null;
      for (var f : funded) {
        if (f.nativeType().covers(pb.nativeType()) && (host == null || size(f.nativeType()) < size(host.nativeType()))) {
          host = f;
        }
      }
      if (host == null) {
        host = funded.stream().max(Comparator.comparingInt(f -> size(f.nativeType()))).orElseThrow();
      }
      extra.computeIfAbsent(host.name(), k -> EnumSet.noneOf(RequestType.class)).addAll(pb.types());
    }
    List<Pool> pools = new ArrayList<>();
    for (var pb : funded.isEmpty() ? alloc.pools() : funded) {
      Set<RequestType> types = EnumSet.copyOf(pb.types());
      types.addAll(extra.getOrDefault(pb.name(), Set.of()));
      Map<RequestType, Double> f = new EnumMap<>(RequestType.class);
      for (RequestType t : types) {
        f.put(t, peaks.getOrDefault(t, 0.0));
      }
      pools.add(new Pool(pb.name(), pb.nativeType(), types, f, budgeter.nativeLoad(pb.nativeType(), types, peaks, slos),
          pb.gpus(), bounds));
    }
    String reason = alloc.reason();
    if (corrections.values().stream().anyMatch(c -> c > 1.0)) {
      reason += "; sized with the pools' capacity corrections " + corrections.entrySet().stream()
          .filter(e -> e.getValue() > 1.0)
          .map(e -> String.format(Locale.ROOT, "%s x%.2f", e.getKey(), e.getValue())).toList();
    }
    return new Layout(pools, false, reason);
  }

  /**
   * The power a layout is predicted to draw at the loads it was made for: each pool's least-power single-configuration
   * layout of whole instances for its load (within its bounds and the SLO margin), its remaining GPUs parked at idle.
   */
  public double predictedPowerW(Layout layout, SloTable slos) {
    double total = 0;
    for (Pool p : layout.pools()) {
      total += predictedPowerW(p, slos.of(p.nativeType()));
    }
    return total;
  }

  private double predictedPowerW(Pool p, Slo slo) {
    double idle = profile.idlePowerW();
    if (p.loadRps() <= 0) {
      return p.gpus() * idle;
    }
    double best = Double.POSITIVE_INFINITY;
    Slo margin = new Slo(slo.ttftP99Ms() * budgeter.settings().sloMargin(),
        slo.tbtP99Ms() * budgeter.settings().sloMargin());
    for (TensorParallelism tp : profile.tensorParallelisms()) {
      for (int mhz : profile.clockLevelsMhz()) {
        if (!p.bounds().contains(mhz)) {
          continue;
        }
        double cap = profile.capacityRps(p.nativeType(), tp, mhz, margin);
        if (cap <= 0) {
          continue;
        }
        int n = (int) Math.ceil(p.loadRps() / cap - 1e-9);
        int used = n * tp.degree();
        if (used > p.gpus()) {
          continue;
        }
        var point = profile.estimate(p.nativeType(), tp, mhz, p.loadRps() / n);
        if (point.stable()) {
          best = Math.min(best, used * point.powerPerGpuW() + (p.gpus() - used) * idle);
        }
      }
    }
    if (Double.isInfinite(best)) {
      // nothing fits within the budget: every GPU busy at the top of the bounds
      int mhz = profile.clockLevelsMhz().stream().filter(p.bounds()::contains).max(Integer::compare)
          .orElse(profile.maxClockMhz());
      best = p.gpus() * profile.decodePowerW(TensorParallelism.TP8, profile.maxBatch(TensorParallelism.TP8), mhz);
    }
    return best;
  }

  /** The load of {@code types} in a pool sized for {@code host}, native-equivalent (see {@link PoolBudgeter#nativeLoad}). */
  public double nativeLoad(RequestType host, Set<RequestType> types, Map<RequestType, Double> forecastRps,
      SloTable slos) {
    return budgeter.nativeLoad(host, types, forecastRps, slos);
  }

  /**
   * Between cluster epochs: the GPUs to add to a pool whose plan cannot carry the load it plans for (its forecast
   * times its capacity correction) within its budget, taken from the {@code free} GPUs no pool holds — the fewest-GPU
   * layout for that load less the budget, at most what is free; 0 when nothing is free or more GPUs would not help.
   */
  public int topUp(RequestType nativeType, Slo slo, double plannedLoadRps, int budgetGpus, int free,
      FrequencyBounds bounds) {
    if (free <= 0) {
      return 0;
    }
    int need = budgeter.fewestGpus(nativeType, slo, plannedLoadRps, bounds);
    if (need == Integer.MAX_VALUE) {
      need = budgetGpus + free; // no single TP reaches it: all that is free is the best there is
    }
    int add = Math.max(0, Math.min(free, need - budgetGpus));
    return add - add % 2; // instances are TP2 at the least

  }

  private Layout bootstrap(SloTable slos, int gpus, FrequencyBounds bounds, String why) {
    Slo ll = slos.of(RequestType.LL);
    double nominal = bootstrapShare * (gpus / 8.0)
        * profile.capacityRps(RequestType.LL, TensorParallelism.TP8, profile.maxClockMhz(), ll);
    FrequencyBounds atMax = new FrequencyBounds(bounds.maxMhz(), bounds.maxMhz());
    Pool all = new Pool("LL", RequestType.LL, EnumSet.allOf(RequestType.class), Map.of(RequestType.LL, nominal),
        nominal, gpus, atMax);
    return new Layout(List.of(all), true, why + ": one LL pool on all " + gpus + " GPUs at the maximum clock");
  }

  private static int size(RequestType t) {
    return t.input().ordinal() + t.output().ordinal();
  }
}
