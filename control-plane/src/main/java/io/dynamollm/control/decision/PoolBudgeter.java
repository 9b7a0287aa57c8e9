package io.dynamollm.control.decision;

import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.LoadPoint;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Cluster epoch (default 30 min): which pools exist, which types each serves, and how many GPUs each gets.
 *
 * <ol>
 *   <li>Merge: a type whose forecast would not fill {@code fillShare} of its smallest instance (TP2 at the maximum
 *       clock) is served by the pool of the next larger type — one at least as large in both input and output class
 *       that keeps its own pool (LL takes everything). The merged pool is sized for its native (largest) type and holds
 *       the tightest SLO of the types it serves; loads of merged types count in native-equivalent requests (scaled by
 *       the ratio of TP8 max-clock capacities).
 *   <li>Size: each pool gets the GPUs of the least-power single-configuration layout that carries its forecast
 *       (any TP and clock in the bounds), rounded up to whole instances — room for the pool planner to choose.
 *   <li>Fit: if the pools need more GPUs than the cluster has, each pool falls back to its fewest-GPU layout at the
 *       maximum clock; if even that does not fit, budgets shrink in proportion and the budget says it is short.
 *   <li>Start ahead: GPUs a pool gains start loading {@code startupMs} before the epoch, so they are ready at its start.
 * </ol>
 */
public final class PoolBudgeter {

  /**
   * @param fillShare share of a TP2 max-clock instance's capacity below which a type is merged
   * @param sloMargin capacity is computed against this share of the SLO
   * @param startupMs time a new instance needs before it serves
   */
  public record Settings(double fillShare, double sloMargin, long startupMs) {
    public static final Settings DEFAULT = new Settings(0.5, 0.9, 7 * 60_000);
  }

  /**
   * One pool for the coming epoch.
   *
   * @param name the pool's name: its native type
   * @param nativeType the type its instances are sized for
   * @param types the types it serves
   * @param loadRps forecast load, native-equivalent requests per second
   * @param slo the tightest SLO of its types
   * @param gpus GPUs it may hold
   * @param gpusToStart GPUs more than it holds now, to start ahead
   * @param startAtMs when those start loading
   */
  public record PoolBudget(
      String name, RequestType nativeType, Set<RequestType> types, double loadRps, Slo slo, int gpus, int gpusToStart,
      long startAtMs) {
    public PoolBudget {
      types = Set.copyOf(types);
    }
  }

  /** The cluster's allocation. */
  public record Allocation(List<PoolBudget> pools, int gpusUsed, boolean shortOfGpus, Map<RequestType, String> routing,
      String reason) {
    public Allocation {
      pools = List.copyOf(pools);
      routing = Map.copyOf(routing);
    }
  }

  private final Profile profile;
  private final Settings settings;

  public PoolBudgeter(Profile profile, Settings settings) {
    this.profile = Objects.requireNonNull(profile, "profile");
    this.settings = Objects.requireNonNull(settings, "settings");
  }

  /**
   * @param epochStartMs when the epoch starts
   * @param forecastRps forecast peak per type
   * @param slos SLO per type
   * @param totalGpus GPUs of the cluster
   * @param bounds clock range
   * @param currentGpus GPUs each pool holds now (by pool name)
   */
  public Allocation allocate(long epochStartMs, Map<RequestType, Double> forecastRps, SloTable slos, int totalGpus,
      FrequencyBounds bounds, Map<String, Integer> currentGpus) {
    Map<RequestType, RequestType> hostOf = merge(forecastRps, slos);
    // group types by host
    Map<RequestType, Set<RequestType>> served = new EnumMap<>(RequestType.class);
    hostOf.forEach((t, h) -> served.computeIfAbsent(h, k -> EnumSet.noneOf(RequestType.class)).add(t));
    List<PoolBudget> pools = new ArrayList<>();
    int[] optimal = new int[RequestType.values().length];
    int[] minimal = new int[RequestType.values().length];
    List<RequestType> hosts = new ArrayList<>(served.keySet());
    hosts.sort(Comparator.naturalOrder());
    Map<RequestType, Double> poolLoad = new EnumMap<>(RequestType.class);
    Map<RequestType, Slo> poolSlo = new EnumMap<>(RequestType.class);
    for (RequestType host : hosts) {
      Slo slo = tightest(served.get(host), slos);
      double load = 0;
      for (RequestType t : served.get(host)) {
        load += forecastRps.getOrDefault(t, 0.0) * workRatio(t, host, slos);
      }
      poolLoad.put(host, load);
      poolSlo.put(host, slo);
      optimal[host.ordinal()] = gpusFor(host, load, slo, bounds, false);
      minimal[host.ordinal()] = gpusFor(host, load, slo, bounds, true);
    }
    int wanted = hosts.stream().mapToInt(h -> optimal[h.ordinal()]).sum();
    int[] chosen = optimal;
    boolean shortOfGpus = false;
    String reason = String.format(Locale.ROOT, "%d pools, %d of %d GPUs at least-power layouts", hosts.size(), wanted, totalGpus);
    if (wanted > totalGpus) {
      chosen = minimal;
      int least = hosts.stream().mapToInt(h -> minimal[h.ordinal()]).sum();
      reason = String.format(Locale.ROOT, "least-power layouts need %d GPUs > %d: fewest-GPU layouts (%d GPUs)", wanted,
          totalGpus, least);
      if (least > totalGpus) {
        shortOfGpus = true;
        chosen = scaleDown(hosts, minimal, least, totalGpus);
        reason += String.format(Locale.ROOT, "; still short, scaled to %d GPUs", totalGpus);
      }
    }
    int used = 0;
    Map<RequestType, String> routing = new EnumMap<>(RequestType.class);
    for (RequestType host : hosts) {
      int g = chosen[host.ordinal()];
      used += g;
      int now = currentGpus.getOrDefault(host.name(), 0);
      pools.add(new PoolBudget(host.name(), host, served.get(host), poolLoad.get(host), poolSlo.get(host), g,
          Math.max(0, g - now), epochStartMs - settings.startupMs()));
      for (RequestType t : served.get(host)) {
        routing.put(t, host.name());
      }
    }
    return new Allocation(pools, used, shortOfGpus, routing, reason);
  }

  /** Host pool of each type after merging small types upward. */
  Map<RequestType, RequestType> merge(Map<RequestType, Double> forecastRps, SloTable slos) {
    Map<RequestType, RequestType> host = new EnumMap<>(RequestType.class);
    List<RequestType> order = new ArrayList<>(List.of(RequestType.values()));
    order.sort(Comparator.comparingInt((RequestType t) -> t.input().ordinal() + t.output().ordinal())
        .thenComparing(Comparator.naturalOrder()));
    Set<RequestType> own = EnumSet.allOf(RequestType.class);
    Map<RequestType, Double> load = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      load.put(t, forecastRps.getOrDefault(t, 0.0));
    }
    for (RequestType t : order) {
      if (t == RequestType.LL) {
        break;
      }
      double fill = settings.fillShare() * capacity(t, TensorParallelism.TP2, profile.maxClockMhz(), slos.of(t));
      if (load.get(t) >= fill) {
        continue;
      }
      RequestType target = null;
      for (RequestType u : order) {
        if (u != t && u.covers(t) && own.contains(u)
            && (target == null || size(u) < size(target) || (size(u) == size(target) && load.get(u) > load.get(target)))) {
          target = u;
        }
      }
      own.remove(t);
      host.put(t, target);
      load.merge(target, load.get(t), Double::sum);
    }
    for (RequestType t : RequestType.values()) {
      if (own.contains(t)) {
        host.put(t, t);
      }
    }
    // follow chains: a type merged into one that later merged further ends at the final host
    for (RequestType t : RequestType.values()) {
      RequestType h = host.get(t);
      while (host.get(h) != h) {
        h = host.get(h);
      }
      host.put(t, h);
    }
    return host;
  }

  private static int size(RequestType t) {
    return t.input().ordinal() + t.output().ordinal();
  }

  private int gpusFor(RequestType type, double load, Slo slo, FrequencyBounds bounds, boolean fewestGpus) {
    if (load <= 0) {
      return 0;
    }
    Slo margin = margin(slo);
    double bestPower = Double.POSITIVE_INFINITY;
    int bestGpus = Integer.MAX_VALUE;
    for (TensorParallelism tp : profile.tensorParallelisms()) {
      for (int mhz : profile.clockLevelsMhz()) {
        if (!bounds.contains(mhz)) {
          continue;
        }
        double cap = profile.capacityRps(type, tp, mhz, margin);
        if (cap <= 0) {
          continue;
        }
        int n = (int) Math.ceil(load / cap - 1e-9);
        int gpus = n * tp.degree();
        LoadPoint p = profile.estimate(type, tp, mhz, load / n);
        double power = gpus * p.powerPerGpuW();
        if (fewestGpus ? gpus < bestGpus || (gpus == bestGpus && power < bestPower) : power < bestPower) {
          bestPower = power;
          bestGpus = gpus;
        }
      }
    }
    if (bestGpus == Integer.MAX_VALUE) {
      // nothing meets the SLO even lightly loaded: give it TP8 instances at full speed for its load
      double cap = Math.max(1e-3, profile.capacityRps(type, TensorParallelism.TP8, profile.maxClockMhz(), slo));
      return 8 * (int) Math.ceil(load / cap);
    }
    return bestGpus;
  }

  private static int[] scaleDown(List<RequestType> hosts, int[] need, int total, int available) {
    int[] out = need.clone();
    int used = 0;
    for (RequestType h : hosts) {
      int g = need[h.ordinal()] == 0 ? 0 : Math.max(2, (int) Math.floor((double) need[h.ordinal()] * available / total / 2) * 2);
      out[h.ordinal()] = g;
      used += g;
    }
    // trim the largest until it fits
    while (used > available) {
      RequestType largest = hosts.stream().max(Comparator.comparingInt(h -> out[h.ordinal()])).orElseThrow();
      out[largest.ordinal()] -= 2;
      used -= 2;
    }
    return out;
  }

  private double workRatio(RequestType t, RequestType host, SloTable slos) {
    if (t == host) {
      return 1;
    }
    double capHost = capacity(host, TensorParallelism.TP8, profile.maxClockMhz(), slos.of(host));
    double capT = capacity(t, TensorParallelism.TP8, profile.maxClockMhz(), slos.of(t));
    return capT > 0 && capHost > 0 ? capHost / capT : 1;
  }

  private double capacity(RequestType t, TensorParallelism tp, int mhz, Slo slo) {
    return profile.capacityRps(t, tp, mhz, margin(slo));
  }

  private Slo margin(Slo slo) {
    return new Slo(slo.ttftP99Ms() * settings.sloMargin(), slo.tbtP99Ms() * settings.sloMargin());
  }

  private static Slo tightest(Set<RequestType> types, SloTable slos) {
    double ttft = Double.POSITIVE_INFINITY;
    double tbt = Double.POSITIVE_INFINITY;
    for (RequestType t : types) {
      ttft = Math.min(ttft, slos.of(t).ttftP99Ms());
      tbt = Math.min(tbt, slos.of(t).tbtP99Ms());
    }
    return new Slo(ttft, tbt);
  }
}
