package io.dynamollm.decision.cluster;

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
 *       that keeps its own pool (LL takes everything). The merged pool is sized for its native (largest) type against
 *       that type's SLO; loads of merged types count in native-equivalent requests (scaled by the ratio of TP8
 *       max-clock capacities, each type within its own SLO). Every request is still judged against its own SLO.
 *   <li>Size: each pool gets the GPUs of the least-power single-configuration layout that carries its forecast
 *       (any TP and clock in the bounds), rounded up to whole instances — room for the pool planner to choose.
 *   <li>Fit: if the pools need more GPUs than the cluster has, each pool falls back to its fewest-GPU layout, first
 *       with the headroom, then without it; if that still needs more than {@code oversubscribe} times the cluster,
 *       the smallest pool is merged into a larger one, again and again (fewer, fuller pools waste fewer GPUs), down
 *       to one LL pool; a remaining shortfall is shared by the pools in proportion, and the allocation says it is
 *       short.
 *   <li>Start ahead: GPUs a pool gains start loading {@code startupMs} before the epoch, so they are ready at its start.
 * </ol>
 */
public final class PoolBudgeter {

  /**
   * @param fillShare share of a TP2 max-clock instance's capacity below which a type is merged
   * @param sloMargin capacity is computed against this share of the SLO
   * @param headroom pools are sized for this multiple of their forecast
   * @param oversubscribe pools whose fewest-GPU layouts need up to this multiple of the cluster's GPUs share the
   *     shortfall (their peaks rarely coincide, and a loaded pool overflows into larger ones); beyond it they merge
   * @param bootstrapShare share of every GPU's TP8 max-clock LL capacity the bootstrap pool plans for
   *     ({@link ClusterLayout})
   */
  public record Settings(double fillShare, double sloMargin, double headroom, double oversubscribe,
      double bootstrapShare) {
    public Settings {
      if (!(fillShare >= 0 && fillShare <= 1)) {
        throw new IllegalArgumentException("fill-share must be within 0..1, got " + fillShare);
      }
      if (!(sloMargin > 0 && sloMargin <= 1)) {
        throw new IllegalArgumentException("slo-margin must be within (0, 1], got " + sloMargin);
      }
      if (!(headroom >= 1) || Double.isInfinite(headroom)) {
        throw new IllegalArgumentException("headroom must be a finite number >= 1, got " + headroom);
      }
      if (!(oversubscribe >= 1) || Double.isInfinite(oversubscribe)) {
        throw new IllegalArgumentException("oversubscribe must be a finite number >= 1, got " + oversubscribe);
      }
      if (!(bootstrapShare > 0 && bootstrapShare <= 1)) {
        throw new IllegalArgumentException("bootstrap-share must be within (0, 1], got " + bootstrapShare);
      }
    }
  }

  /**
   * One pool for the coming epoch.
   *
   * @param name the pool's name: its native type
   * @param nativeType the type its instances are sized for
   * @param types the types it serves
   * @param loadRps forecast load, native-equivalent requests per second
   * @param slo the SLO its instances are sized for (its native type's)
   * @param gpus GPUs it may hold
   */
  public record PoolBudget(
      String name, RequestType nativeType, Set<RequestType> types, double loadRps, Slo slo, int gpus) {
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

  public Settings settings() {
    return settings;
  }

  /**
   * @param forecastRps forecast peak per type
   * @param slos SLO per type
   * @param totalGpus GPUs of the cluster
   * @param bounds clock range
   */
  public Allocation allocate(Map<RequestType, Double> forecastRps, SloTable slos, int totalGpus,
      FrequencyBounds bounds) {
    Map<RequestType, RequestType> hostOf = merge(forecastRps, slos);
    Sizing z = size(hostOf, forecastRps, slos, bounds, settings.headroom());
    int wanted = z.total(z.optimal);
    int[] chosen = z.optimal;
    boolean shortOfGpus = false;
    String reason = String.format(Locale.ROOT, "%d pools, %d of %d GPUs at least-power layouts", z.hosts.size(), wanted,
        totalGpus);
    if (wanted > totalGpus) {
      chosen = z.minimal;
      reason = String.format(Locale.ROOT, "least-power layouts need %d GPUs > %d: fewest-GPU layouts", wanted, totalGpus);
      int merges = 0;
      if (z.total(z.minimal) > totalGpus * settings.oversubscribe() && settings.headroom() > 1) {
        // headroom is a luxury: give it up before giving up pools
        Sizing bare = size(hostOf, forecastRps, slos, bounds, 1.0);
        if (bare.total(bare.minimal) < z.total(z.minimal)) {
          z = bare;
          reason += " without headroom";
        }
      }
      // a shortfall up to oversubscribe is shared by the pools (their peaks rarely coincide); beyond, merge
      while (z.total(z.minimal) > totalGpus * settings.oversubscribe() && z.hosts.size() > 1) {
        hostOf = mergeSmallest(hostOf, z.load);
        z = size(hostOf, forecastRps, slos, bounds, z.headroom);
        merges++;
      }
      chosen = z.minimal;
      if (merges > 0) {
        reason += String.format(Locale.ROOT, ", %d extra merges to fit", merges);
      }
      int least = z.total(z.minimal);
      if (least > totalGpus) {
        shortOfGpus = true;
        chosen = scaleDown(z.hosts, z.minimal, least, totalGpus);
        reason += String.format(Locale.ROOT, "; still short (%d GPUs), scaled to %d", least, totalGpus);
      } else {
        // spend what is left on the least-power layouts where it fits
        int spare = totalGpus - least;
        int[] mix = z.minimal.clone();
        for (RequestType h : z.hosts) {
          int extra = z.optimal[h.ordinal()] - z.minimal[h.ordinal()];
          if (extra > 0 && extra <= spare) {
            mix[h.ordinal()] = z.optimal[h.ordinal()];
            spare -= extra;
          }
        }
        chosen = mix;
      }
    }
    List<RequestType> hosts = z.hosts;
    Map<RequestType, Set<RequestType>> served = z.served;
    Map<RequestType, Double> poolLoad = z.load;
    Map<RequestType, Slo> poolSlo = z.slo;
    List<PoolBudget> pools = new ArrayList<>();
    int used = 0;
    Map<RequestType, String> routing = new EnumMap<>(RequestType.class);
    for (RequestType host : hosts) {
      int g = chosen[host.ordinal()];
      used += g;
      pools.add(new PoolBudget(host.name(), host, served.get(host), poolLoad.get(host), poolSlo.get(host), g));
      for (RequestType t : served.get(host)) {
        routing.put(t, host.name());
      }
    }
    return new Allocation(pools, used, shortOfGpus, routing, reason);
  }

  private final class Sizing {
    final double headroom;
    final List<RequestType> hosts = new ArrayList<>();
    final Map<RequestType, Set<RequestType>> served = new EnumMap<>(RequestType.class);
    final Map<RequestType, Double> load = new EnumMap<>(RequestType.class);
    final Map<RequestType, Slo> slo = new EnumMap<>(RequestType.class);
    final int[] optimal = new int[RequestType.values().length];
    final int[] minimal = new int[RequestType.values().length];

    Sizing(double headroom) {
      this.headroom = headroom;
    }

    int total(int[] gpus) {
      return hosts.stream().mapToInt(h -> gpus[h.ordinal()]).sum();
    }
  }

  private Sizing size(Map<RequestType, RequestType> hostOf, Map<RequestType, Double> forecastRps, SloTable slos,
      FrequencyBounds bounds, double headroom) {
    Sizing z = new Sizing(headroom);
    hostOf.forEach((t, h) -> z.served.computeIfAbsent(h, k -> EnumSet.noneOf(RequestType.class)).add(t));
    z.hosts.addAll(z.served.keySet());
    z.hosts.sort(Comparator.naturalOrder());
    for (RequestType host : z.hosts) {
      Slo slo = slos.of(host);
      double load = 0;
      for (RequestType t : z.served.get(host)) {
        load += forecastRps.getOrDefault(t, 0.0) * workRatio(t, host, slos);
      }
      z.load.put(host, load);
      z.slo.put(host, slo);
      z.optimal[host.ordinal()] = gpusFor(host, load * headroom, slo, bounds, false);
      z.minimal[host.ordinal()] = gpusFor(host, load * headroom, slo, bounds, true);
    }
    return z;
  }

  /** Merges the pool with the least load into the smallest larger pool that covers it (LL covers all). */
  private Map<RequestType, RequestType> mergeSmallest(Map<RequestType, RequestType> hostOf, Map<RequestType, Double> load) {
    List<RequestType> hosts = hostOf.values().stream().distinct().filter(h -> h != RequestType.LL)
        .sorted(Comparator.comparingDouble(h -> load.getOrDefault(h, 0.0))).toList();
    if (hosts.isEmpty()) {
      return hostOf;
    }
    RequestType victim = hosts.get(0);
    RequestType target = null;
    for (RequestType u : hostOf.values().stream().distinct().toList()) {
      if (u != victim && u.covers(victim) && (target == null || size(u) < size(target))) {
        target = u;
      }
    }
    if (target == null) {
      target = RequestType.LL;
    }
    Map<RequestType, RequestType> out = new EnumMap<>(hostOf);
    for (var e : hostOf.entrySet()) {
      if (e.getValue() == victim) {
        out.put(e.getKey(), target);
      }
    }
    return out;
  }

  /** Host pool of each type after merging small types upward (every type maps to itself or a larger type). */
  public Map<RequestType, RequestType> merge(Map<RequestType, Double> forecastRps, SloTable slos) {
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
      // nothing meets the SLO with the margin: TP8 instances at full speed, as many as the plain SLO says, at least one
      double cap = profile.capacityRps(type, TensorParallelism.TP8, profile.maxClockMhz(), slo);
      return cap > 0 ? 8 * (int) Math.ceil(load / cap - 1e-9) : 8;
    }
    return bestGpus;
  }

  /**
   * Shrinks every pool's GPUs in proportion to fit {@code available}, in whole TP4 blocks where a pool needs at least
   * four (TP2 blocks below); the pools with the most left give back first when rounding leaves too many.
   */
  private static int[] scaleDown(List<RequestType> hosts, int[] need, int total, int available) {
    int[] out = need.clone();
    int used = 0;
    for (RequestType h : hosts) {
      int n = need[h.ordinal()];
      int block = n >= 4 ? 4 : 2;
      int g = n == 0 ? 0 : Math.max(block, (int) Math.floor((double) n * available / total / block) * block);
      out[h.ordinal()] = g;
      used += g;
    }
    while (used > available) {
      RequestType largest = hosts.stream().max(Comparator.comparingInt(h -> out[h.ordinal()])).orElseThrow();
      int block = out[largest.ordinal()] > 4 ? 4 : 2;
      out[largest.ordinal()] -= block;
      used -= block;
    }
    return out;
  }

  /**
   * The load of {@code types} served by a pool sized for {@code host}, in native-equivalent requests per second (as
   * {@link #allocate} sizes pools): each type's forecast scaled by the ratio of TP8 max-clock capacities.
   */
  public double nativeLoad(RequestType host, Set<RequestType> types, Map<RequestType, Double> forecastRps,
      SloTable slos) {
    double load = 0;
    for (RequestType t : types) {
      load += forecastRps.getOrDefault(t, 0.0) * workRatio(t, host, slos);
    }
    return load;
  }

  /**
   * The fewest GPUs of whole instances of one TP at the maximum clock of {@code bounds} that carry {@code loadRps} of
   * {@code type} within {@code slo} (with the SLO margin); 0 for no load, {@link Integer#MAX_VALUE} when no TP can.
   */
  public int fewestGpus(RequestType type, Slo slo, double loadRps, FrequencyBounds bounds) {
    if (loadRps <= 0) {
      return 0;
    }
    int best = Integer.MAX_VALUE;
    for (TensorParallelism tp : TensorParallelism.PAPER_DEGREES) {
      double cap = capacity(type, tp, bounds.maxMhz(), slo);
      if (cap > 0) {
        long n = (long) Math.ceil(loadRps / cap);
        best = (int) Math.min(best, n * tp.degree());
      }
    }
    return best;
  }

  private double workRatio(RequestType t, RequestType host, SloTable slos) {
    return nativeWork(t, slos.of(t), host, slos.of(host));
  }

  /**
   * How many requests of a pool's native type {@code host} one request of {@code t} is worth (each within its own
   * SLO): the ratio of their TP8 max-clock capacities, 1 for the native type. Pools count their load in these units.
   */
  public double nativeWork(RequestType t, Slo tSlo, RequestType host, Slo hostSlo) {
    if (t == host) {
      return 1;
    }
    double capHost = capacity(host, TensorParallelism.TP8, profile.maxClockMhz(), hostSlo);
    double capT = capacity(t, TensorParallelism.TP8, profile.maxClockMhz(), tSlo);
    return capT > 0 && capHost > 0 ? capHost / capT : 1;
  }

  private double capacity(RequestType t, TensorParallelism tp, int mhz, Slo slo) {
    return profile.capacityRps(t, tp, mhz, margin(slo));
  }

  private Slo margin(Slo slo) {
    return new Slo(slo.ttftP99Ms() * settings.sloMargin(), slo.tbtP99Ms() * settings.sloMargin());
  }
}
