package io.dynamollm.decision.cluster;

import io.dynamollm.decision.DecisionNote;
import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolLayout;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.TypeShape;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * The cluster level's epoch logic, once: what the live cluster manager and the simulator's DynamoLLM policy both run.
 *
 * <ul>
 *   <li>Arrivals per type ({@link #observe}) feed the {@link LoadForecaster}; completed requests ({@link #completed})
 *       the {@link ShapeLearner}.
 *   <li>Each cluster epoch ({@link #epoch}): the {@link ClusterLayout} on the forecasts (the epoch and a start-up time
 *       ahead), the learned lengths, the SLOs, the cluster's GPUs and clock bounds, and each type's capacity correction
 *       (from the telemetry of the pool that served it). While the layout is the bootstrap one (too little history)
 *       the next epoch comes one pool epoch later, else one cluster epoch later.
 *   <li>A layout that moves types between pools hands over: for a start-up time (and a keep-alive) every pool of the
 *       old layout keeps its GPUs and load beside the new pools — a pool the layout drops keeps serving, as the larger
 *       pool the router falls back to, until the pools taking its types have started — when the cluster has room for
 *       both; then the new budgets alone ({@link #handover}). Without room the new budgets go out at once.
 *   <li>An SLO, limits or GPU-host change ({@link #requestRebudget}) brings the next epoch within
 *       {@code rebudgetDelayMs}; further changes in the meantime do not postpone it.
 *   <li>Each pool epoch ({@link #poolForecasts}): every pool's forecast for its next pool epoch — none while a seen
 *       type's history is partial (it would read low).
 *   <li>A pool whose telemetry says its plan falls short ({@link #poolReport}) gets GPUs no pool holds, at most once a
 *       pool epoch ({@link ClusterLayout#topUp}).
 * </ul>
 *
 * <p>Time is an argument; the driver calls {@link #epoch} when {@link #due} and {@link #handover} at its keep-alives.
 */
public final class ClusterStep {

  /**
   * One cluster epoch's outcome.
   *
   * @param epoch its number
   * @param assign each pool's budget
   * @param retire budgets of zero for the pools the layout no longer has
   * @param layout what to store (a manager that takes over resumes it)
   * @param bootstrap the layout is the bootstrap one
   * @param decision for the decision log
   */
  public record Epoch(long epoch, List<PoolBudget> assign, List<PoolBudget> retire, PoolLayout layout,
      boolean bootstrap, DecisionNote decision) {
    public Epoch {
      assign = List.copyOf(assign);
      retire = List.copyOf(retire);
    }
  }

  /** A pool budget changed between epochs (GPUs added, or a power governor step): the new budget, and why. */
  public record TopUp(PoolBudget budget, PoolLayout layout, DecisionNote decision) {}

  /** A layout change that cannot be handed over now: the layout in force stays (scaled down if it does not fit). */
  static final double KEEP_WITHOUT_TRANSITION = Double.POSITIVE_INFINITY;

  private final DecisionSettings settings;
  private final Profile profile;
  private final long startupMs;
  private final LoadForecaster forecaster;
  private final ShapeLearner shapes;
  private final ClusterLayout layouts;
  private final Map<String, PoolBudget> assigned = new LinkedHashMap<>();
  private final Map<String, PoolTelemetry> telemetry = new HashMap<>();
  /** Each pool's mean power over its last telemetry window, for the power governor. */
  private final Map<String, PowerCap.Measured> measured = new HashMap<>();
  private final Map<String, Double> lastTopUpMs = new HashMap<>();
  /** The budgets that take over once the handover of a layout change is over (empty: none under way). */
  private List<PoolBudget> handoverTo = List.of();
  private List<PoolBudget> handoverRetire = List.of();
  private double handoverAtMs = Double.POSITIVE_INFINITY;
  private long epoch;
  private int clusterGpus;
  private SloTable slos;
  private boolean seenTraffic;
  private double nextDueMs;
  private double predictedPowerW;
  /** The operator's watt budget of the epoch in force, W (0: none), and how it is held. */
  private double powerBudgetW;
  private FrequencyBounds limitBounds = FrequencyBounds.H100_DEFAULT;
  private final PowerCap power;
  private PowerCap.Allocation allocation = PowerCap.Allocation.NONE;

  /**
   * The first epoch is due {@code rebudgetDelayMs} after {@code nowMs} (GPU hosts join meanwhile).
   *
   * @param transitions what a pool change costs where the pools run (start-up time: forecasts look that far ahead)
   */
  public ClusterStep(Profile profile, DecisionSettings settings, PoolPlanner.Transitions transitions, double nowMs) {
    this.profile = Objects.requireNonNull(profile, "profile");
    this.settings = Objects.requireNonNull(settings, "settings");
    this.startupMs = transitions.startupMs();
    this.forecaster = new LoadForecaster(settings.forecaster());
    this.shapes = new ShapeLearner(settings.shapes(), profile::shape);
    PoolPlanner planner = new PoolPlanner(profile, settings.planner(), transitions);
    this.layouts = new ClusterLayout(new PoolBudgeter(planner, settings.budgeter()));
    this.power = new PowerCap(settings.power(), profile.idlePowerW(), profile.clockLevelsMhz());
    this.nextDueMs = nowMs + settings.rebudgetDelayMs();
  }

  /** The layouts (budgeter, planner) the cluster uses. */
  public ClusterLayout layouts() {
    return layouts;
  }

  /** {@code n} arrivals of {@code type} a router saw up to {@code nowMs}, {@code promptTokens} prompt tokens in all. */
  public void observe(double nowMs, RequestType type, int n, long promptTokens) {
    if (n > 0) {
      forecaster.observe((long) nowMs, type, n, promptTokens);
      seenTraffic = true;
    }
  }

  /** The arrivals counted in [fromMs, toMs), for keeping elsewhere (a manager that takes over restores them). */
  public LoadForecaster.Snapshot arrivals(long fromMs, long toMs) {
    return forecaster.snapshot(fromMs, toMs);
  }

  /**
   * Arrivals an earlier manager counted (see {@link LoadForecaster#restore}): the forecasts go on from its history
   * instead of starting over.
   */
  public void restoreArrivals(LoadForecaster.Snapshot history) {
    forecaster.restore(history);
    if (!history.buckets().isEmpty()) {
      seenTraffic = true;
    }
  }

  /** A request routed as {@code type} completed with these lengths. */
  public void completed(double nowMs, RequestType type, int promptTokens, int outputTokens) {
    shapes.observe(type, promptTokens, outputTokens, nowMs);
  }

  /** The lengths the pools plan with now. */
  public Map<RequestType, TypeShape> shapes(double nowMs) {
    return shapes.shapes(nowMs);
  }

  /** When the next cluster epoch is due. */
  public double nextDueMs() {
    return nextDueMs;
  }

  public boolean due(double nowMs) {
    return nowMs >= nextDueMs;
  }

  /** Budget again within the rebudget delay; a later request never postpones an earlier one. */
  public void requestRebudget(double nowMs) {
    nextDueMs = Math.min(nextDueMs, nowMs + settings.rebudgetDelayMs());
  }

  /** The cluster epoch without a watt budget. */
  public Epoch epoch(double nowMs, SloTable epochSlos, int gpus, FrequencyBounds bounds) {
    return epoch(nowMs, epochSlos, gpus, bounds, 0);
  }

  /**
   * The cluster epoch. {@code gpus} are the GPUs the pools may hold (the hosts' within the operator's budget);
   * {@code powerBudgetW} the most GPU power they may draw (0: none), held as {@link PowerCap} says.
   */
  public Epoch epoch(double nowMs, SloTable epochSlos, int gpus, FrequencyBounds bounds, double powerBudgetW) {
    if (gpus <= 0) {
      nextDueMs = nowMs + settings.rebudgetDelayMs();
      return new Epoch(epoch, List.of(), List.of(), layout(), false, note("no budget",
          "no GPU host in the cluster yet; trying again in " + settings.rebudgetDelayMs() / 1000 + " s", 0));
    }
    finishHandover(); // a layout change still under way is overtaken by this one
    epoch++;
    clusterGpus = gpus;
    slos = epochSlos;
    lastTopUpMs.clear();
    forecaster.forgetBefore((long) nowMs); // memory stays bounded on long runs
    Map<RequestType, TypeShape> shapeNow = shapes.shapes(nowMs);
    ClusterLayout.Layout layout = decideLayout(nowMs, epochSlos, gpus, bounds, shapeNow);
    this.powerBudgetW = powerBudgetW;
    this.limitBounds = bounds;
    allocation = power.allocate(powerBudgetW, demands(layout), gpus, layout.bootstrap());
    // the epoch's budgets as the layout and the watt budget's caps make them; sent with the power governor's steps
    List<PoolBudget> epochBudgets = capped(budgets(layout, epochSlos, shapeNow), allocation);
    List<PoolBudget> assign = power.carry(epochBudgets);
    List<PoolBudget> retire = retired(assign, bounds);
    String handoverNote = "";
    List<PoolBudget> send = assign;
    List<PoolBudget> retireNow = retire;
    boolean moved = !sameTypes(currentTypes(), layout.pools());
    if (moved && !assigned.isEmpty()) {
      Handover h = handover(assign, retire, gpus);
      if (h.kept()) {
        handoverTo = List.copyOf(epochBudgets); // its end carries the governor's steps of then
        handoverRetire = List.copyOf(h.retireLater());
        handoverAtMs = nowMs + startupMs + settings.poolKeepAliveMs();
        send = h.during();
        retireNow = h.retireAtOnce();
        handoverNote = String.format(Locale.ROOT, "; hands over for %.0f s", (handoverAtMs - nowMs) / 1000);
      }
    }
    assigned.clear();
    send.forEach(b -> assigned.put(b.pool(), b));
    telemetry.keySet().retainAll(assigned.keySet());
    measured.keySet().retainAll(assigned.keySet());
    nextDueMs = nowMs + (layout.bootstrap() ? settings.poolEpochMs() : settings.clusterEpochMs());
    double predicted = allocation.capW().isEmpty() ? layout.predictedPowerW() : allocation.cappedW();
    double saving = epoch == 1 ? 0 : predictedPowerW - predicted;
    predictedPowerW = predicted;
    String action = "epoch " + epoch + ": " + assign.stream()
        .map(b -> String.format(Locale.ROOT, "%s=%d GPUs %s", b.pool(), b.gpus(), b.types().stream().sorted()
            .toList())).toList();
    return new Epoch(epoch, send, retireNow, layout(), layout.bootstrap(), note(action, layout.reason()
        + handoverNote + (allocation.reason().isEmpty() ? "" : "; " + allocation.reason()), saving));
  }

  /**
   * The layout an epoch now decides for {@code slos} on {@code gpus}: the budgeter's choice, or the layout in force
   * kept where there is no room to hand a change over. Reads the step's state, changes nothing.
   */
  private ClusterLayout.Layout decideLayout(double nowMs, SloTable epochSlos, int gpus, FrequencyBounds bounds,
      Map<RequestType, TypeShape> shapeNow) {
    ClusterLayout.Forecasts forecast = forecasts(nowMs, settings.clusterEpochMs());
    // each pool's capacity correction, for the budgeter's look at the layout in force
    Map<Set<RequestType>, Double> corrections = new HashMap<>();
    List<Set<RequestType>> current = currentTypes();
    assigned.forEach((pool, b) -> {
      if (!b.types().isEmpty()) {
        PoolTelemetry t = telemetry.get(pool);
        if (t != null && t.capacityCorrection() > 1) {
          corrections.put(b.types(), t.capacityCorrection());
        }
      }
    });
    ClusterLayout.Layout layout = layouts.decide(forecast, shapeNow, epochSlos, gpus, bounds, corrections, current);
    if (!current.isEmpty() && !sameTypes(current, layout.pools()) && !roomToHandOver(layout, gpus)) {
      // no room beside the pools in force for the new ones to start before those go: a change now would leave types
      // without their pool for a cold start. The layout in force stays, sized to what it needs (the GPUs it gives
      // back are the room the next epoch hands a change over in) or, where it does not fit, short in proportion. A
      // layout in force that gives no GPU back would never make room by waiting: the change goes ahead, handed over
      // as room allows, where the new layout leaves the handover slack free (the old pools keep serving in it)
      ClusterLayout.Layout keep = layouts.decide(forecast, shapeNow, epochSlos, gpus, bounds, corrections, current,
          KEEP_WITHOUT_TRANSITION);
      int held = assigned.values().stream().mapToInt(PoolBudget::gpus).sum();
      int kept = keep.pools().stream().mapToInt(ClusterLayout.Pool::gpus).sum();
      int next = layout.pools().stream().mapToInt(ClusterLayout.Pool::gpus).sum();
      if (kept < held || next > (1 - settings.budgeter().handoverSlack()) * gpus) {
        layout = new ClusterLayout.Layout(keep.pools(), keep.bootstrap(), keep.predictedPowerW(), keep.reason()
            + " (" + layout.reason() + " next, once there is room to hand it over)");
      }
    }
    return layout;
  }

  /**
   * What the cluster would run with {@code slos} on {@code gpus} within {@code bounds} if it budgeted now (a plan
   * preview): the same layout and budgets an epoch would decide, under the current forecast, without deciding it —
   * nothing in the step changes.
   */
  public Proposal propose(double nowMs, SloTable slos, int gpus, FrequencyBounds bounds) {
    return propose(nowMs, slos, gpus, bounds, 0);
  }

  /** As {@link #propose(double, SloTable, int, FrequencyBounds)} under the watt budget {@code powerBudgetW}. */
  public Proposal propose(double nowMs, SloTable slos, int gpus, FrequencyBounds bounds, double powerBudgetW) {
    if (gpus <= 0) {
      return new Proposal(new ClusterLayout.Layout(List.of(), false, 0, "no GPU host in the cluster yet"), List.of());
    }
    Map<RequestType, TypeShape> shapeNow = shapes.shapes(nowMs);
    ClusterLayout.Layout layout = decideLayout(nowMs, slos, gpus, bounds, shapeNow);
    PowerCap.Allocation a = power.allocate(powerBudgetW, demands(layout), gpus, layout.bootstrap());
    if (!a.reason().isEmpty()) {
      layout = new ClusterLayout.Layout(layout.pools(), layout.bootstrap(), a.capW().isEmpty()
          ? layout.predictedPowerW() : a.cappedW(), layout.reason() + "; " + a.reason());
    }
    return new Proposal(layout, capped(budgets(layout, slos, shapeNow), a));
  }

  /** What the watt budget sees of a layout: each pool's types, GPUs and predicted peak power. */
  private static List<PowerCap.PoolDemand> demands(ClusterLayout.Layout layout) {
    return layout.pools().stream().map(p -> new PowerCap.PoolDemand(p.name(), p.types(), p.gpus(),
        p.predictedPowerW())).toList();
  }

  private static List<PoolBudget> capped(List<PoolBudget> budgets, PowerCap.Allocation a) {
    return budgets.stream().map(b -> a.capW().containsKey(b.pool()) ? b.withPowerCap(a.capW().get(b.pool())) : b)
        .toList();
  }

  /** The type sets of the pools in force that serve types. */
  private List<Set<RequestType>> currentTypes() {
    List<Set<RequestType>> current = new ArrayList<>();
    assigned.values().stream().filter(b -> !b.types().isEmpty()).forEach(b -> current.add(b.types()));
    return current;
  }

  /** A proposed layout and the budgets an epoch would hand its pools. */
  public record Proposal(ClusterLayout.Layout layout, List<PoolBudget> budgets) {
    public Proposal {
      budgets = List.copyOf(budgets);
    }
  }

  /**
   * The end of a layout change's handover: the new budgets alone (old pools shrink to them, dropped pools drain); empty
   * while none is due.
   */
  public Optional<Epoch> handover(double nowMs) {
    if (nowMs < handoverAtMs) {
      return Optional.empty();
    }
    List<PoolBudget> retire = handoverRetire;
    List<PoolBudget> to = finishHandover();
    return Optional.of(new Epoch(epoch, to, retire, layout(), false, note("handover done: " + to.stream()
        .map(b -> String.format(Locale.ROOT, "%s=%d GPUs", b.pool(), b.gpus())).toList(), "the new pools have had a"
        + " start-up time; " + (retire.isEmpty() ? "no pool is dropped" : "drops " + retire.stream()
        .map(PoolBudget::pool).toList()), 0)));
  }

  /**
   * Ends a handover under way: the new budgets alone, with the power governor's steps taken meanwhile, are the pools'
   * budgets now (returned; empty when none was under way).
   */
  private List<PoolBudget> finishHandover() {
    if (handoverAtMs == Double.POSITIVE_INFINITY) {
      return List.of();
    }
    List<PoolBudget> to = power.carry(handoverTo);
    handoverRetire.forEach(r -> assigned.remove(r.pool()));
    to.forEach(b -> assigned.put(b.pool(), b));
    handoverTo = List.of();
    handoverRetire = List.of();
    handoverAtMs = Double.POSITIVE_INFINITY;
    return to;
  }

  /**
   * The forecaster's view of [now, now + length) with a start-up time's lead, each pool's asked once: the history's
   * state, each pool's load to plan for, each type's recent rate.
   */
  private ClusterLayout.Forecasts forecasts(double nowMs, long lengthMs) {
    Map<Set<RequestType>, LoadForecaster.Forecast> memo = new HashMap<>();
    java.util.function.Function<Set<RequestType>, LoadForecaster.Forecast> of = types -> memo.computeIfAbsent(
        java.util.EnumSet.copyOf(types), k -> forecaster.forecast(k, (long) nowMs, lengthMs, startupMs));
    Map<RequestType, Double> weights = forecaster.recentMeans((long) nowMs);
    boolean seen = seenTraffic;
    return new ClusterLayout.Forecasts() {
      @Override
      public boolean seen() {
        return seen;
      }

      @Override
      public boolean partial() {
        return seen && of.apply(java.util.EnumSet.allOf(RequestType.class)).partialHistory();
      }

      @Override
      public double planRps(Set<RequestType> types) {
        return types.isEmpty() ? 0 : of.apply(types).planRps();
      }

      @Override
      public Map<RequestType, Double> weights() {
        return weights;
      }
    };
  }

  /** Whether the pools {@code next} adds fit beside what the pools in force hold now. */
  private List<PoolBudget> budgets(ClusterLayout.Layout layout, SloTable slos, Map<RequestType, TypeShape> shapes) {
    List<PoolBudget> out = new ArrayList<>();
    for (ClusterLayout.Pool p : layout.pools()) {
      out.add(budget(epoch, p, slos, shapes));
    }
    return out;
  }

  /** Retirements of the pools in force that {@code assign} has no budget for. */
  private List<PoolBudget> retired(List<PoolBudget> assign, FrequencyBounds bounds) {
    List<PoolBudget> out = new ArrayList<>();
    for (String old : assigned.keySet()) {
      if (assign.stream().noneMatch(b -> b.pool().equals(old))) {
        out.add(PoolBudget.retire(old, epoch, bounds));
      }
    }
    return out;
  }

  /**
   * How a layout change is handed over.
   *
   * @param during the budgets while the new pools start
   * @param retireLater dropped pools that serve as fallbacks meanwhile
   * @param retireAtOnce dropped pools the cluster has no room to keep
   * @param kept whether any old pool keeps GPUs beyond the new budgets
   */
  private record Handover(List<PoolBudget> during, List<PoolBudget> retireLater, List<PoolBudget> retireAtOnce,
      boolean kept) {}

  /**
   * The new layout's budgets first; then, as far as the cluster has room, the old pools keep what they held beyond
   * them — continuing pools up to their old GPUs, dropped ones their old GPUs as fallbacks.
   */
  private Handover handover(List<PoolBudget> assign, List<PoolBudget> retire, int gpus) {
    int room = gpus - assign.stream().mapToInt(PoolBudget::gpus).sum();
    List<PoolBudget> during = new ArrayList<>();
    boolean kept = false;
    for (PoolBudget b : assign) {
      PoolBudget old = assigned.get(b.pool());
      int extra = old == null ? 0 : Math.max(0, Math.min(room, old.gpus() - b.gpus()));
      room -= extra;
      kept |= extra > 0;
      during.add(extra == 0 && (old == null || old.loadRps() <= b.loadRps()) ? b
          : b.withGpus(b.gpus() + extra, Math.max(b.loadRps(), old.loadRps())));
    }
    List<PoolBudget> retireLater = new ArrayList<>();
    List<PoolBudget> retireAtOnce = new ArrayList<>();
    for (PoolBudget r : retire) {
      PoolBudget old = assigned.get(r.pool());
      if (old.gpus() <= room) {
        room -= old.gpus();
        // a dropped pool serves no type of its own any more: it serves as the larger pool requests fall back to
        during.add(new PoolBudget(old.pool(), epoch, old.gpus(), old.nativeType(), Set.of(), Map.of(),
            old.loadRps(), Map.of(), Map.of(), old.frequencyBounds()));
        retireLater.add(r);
        kept = true;
      } else {
        retireAtOnce.add(r);
      }
    }
    return new Handover(during, retireLater, retireAtOnce, kept);
  }

  private boolean roomToHandOver(ClusterLayout.Layout next, int gpus) {
    int held = assigned.values().stream().mapToInt(PoolBudget::gpus).sum();
    int added = 0;
    for (ClusterLayout.Pool p : next.pools()) {
      PoolBudget old = assigned.get(p.name());
      added += Math.max(0, p.gpus() - (old == null ? 0 : old.gpus()));
    }
    return held + added <= gpus;
  }

  private static boolean sameTypes(List<Set<RequestType>> current, List<ClusterLayout.Pool> next) {
    if (current.size() != next.size()) {
      return false;
    }
    for (ClusterLayout.Pool p : next) {
      if (!current.contains(p.types())) {
        return false;
      }
    }
    return true;
  }

  private static PoolBudget budget(long epoch, ClusterLayout.Pool p, SloTable slos, Map<RequestType, TypeShape> shapes) {
    Map<RequestType, Slo> s = new EnumMap<>(RequestType.class);
    Map<RequestType, TypeShape> l = new EnumMap<>(RequestType.class);
    for (RequestType t : p.types()) {
      s.put(t, slos.of(t));
      l.put(t, shapes.get(t));
    }
    return new PoolBudget(p.name(), epoch, p.gpus(), p.nativeType(), p.types(), p.forecastRps(), p.loadRps(), s, l,
        p.bounds());
  }

  /**
   * Each pool's forecast for the next pool epoch (the epoch and a start-up time ahead): its load to plan for and each
   * of its types' — empty while no traffic was seen or a seen type's history is partial (the pools keep their
   * budgets' loads).
   */
  public Map<String, PoolForecast> poolForecasts(double nowMs) {
    if (slos == null || !seenTraffic) {
      return Map.of();
    }
    ClusterLayout.Forecasts f = forecasts(nowMs, settings.poolEpochMs());
    if (f.partial()) {
      return Map.of();
    }
    Map<String, PoolForecast> out = new LinkedHashMap<>();
    assigned.forEach((pool, b) -> {
      // a pool handing over also carries the types whose new pools are starting: it keeps its handover load
      boolean handingOver = handoverAtMs < Double.POSITIVE_INFINITY && handoverTo.stream()
          .anyMatch(h -> h.pool().equals(pool) && (h.gpus() != b.gpus() || h.loadRps() != b.loadRps()));
      if (b.gpus() > 0 && !b.types().isEmpty() && !handingOver) {
        Map<RequestType, Double> w = new EnumMap<>(RequestType.class);
        for (RequestType t : b.types()) {
          w.put(t, f.weights().getOrDefault(t, 0.0));
        }
        out.put(pool, new PoolForecast(f.planRps(b.types()), w));
      }
    });
    return out;
  }

  /** A pool's forecast: the load to plan for and each of its types' recent rate (its mix's shares), req/s. */
  public record PoolForecast(double loadRps, Map<RequestType, Double> typeRps) {
    public PoolForecast {
      typeRps = Map.copyOf(typeRps);
    }
  }

  /**
   * A pool's telemetry. When its plan carries less than it plans for, it gets GPUs no pool holds — the fewest-GPU
   * plan of that load less its budget, at most what is free — at most once a pool epoch.
   */
  public Optional<TopUp> poolReport(double nowMs, PoolTelemetry t) {
    if (!assigned.containsKey(t.pool())) {
      return Optional.empty();
    }
    measured.put(t.pool(), PowerCap.Measured.of(telemetry.get(t.pool()), t));
    telemetry.put(t.pool(), t);
    PoolBudget b = assigned.get(t.pool());
    if (!t.shortOfCapacity() || clusterGpus == 0 || b.gpus() == 0 || b.types().isEmpty() || b.capped()
        || nowMs - lastTopUpMs.getOrDefault(t.pool(), Double.NEGATIVE_INFINITY) < settings.poolEpochMs()) {
      return Optional.empty();
    }
    int held = assigned.values().stream().mapToInt(PoolBudget::gpus).sum();
    int free = clusterGpus - held;
    int add = layouts.topUp(b.mix().toMix(), t.plannedLoadRps(), b.gpus(), free, b.frequencyBounds());
    if (add <= 0) {
      return Optional.empty();
    }
    lastTopUpMs.put(t.pool(), nowMs);
    // the load the pool was asked for now (its latest forecast), not the epoch's: a new budget resets the pool's load
    double load = Math.max(b.loadRps(), t.forecastLoadRps());
    PoolBudget more = b.withGpus(b.gpus() + add, load);
    assigned.put(t.pool(), more);
    handoverTo = handoverTo.stream().map(h -> h.pool().equals(t.pool()) ? h.withGpus(Math.max(h.gpus(),
        more.gpus()), Math.max(h.loadRps(), load)) : h).toList();
    DecisionNote n = note(String.format(Locale.ROOT, "top up %s: %d -> %d GPUs", t.pool(), b.gpus(), more.gpus()),
        String.format(Locale.ROOT, "its plan carries %.2f of the %.2f req/s it plans for (correction x%.2f); %d GPUs"
            + " were free", t.capacityRps(), t.plannedLoadRps(), t.capacityCorrection(), free),
        -add * profile.idlePowerW());
    return Optional.of(new TopUp(more, layout(), n));
  }

  /**
   * The power governor, after pool reports: the pools' measured power against the watt budget of the epoch in force;
   * at most one pool's budget changes (a lower clock ceiling, a power cap, or the latest such step undone).
   */
  public Optional<TopUp> powerCheck(double nowMs) {
    Optional<PowerCap.Step> s = power.check(nowMs, powerBudgetW, assigned, measured, clusterGpus, limitBounds);
    if (s.isEmpty()) {
      return Optional.empty();
    }
    PoolBudget b = s.get().budget();
    assigned.put(b.pool(), b);
    return Optional.of(new TopUp(b, layout(), note(s.get().action(), s.get().reason(), 0)));
  }

  /** The watt budget of the epoch in force (0: none) and how it is held. */
  public PowerStatus power() {
    return new PowerStatus(powerBudgetW, allocation.predictedW(), power.violations(), power.stepsInForce());
  }

  /**
   * @param budgetW the watt budget (0: none)
   * @param predictedW the epoch layout's predicted peak power before any cap
   * @param violations checks that found the measured power over the budget
   * @param governorSteps the governor's steps in force (lowered ceilings, caps)
   */
  public record PowerStatus(double budgetW, double predictedW, long violations, int governorSteps) {}

  /**
   * A layout stored by an earlier manager: its pools are the current ones (this manager has not budgeted an epoch of
   * its own yet); empty when there is nothing to resume.
   */
  public Optional<DecisionNote> resume(PoolLayout stored, double nowMs) {
    if (epoch > 0 || stored.pools().isEmpty()) {
      return Optional.empty();
    }
    epoch = stored.epoch();
    stored.pools().forEach(b -> assigned.put(b.pool(), b));
    return Optional.of(note("resumed epoch " + epoch + ": " + List.copyOf(assigned.keySet()),
        "the pool layout read back from durable storage", 0));
  }

  /** The current pools' budgets. */
  public List<PoolBudget> budgets() {
    return List.copyOf(assigned.values());
  }

  /** Each current pool's latest telemetry. */
  public Map<String, PoolTelemetry> telemetry() {
    return Map.copyOf(telemetry);
  }

  public long epochNumber() {
    return epoch;
  }

  private PoolLayout layout() {
    List<PoolBudget> numbered = new ArrayList<>();
    assigned.values().forEach(b -> numbered.add(b));
    return new PoolLayout(epoch, numbered);
  }

  private static DecisionNote note(String action, String reason, double savingW) {
    return new DecisionNote(Decision.CLUSTER, "cluster", action, reason, savingW);
  }
}
