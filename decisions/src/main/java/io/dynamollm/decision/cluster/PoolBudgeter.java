package io.dynamollm.decision.cluster;

import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SizeClass;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.TypeShape;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.ToDoubleFunction;

/**
 * Cluster epoch: which pools exist, which types each serves, and how many GPUs each gets — chosen among layouts by
 * the power they are predicted to draw at the forecast load.
 *
 * <p>Every candidate layout is a partition of the nine types into pools. Each pool is sized by the pool planner's own
 * capacity model ({@link PoolPlanner#size}): its types form a {@link Mix} (each type's share of the load, its lengths,
 * its own SLO), so the cost of mixing types — a short prompt waiting behind long prefills — is in the sizing, not a
 * separate penalty. The candidates:
 *
 * <ul>
 *   <li>one pool of every type (fewest instances, most interference);
 *   <li>a pool per prompt class (S, M, L) and one for short-and-medium prompts beside one for long ones;
 *   <li>a pool per type, with a type whose load would not fill {@code fillShare} of its pool's smallest instance merged
 *       into the next larger type's pool (LL takes everything), then those pools merged pair by pair — the merge that
 *       saves the most power first — as long as merging saves power;
 *   <li>the layout in force now.
 * </ul>
 *
 * Each pool gets the GPUs of its least-power single-configuration plan (whole instances: the planner then plans within
 * them); when those do not fit the cluster, the fewest-GPU plans, with the spare GPUs spent where they save the most
 * power; a layout that does not fit even so is left out. The layout with the least predicted power wins, except that
 * the layout in force stays while it is within {@code layoutHysteresis} of the best (changing pools costs cold starts).
 * When no layout fits, one pool gets every GPU and the allocation says it is short.
 */
public final class PoolBudgeter {

  /**
   * @param fillShare share of its smallest instance's capacity below which a type is merged into a larger type's pool
   * @param headroom pools are sized for this multiple of their forecast
   * @param layoutHysteresis the layout in force stays while its predicted power is within this share of the best
   * @param bootstrapShare share of every GPU's TP8 max-clock capacity the bootstrap pool plans for
   *     ({@link ClusterLayout})
   */
  public record Settings(double fillShare, double headroom, double layoutHysteresis, double bootstrapShare,
      double handoverSlack) {
    public Settings {
      if (!(fillShare >= 0 && fillShare <= 1)) {
        throw new IllegalArgumentException("fill-share must be within 0..1, got " + fillShare);
      }
      if (!(headroom >= 1) || Double.isInfinite(headroom)) {
        throw new IllegalArgumentException("headroom must be a finite number >= 1, got " + headroom);
      }
      if (!(layoutHysteresis >= 0 && layoutHysteresis < 1)) {
        throw new IllegalArgumentException("layout-hysteresis must be within [0, 1), got " + layoutHysteresis);
      }
      if (!(bootstrapShare > 0 && bootstrapShare <= 1)) {
        throw new IllegalArgumentException("bootstrap-share must be within (0, 1], got " + bootstrapShare);
      }
      if (!(handoverSlack >= 0 && handoverSlack < 1)) {
        throw new IllegalArgumentException("handover-slack must be within [0, 1), got " + handoverSlack);
      }
    }
  }

  /**
   * One pool for the coming epoch.
   *
   * @param name the pool's name: its largest type
   * @param nativeType that type
   * @param types the types it serves
   * @param loadRps the load it plans for (with headroom), req/s
   * @param gpus GPUs it may hold
   * @param powerW its predicted power at that load
   */
  public record PoolBudget(String name, RequestType nativeType, Set<RequestType> types, double loadRps, int gpus,
      double powerW) {
    public PoolBudget {
      types = Set.copyOf(types);
    }
  }

  /** The cluster's allocation. */
  public record Allocation(List<PoolBudget> pools, int gpusUsed, boolean shortOfGpus, double predictedPowerW,
      String reason) {
    public Allocation {
      pools = List.copyOf(pools);
    }

    /** The pool serving each type. */
    public Map<RequestType, String> routing() {
      Map<RequestType, String> r = new EnumMap<>(RequestType.class);
      pools.forEach(p -> p.types().forEach(t -> r.put(t, p.name())));
      return r;
    }
  }

  /**
   * What the budgeter is asked.
   *
   * @param loadRps the load a pool of these types would plan for (its forecast, without headroom), req/s: of their
   *     arrivals together, so peaks of types at different times do not add up
   * @param weights each type's share of the arrivals (any unit): the mixes' shares
   * @param shapes each type's lengths
   * @param slos every type's SLO
   * @param totalGpus GPUs the pools may hold
   * @param bounds the clock range
   * @param current the pools in force now (their type sets), empty for none
   * @param corrections capacity corrections of pools in force (by their type sets): what their telemetry says they
   *     need beyond the profile's capacity; a pool of other types starts without
   * @param keepCurrentWithin the layout in force stays while within this share of the best (at least the settings'
   *     hysteresis; a caller that cannot hand a change over raises it); infinite: the layout in force whatever the
   *     others would save, scaled down in proportion where it does not fit
   */
  public record Question(ToDoubleFunction<Set<RequestType>> loadRps, Map<RequestType, Double> weights,
      Map<RequestType, TypeShape> shapes, SloTable slos, int totalGpus, FrequencyBounds bounds,
      List<Set<RequestType>> current, Map<Set<RequestType>, Double> corrections, double keepCurrentWithin) {

    public Question(ToDoubleFunction<Set<RequestType>> loadRps, Map<RequestType, Double> weights,
        Map<RequestType, TypeShape> shapes, SloTable slos, int totalGpus, FrequencyBounds bounds,
        List<Set<RequestType>> current, Map<Set<RequestType>, Double> corrections) {
      this(loadRps, weights, shapes, slos, totalGpus, bounds, current, corrections, 0);
    }

    /** The same question, keeping the layout in force unless the best saves more than {@code share}. */
    public Question keepingCurrentWithin(double share) {
      return new Question(loadRps, weights, shapes, slos, totalGpus, bounds, current, corrections, share);
    }

    public Question {
      Objects.requireNonNull(loadRps, "loadRps");
      weights = Map.copyOf(weights);
      shapes = Map.copyOf(shapes);
      current = List.copyOf(current);
      corrections = Map.copyOf(corrections);
      Objects.requireNonNull(slos, "slos");
      Objects.requireNonNull(bounds, "bounds");
    }

    /** Per-type loads, as a question's load function (pools add up their types' loads). */
    public static ToDoubleFunction<Set<RequestType>> sumOf(Map<RequestType, Double> perType) {
      Map<RequestType, Double> copy = Map.copyOf(perType);
      return types -> {
        double l = 0;
        for (RequestType t : types) {
          l += copy.getOrDefault(t, 0.0);
        }
        return l;
      };
    }
  }

  /** A question's pool loads with the budgeter's headroom and the pools' corrections, each asked once. */
  private final class Loads {
    final Question q;
    final Map<Set<RequestType>, Double> memo = new java.util.HashMap<>();

    Loads(Question q) {
      this.q = q;
    }

    double of(Set<RequestType> types) {
      return memo.computeIfAbsent(EnumSet.copyOf(types), k -> Math.max(0, q.loadRps().applyAsDouble(k))
          * settings.headroom() * Math.max(1, q.corrections().getOrDefault(k, 1.0)));
    }
  }

  private final PoolPlanner planner;
  private final Settings settings;

  /** Pools are sized by {@code planner}'s capacity model. */
  public PoolBudgeter(PoolPlanner planner, Settings settings) {
    this.planner = Objects.requireNonNull(planner, "planner");
    this.settings = Objects.requireNonNull(settings, "settings");
  }

  public Settings settings() {
    return settings;
  }

  public PoolPlanner planner() {
    return planner;
  }

  /** One candidate layout, sized. */
  private record Candidate(String name, List<Set<RequestType>> pools, List<PoolPlanner.Sizing> sizes, int[] gpus,
      double powerW, boolean fits) {}

  public Allocation allocate(Question q) {
    Loads load = new Loads(q);
    Map<String, List<Set<RequestType>>> layouts = new LinkedHashMap<>();
    layouts.put("one pool", List.of(EnumSet.allOf(RequestType.class)));
    layouts.put("a pool per prompt class", byInput(List.of(List.of(SizeClass.S), List.of(SizeClass.M),
        List.of(SizeClass.L))));
    layouts.put("short and medium prompts apart from long ones", byInput(List.of(List.of(SizeClass.S, SizeClass.M),
        List.of(SizeClass.L))));
    List<Set<RequestType>> perType = perType(load, q);
    layouts.put("a pool per type", perType);
    if (!q.current().isEmpty() && covers(q.current())) {
      layouts.put("the layout in force", q.current());
    }
    List<Candidate> sized = new ArrayList<>();
    for (var e : layouts.entrySet()) {
      sized.add(size(e.getKey(), withLoad(e.getValue(), load), load, q));
    }
    sized.add(agglomerate(perType, load, q));
    Candidate best = null;
    Candidate inForce = null;
    for (Candidate c : sized) {
      if (c.fits() && (best == null || c.powerW() < best.powerW() - 1e-6)) {
        best = c;
      }
      if (c.name().equals("the layout in force")) {
        inForce = c;
      }
    }
    if (inForce != null && Double.isInfinite(q.keepCurrentWithin()) && !inForce.fits()) {
      return scaledDown(inForce, load, q); // the layout in force whatever the others would save: short in proportion
    }
    if (best == null) {
      return inForce != null ? scaledDown(inForce, load, q) : shortOfGpus(load, q);
    }
    String reason = String.format(Locale.ROOT, "%s: %.1f kW predicted on %d of %d GPUs", best.name(),
        best.powerW() / 1e3, sum(best.gpus()), q.totalGpus());
    if (inForce != null && inForce.fits() && inForce != best
        && inForce.powerW() <= best.powerW() * (1 + Math.max(settings.layoutHysteresis(), q.keepCurrentWithin()))) {
      reason = String.format(Locale.ROOT, "kept the layout in force (%.1f kW predicted): %s would save only %.1f %%",
          inForce.powerW() / 1e3, best.name(), 100 * (1 - best.powerW() / inForce.powerW()));
      best = inForce;
    }
    List<PoolBudget> pools = new ArrayList<>();
    for (int i = 0; i < best.pools().size(); i++) {
      Set<RequestType> types = best.pools().get(i);
      RequestType largest = largest(types);
      pools.add(new PoolBudget(largest.name(), largest, types, load.of(types), best.gpus()[i],
          best.sizes().get(i).powerW()));
    }
    return new Allocation(pools, sum(best.gpus()), false, best.powerW(), reason);
  }

  // ------------------------------------------------------------------ candidates

  /** Pools by prompt class groups; output classes together. */
  private static List<Set<RequestType>> byInput(List<List<SizeClass>> groups) {
    List<Set<RequestType>> out = new ArrayList<>();
    for (List<SizeClass> g : groups) {
      Set<RequestType> s = EnumSet.noneOf(RequestType.class);
      for (RequestType t : RequestType.values()) {
        if (g.contains(t.input())) {
          s.add(t);
        }
      }
      out.add(s);
    }
    return out;
  }

  /**
   * A pool per type; a type whose load would not fill {@code fillShare} of one instance of its own smallest feasible
   * configuration joins the smallest larger type that keeps a pool (LL takes everything).
   */
  private List<Set<RequestType>> perType(Loads load, Question q) {
    Map<RequestType, RequestType> host = new EnumMap<>(RequestType.class);
    List<RequestType> order = new ArrayList<>(List.of(RequestType.values()));
    order.sort(Comparator.comparingInt((RequestType t) -> size(t)).thenComparing(Comparator.naturalOrder()));
    Set<RequestType> own = EnumSet.allOf(RequestType.class);
    Map<RequestType, Set<RequestType>> members = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      members.put(t, EnumSet.of(t));
    }
    Map<RequestType, Double> carried = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      carried.put(t, load.of(Set.of(t)));
    }
    for (RequestType t : order) {
      if (t == RequestType.LL) {
        break;
      }
      double fill = settings.fillShare() * smallestInstance(t, q);
      if (carried.get(t) >= fill && carried.get(t) > 0) {
        continue;
      }
      RequestType target = null;
      for (RequestType u : order) {
        if (u != t && u.covers(t) && own.contains(u) && (target == null || size(u) < size(target)
            || (size(u) == size(target) && carried.get(u) > carried.get(target)))) {
          target = u;
        }
      }
      own.remove(t);
      host.put(t, target);
      members.get(target).addAll(members.get(t));
      carried.put(target, load.of(members.get(target)));
    }
    for (RequestType t : own) {
      host.put(t, t);
    }
    for (RequestType t : RequestType.values()) {
      RequestType h = host.get(t);
      while (host.get(h) != h) {
        h = host.get(h);
      }
      host.put(t, h);
    }
    Map<RequestType, Set<RequestType>> pools = new EnumMap<>(RequestType.class);
    host.forEach((t, h) -> pools.computeIfAbsent(h, k -> EnumSet.noneOf(RequestType.class)).add(t));
    return new ArrayList<>(pools.values());
  }

  /** The capacity of one instance of {@code t} alone at its smallest feasible TP and the top clock (0: none). */
  private double smallestInstance(RequestType t, Question q) {
    Mix alone = Mix.single(t, q.shapes().get(t), q.slos().of(t));
    for (var tp : planner.profile().tensorParallelisms()) {
      double cap = planner.capacityRps(alone, tp, q.bounds());
      if (cap > 0) {
        return cap;
      }
    }
    return 0;
  }

  /**
   * From {@code start}, merge the two pools whose merge saves the most predicted power (a pool merges into one whose
   * largest type covers all of its types), while a merge saves power; the best layout seen.
   */
  private Candidate agglomerate(List<Set<RequestType>> start, Loads load, Question q) {
    List<Set<RequestType>> pools = withLoad(start, load);
    Candidate best = size("pools per type merged where it saves power", pools, load, q);
    while (pools.size() > 1) {
      Candidate step = null;
      for (int i = 0; i < pools.size(); i++) {
        for (int j = 0; j < pools.size(); j++) {
          if (i == j || !largest(pools.get(j)).covers(largest(pools.get(i)))) {
            continue;
          }
          List<Set<RequestType>> merged = new ArrayList<>();
          Set<RequestType> union = EnumSet.copyOf(pools.get(i));
          union.addAll(pools.get(j));
          for (int k = 0; k < pools.size(); k++) {
            if (k != i && k != j) {
              merged.add(pools.get(k));
            }
          }
          merged.add(union);
          Candidate c = size("pools per type merged where it saves power", merged, load, q);
          if (step == null || better(c, step)) {
            step = c;
          }
        }
      }
      if (step == null || !better(step, best)) {
        break;
      }
      best = step;
      pools = step.pools();
    }
    return best;
  }

  /** A fitting layout beats one that does not; then less power wins. */
  private static boolean better(Candidate a, Candidate b) {
    if (a.fits() != b.fits()) {
      return a.fits();
    }
    return a.powerW() < b.powerW() - 1e-6;
  }

  // ------------------------------------------------------------------ sizing

  private Candidate size(String name, List<Set<RequestType>> pools, Loads load, Question q) {
    List<PoolPlanner.Sizing> sizes = new ArrayList<>();
    int least = 0;
    int fewest = 0;
    for (Set<RequestType> p : pools) {
      PoolPlanner.Sizing s = planner.size(mix(p, q), load.of(p), q.bounds());
      sizes.add(s);
      least += s.gpus();
      fewest += s.fewestGpus();
    }
    int[] gpus = new int[pools.size()];
    double power = 0;
    boolean feasible = sizes.stream().allMatch(PoolPlanner.Sizing::feasible);
    if (least <= q.totalGpus()) {
      for (int i = 0; i < gpus.length; i++) {
        gpus[i] = sizes.get(i).gpus();
        power += sizes.get(i).powerW();
      }
      return new Candidate(name, pools, sizes, gpus, power, feasible);
    }
    if (fewest > q.totalGpus()) {
      return new Candidate(name, pools, sizes, gpus, Double.POSITIVE_INFINITY, false);
    }
    // the fewest-GPU plans, then spend what is left where it saves the most power per GPU
    int spare = q.totalGpus() - fewest;
    boolean[] upgraded = new boolean[gpus.length];
    for (int i = 0; i < gpus.length; i++) {
      gpus[i] = sizes.get(i).fewestGpus();
      power += sizes.get(i).fewestPowerW();
    }
    while (true) {
      int pick = -1;
      double bestGain = 0;
      for (int i = 0; i < gpus.length; i++) {
        PoolPlanner.Sizing s = sizes.get(i);
        int extra = s.gpus() - s.fewestGpus();
        double gain = s.fewestPowerW() - s.powerW();
        if (!upgraded[i] && extra > 0 && extra <= spare && gain / extra > bestGain) {
          bestGain = gain / extra;
          pick = i;
        }
      }
      if (pick < 0) {
        break;
      }
      upgraded[pick] = true;
      spare -= sizes.get(pick).gpus() - sizes.get(pick).fewestGpus();
      gpus[pick] = sizes.get(pick).gpus();
      power += sizes.get(pick).powerW() - sizes.get(pick).fewestPowerW();
    }
    List<PoolPlanner.Sizing> used = new ArrayList<>();
    for (int i = 0; i < gpus.length; i++) {
      PoolPlanner.Sizing s = sizes.get(i);
      used.add(upgraded[i] ? s : new PoolPlanner.Sizing(s.fewestGpus(), s.fewestPowerW(), s.fewestGpus(),
          s.fewestPowerW(), s.feasible()));
    }
    return new Candidate(name, pools, used, gpus, power, feasible);
  }

  /**
   * Nothing fits, not even the layout in force: it keeps its pools (changing them now would only add cold starts),
   * their fewest-GPU needs shrunk in proportion to the cluster — in whole TP8 blocks where a pool needs at least eight
   * GPUs, TP2 blocks below — and says it is short.
   */
  private Allocation scaledDown(Candidate c, Loads load, Question q) {
    int need = 0;
    for (PoolPlanner.Sizing s : c.sizes()) {
      need += Math.max(s.fewestGpus(), 2);
    }
    int[] gpus = new int[c.pools().size()];
    int used = 0;
    for (int i = 0; i < gpus.length; i++) {
      int n = Math.max(c.sizes().get(i).fewestGpus(), 2);
      int block = n >= 8 ? 8 : 2;
      gpus[i] = Math.max(block, (int) Math.floor((double) n * q.totalGpus() / need / block) * block);
      used += gpus[i];
    }
    while (used > q.totalGpus()) {
      int largest = 0;
      for (int i = 1; i < gpus.length; i++) {
        largest = gpus[i] > gpus[largest] ? i : largest;
      }
      int block = gpus[largest] > 8 ? 8 : 2;
      gpus[largest] -= block;
      used -= block;
    }
    for (int i = 0; i < gpus.length && used < q.totalGpus(); i++) {
      int add = q.totalGpus() - used; // what rounding left over goes to the first pools
      gpus[i] += add - add % 2;
      used += add - add % 2;
    }
    List<PoolBudget> pools = new ArrayList<>();
    double power = 0;
    for (int i = 0; i < gpus.length; i++) {
      Set<RequestType> types = c.pools().get(i);
      RequestType largest = largest(types);
      double p = Math.min(c.sizes().get(i).fewestPowerW(), c.sizes().get(i).powerW());
      pools.add(new PoolBudget(largest.name(), largest, types, load.of(types), gpus[i], p));
      power += p;
    }
    return new Allocation(pools, used, true, power, String.format(Locale.ROOT, "no layout fits %d GPUs (the one in"
        + " force needs %d): kept it, every pool short in proportion", q.totalGpus(), need));
  }

  /** Nothing fits and no layout is in force: one pool of every type on every GPU. */
  private Allocation shortOfGpus(Loads load, Question q) {
    Set<RequestType> all = EnumSet.allOf(RequestType.class);
    double l = load.of(all);
    PoolPlanner.Sizing s = planner.size(mix(all, q), l, q.bounds());
    PoolBudget one = new PoolBudget(RequestType.LL.name(), RequestType.LL, all, l, q.totalGpus(),
        Math.min(s.fewestPowerW(), s.powerW()));
    return new Allocation(List.of(one), q.totalGpus(), true, one.powerW(), String.format(Locale.ROOT,
        "no layout fits %d GPUs (one pool alone needs %d): one pool on every GPU, short", q.totalGpus(),
        s.fewestGpus()));
  }

  /**
   * The mix of a pool's types, weighted by their shares; a pool of types without any counts them alike. The shares are
   * rounded to a 5 % grid of each pool's total first, so mixes of similar epochs are the same mix (the profile
   * remembers its answers per mix).
   */
  Mix mix(Set<RequestType> types, Question q) {
    Map<RequestType, Double> w = new EnumMap<>(RequestType.class);
    double total = 0;
    for (RequestType t : types) {
      total += Math.max(0, q.weights().getOrDefault(t, 0.0));
    }
    for (RequestType t : types) {
      double share = total > 0 ? Math.max(0, q.weights().getOrDefault(t, 0.0)) / total : 1.0 / types.size();
      w.put(t, Math.round(share * 20) / 20.0);
    }
    if (w.values().stream().allMatch(v -> v == 0)) {
      types.forEach(t -> w.put(t, 1.0));
    }
    return Mix.of(w, q.shapes()::get, q.slos()::of);
  }

  /** Every type belongs to a pool; types without load are left where they are (they route by the largest type). */
  private static List<Set<RequestType>> withLoad(List<Set<RequestType>> pools, Loads load) {
    List<Set<RequestType>> out = new ArrayList<>();
    List<Set<RequestType>> idle = new ArrayList<>();
    for (Set<RequestType> p : pools) {
      if (load.of(p) > 0) {
        out.add(EnumSet.copyOf(p));
      } else if (!p.isEmpty()) {
        idle.add(p);
      }
    }
    if (out.isEmpty()) {
      out.add(EnumSet.allOf(RequestType.class));
      return out;
    }
    // a pool with no load would hold instances for nothing: its types join the smallest pool that covers them
    for (Set<RequestType> p : idle) {
      for (RequestType t : p) {
        Set<RequestType> home = null;
        for (Set<RequestType> o : out) {
          if (largest(o).covers(t) && (home == null || size(largest(o)) < size(largest(home)))) {
            home = o;
          }
        }
        if (home == null) {
          home = out.stream().max(Comparator.comparingInt(o -> size(largest(o)))).orElseThrow();
        }
        home.add(t);
      }
    }
    return out;
  }

  private static boolean covers(List<Set<RequestType>> pools) {
    Set<RequestType> all = EnumSet.noneOf(RequestType.class);
    pools.forEach(all::addAll);
    return all.size() == RequestType.values().length;
  }

  static RequestType largest(Set<RequestType> types) {
    RequestType best = null;
    for (RequestType t : types) {
      if (best == null || size(t) > size(best) || (size(t) == size(best) && t.compareTo(best) > 0)) {
        best = t;
      }
    }
    return best;
  }

  private static int sum(int[] a) {
    int s = 0;
    for (int v : a) {
      s += v;
    }
    return s;
  }

  static int size(RequestType t) {
    return t.input().ordinal() + t.output().ordinal();
  }
}
