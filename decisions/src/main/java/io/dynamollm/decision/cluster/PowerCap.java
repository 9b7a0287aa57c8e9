package io.dynamollm.decision.cluster;

import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * The operator's watt budget: the most GPU power the cluster may draw (e.g. handed down by a facility power manager).
 * Pure; {@link ClusterStep} owns one and drives it.
 *
 * <ul>
 *   <li><b>Each cluster epoch</b> ({@link #allocate}) the layout's predicted peak power is checked against the budget.
 *       Within it, no pool is capped. Over it, pools are capped in the <b>degradation order</b>: the most protected
 *       pool keeps its predicted power, then the next, and so on; the pools left last share what remains (at least the
 *       idle power of their GPUs, which no plan goes below). A capped pool's planner carries as much of its load as fits
 *       under its cap ({@code PoolPlanner}), so its requests, not the protected ones, miss their SLOs. The bootstrap
 *       layout, which plans for a nominal capacity rather than a forecast, is not capped.
 *   <li><b>Within the epoch</b> ({@link #check}) the pools' measured power (and the idle power of the GPUs no instance
 *       holds) is held under the budget: over it by more than the tolerance, the least protected pool that still can
 *       lowers its clock ceiling, one clock level per tenth of its power the excess amounts to, at most three (clocks
 *       first: an instance slows but keeps serving); when every pool with instances is at its lowest clock, the least
 *       protected pool with instances is capped at its measured power less the excess (it sheds instances). At most
 *       one step per {@code actEveryMs}, so the next measurement sees the last step. Once the power has stayed below
 *       {@code relaxBelow} of the budget for three such intervals, and what the latest step gave back fits under the
 *       budget again (or the step is older than ten intervals: undone on trial), it is undone, one at a time. Steps in
 *       force carry into the next epoch's budgets ({@link #carry}).
 * </ul>
 *
 * <p>A pool's place in the order is that of the most protected type it serves (capping it degrades that type too).
 * The default order degrades the longest requests first: they draw the most energy per request, so the fewest
 * requests are degraded per watt given back, and they are the least interactive; short chat turns are kept last.
 */
public final class PowerCap {

  /**
   * @param degradeOrder every request type, the first degraded first
   * @param tolerance measured power may exceed the budget by this share before the governor acts (meter noise)
   * @param relaxBelow below this share of the budget the governor undoes its latest step
   * @param actEveryMs the shortest time between two governor steps
   */
  public record Settings(List<RequestType> degradeOrder, double tolerance, double relaxBelow, long actEveryMs) {
    public Settings {
      degradeOrder = List.copyOf(degradeOrder);
      if (degradeOrder.size() != RequestType.values().length
          || !EnumSet.copyOf(degradeOrder).equals(EnumSet.allOf(RequestType.class))) {
        throw new IllegalArgumentException("power.degrade-order must list each of the nine request types once, got "
            + degradeOrder);
      }
      if (!(tolerance >= 0 && tolerance < 1)) {
        throw new IllegalArgumentException("power.tolerance must be in [0, 1), got " + tolerance);
      }
      if (!(relaxBelow > 0 && relaxBelow < 1)) {
        throw new IllegalArgumentException("power.relax-below must be in (0, 1), got " + relaxBelow);
      }
      if (actEveryMs <= 0) {
        throw new IllegalArgumentException("power.act-every must be > 0 ms, got " + actEveryMs);
      }
    }
  }

  /** A pool of the layout as the epoch's cap sees it: its types, GPUs and predicted peak power. */
  public record PoolDemand(String pool, Set<RequestType> types, int gpus, double predictedPowerW) {}

  /**
   * The epoch's caps.
   *
   * @param capW each pool's cap (absent: not capped)
   * @param predictedW the layout's predicted peak power, the idle GPUs no pool holds included
   * @param cappedW the prediction under the caps
   * @param feasible whether the budget is at least the idle power of every GPU (no plan goes below that)
   * @param reason one line for the decision log; empty without a budget
   */
  public record Allocation(Map<String, Double> capW, double predictedW, double cappedW, boolean feasible,
      String reason) {
    public Allocation {
      capW = Map.copyOf(capW);
    }

    public static final Allocation NONE = new Allocation(Map.of(), 0, 0, true, "");
  }

  /**
   * A pool's measured draw: the mean power of its instances over the last telemetry window, and the GPUs they hold.
   */
  public record Measured(double powerW, int gpus) {
    /** From consecutive telemetry of one pool: its energy counter's rise over the window, else its last reading. */
    public static Measured of(PoolTelemetry before, PoolTelemetry now) {
      double seconds = before == null ? 0 : (now.atMillis() - before.atMillis()) / 1000.0;
      double rise = before == null ? -1 : now.energyJ() - before.energyJ();
      return new Measured(seconds > 0 && rise >= 0 ? rise / seconds : now.powerW(), now.gpus());
    }
  }

  /** A governor step: the pool's new budget and why. */
  public record Step(PoolBudget budget, String action, String reason) {}

  private final Settings settings;
  private final double idlePowerW;
  private final List<Integer> clockLevelsMhz;
  /** The governor's steps in force, the latest first: undone in that order. */
  private final Deque<Applied> applied = new ArrayDeque<>();
  /** The governor's clock ceiling per pool, and its power cap per pool (carried into the next epoch's budgets). */
  private final Map<String, Integer> ceilingMhz = new LinkedHashMap<>();
  private final Map<String, Double> shedW = new LinkedHashMap<>();
  /** Each pool's clock range and cap as the epoch budgeted them, before the governor's steps. */
  private final Map<String, FrequencyBounds> baseBounds = new LinkedHashMap<>();
  private final Map<String, Double> baseCapW = new LinkedHashMap<>();
  private double lastActMs = Double.NEGATIVE_INFINITY;
  /** Since when every check found the power below {@code relaxBelow} of the budget (NaN: the last did not). */
  private double lowSinceMs = Double.NaN;
  private long violations;

  /**
   * A step: the pool's governor ceiling and cap before it (null: none), the power measured when it was taken and the
   * first measurement after it settled (NaN until then): what undoing it would bring back.
   */
  private static final class Applied {
    final String pool;
    final Integer ceilingMhz;
    final Double shedW;
    final double beforeW;
    final double atMs;
    double afterW = Double.NaN;

    Applied(String pool, Integer ceilingMhz, Double shedW, double beforeW, double atMs) {
      this.pool = pool;
      this.ceilingMhz = ceilingMhz;
      this.shedW = shedW;
      this.beforeW = beforeW;
      this.atMs = atMs;
    }

    String pool() {
      return pool;
    }

    /**
     * What undoing it would add back, W: the drop it caused (unknown before it settled: infinite). The drop also holds
     * whatever the load did meanwhile, so it stands for {@link #TRUST_STEPS} intervals; an older step is undone on
     * trial (the governor steps again if the power comes back over).
     */
    double givesBackW(double nowMs, long intervalMs) {
      if (nowMs - atMs >= TRUST_STEPS * intervalMs) {
        return 0;
      }
      return Double.isNaN(afterW) ? Double.POSITIVE_INFINITY : Math.max(0, beforeW - afterW);
    }
  }

  /** A governor step is undone once the power has stayed below {@code relaxBelow} for this many steps' time. */
  private static final int RELAX_AFTER_STEPS = 3;
  /** How many intervals a step's measured drop stands for what undoing it would bring back. */
  private static final int TRUST_STEPS = 10;
  /** The most clock levels one step lowers a ceiling by. */
  private static final int MAX_LEVELS_PER_STEP = 3;

  /**
   * @param idlePowerW one GPU's idle power
   * @param clockLevelsMhz the clocks the profile knows (the governor lowers ceilings level by level)
   */
  public PowerCap(Settings settings, double idlePowerW, List<Integer> clockLevelsMhz) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.idlePowerW = idlePowerW;
    this.clockLevelsMhz = clockLevelsMhz.stream().sorted().toList();
  }

  public Settings settings() {
    return settings;
  }

  /** Where the pool stands in the degradation order: 0 is degraded first. */
  public int rank(Set<RequestType> types) {
    return types.stream().mapToInt(settings.degradeOrder()::indexOf).max().orElse(-1);
  }

  /**
   * The epoch's caps for a layout on {@code gpus} GPUs under {@code budgetW} (0: no budget). Pure: no governor state
   * changes.
   */
  public Allocation allocate(double budgetW, List<PoolDemand> pools, int gpus) {
    return allocate(budgetW, pools, gpus, false);
  }

  /**
   * As {@link #allocate(double, List, int)}; for the bootstrap layout ({@code bootstrap}) nothing is capped: it plans
   * for a nominal share of the cluster's capacity, not for a forecast, so its prediction says nothing of the power it
   * will draw — the governor holds the measured power meanwhile.
   */
  public Allocation allocate(double budgetW, List<PoolDemand> pools, int gpus, boolean bootstrap) {
    int held = pools.stream().mapToInt(PoolDemand::gpus).sum();
    double unheldIdle = Math.max(0, gpus - held) * idlePowerW;
    double predicted = unheldIdle + pools.stream().mapToDouble(PoolDemand::predictedPowerW).sum();
    if (budgetW <= 0) {
      return new Allocation(Map.of(), predicted, predicted, true, "");
    }
    if (bootstrap) {
      return new Allocation(Map.of(), predicted, predicted, budgetW >= gpus * idlePowerW, String.format(Locale.ROOT,
          "the bootstrap layout has no forecast to cap by: the governor holds the measured power under the %.0f W"
          + " budget", budgetW));
    }
    if (predicted <= budgetW) {
      return new Allocation(Map.of(), predicted, predicted, true, String.format(Locale.ROOT,
          "predicted peak %.0f W within the %.0f W budget", predicted, budgetW));
    }
    double floor = gpus * idlePowerW;
    Map<String, Double> caps = new LinkedHashMap<>();
    double left = budgetW - unheldIdle;
    List<PoolDemand> protectedFirst = pools.stream()
        .sorted(Comparator.comparingInt((PoolDemand p) -> -rank(p.types())).thenComparing(PoolDemand::pool)).toList();
    double floorsAfter = pools.stream().mapToDouble(p -> p.gpus() * idlePowerW).sum();
    List<String> degraded = new ArrayList<>();
    double capped = unheldIdle;
    for (PoolDemand p : protectedFirst) {
      double own = p.gpus() * idlePowerW;
      floorsAfter -= own;
      double cap = Math.max(own, Math.min(p.predictedPowerW(), left - floorsAfter));
      left -= cap;
      capped += cap;
      caps.put(p.pool(), cap);
      if (cap + 1e-6 < p.predictedPowerW()) {
        degraded.add(String.format(Locale.ROOT, "%s %s to %.0f of %.0f W", p.pool(), p.types().stream().sorted()
            .toList(), cap, p.predictedPowerW()));
      }
    }
    boolean feasible = budgetW >= floor;
    String reason = String.format(Locale.ROOT, "predicted peak %.0f W over the %.0f W budget: %s (degradation order"
        + " %s)", predicted, budgetW, degraded.isEmpty() ? "no pool" : "caps " + String.join(", ", degraded),
        settings.degradeOrder()) + (feasible ? "" : String.format(Locale.ROOT, "; the budget is below the %.0f W every"
        + " GPU draws idle: it cannot be met", floor));
    return new Allocation(caps, predicted, capped, feasible, reason);
  }

  /**
   * A new epoch's budgets, with the governor's steps in force carried over (a ceiling or cap it found necessary stays
   * until the power has room again: a new epoch does not reset the cluster to a draw the governor just brought down).
   */
  public List<PoolBudget> carry(List<PoolBudget> budgets) {
    baseBounds.clear();
    baseCapW.clear();
    Set<String> pools = new java.util.HashSet<>();
    for (PoolBudget b : budgets) {
      pools.add(b.pool());
      baseBounds.put(b.pool(), b.frequencyBounds());
      baseCapW.put(b.pool(), b.powerCapW());
    }
    ceilingMhz.keySet().retainAll(pools);
    shedW.keySet().retainAll(pools);
    applied.removeIf(a -> !pools.contains(a.pool()));
    return budgets.stream().map(this::apply).toList();
  }

  /** {@code b} (of the epoch in force) with the governor's ceiling and cap for its pool. */
  private PoolBudget apply(PoolBudget b) {
    FrequencyBounds base = baseBounds.getOrDefault(b.pool(), b.frequencyBounds());
    double baseCap = baseCapW.getOrDefault(b.pool(), b.powerCapW());
    FrequencyBounds f = base;
    Integer c = ceilingMhz.get(b.pool());
    if (c != null && c < base.maxMhz()) {
      // a held range (the bootstrap pool) comes down held
      f = base.minMhz() == base.maxMhz() ? new FrequencyBounds(c, c)
          : new FrequencyBounds(base.minMhz(), Math.max(base.minMhz(), c));
    }
    Double shed = shedW.get(b.pool());
    double cap = shed == null ? baseCap : baseCap > 0 ? Math.min(baseCap, shed) : shed;
    return b.withBounds(f).withPowerCap(cap);
  }

  /** How many checks found the measured power over the budget (beyond the tolerance). */
  public long violations() {
    return violations;
  }

  /** How many governor steps are in force. */
  public int stepsInForce() {
    return applied.size();
  }

  /**
   * The governor: the pools' latest telemetry against the budget; at most one budget change.
   *
   * @param budgets the pools' budgets in force, by pool
   * @param telemetry each pool's latest telemetry (a pool without any is not measured yet: no step)
   * @param gpus the GPUs the pools may hold
   */
  public Optional<Step> check(double nowMs, double budgetW, Map<String, PoolBudget> budgets,
      Map<String, Measured> telemetry, int gpus, FrequencyBounds limits) {
    if (budgetW <= 0 || budgets.isEmpty() || !telemetry.keySet().containsAll(budgets.keySet())) {
      return Optional.empty();
    }
    double measured = 0;
    int inInstances = 0;
    for (String pool : budgets.keySet()) {
      Measured t = telemetry.get(pool);
      measured += t.powerW();
      inInstances += t.gpus();
    }
    double total = measured + Math.max(0, gpus - inInstances) * idlePowerW;
    return act(nowMs, budgetW, budgets, telemetry, total, limits);
  }

  private Optional<Step> act(double nowMs, double budgetW, Map<String, PoolBudget> budgets,
      Map<String, Measured> telemetry, double measured, FrequencyBounds limits) {
    Applied latest = applied.peek();
    if (latest != null && Double.isNaN(latest.afterW) && nowMs - latest.atMs >= settings.actEveryMs()) {
      latest.afterW = measured; // the first reading an interval after the step: what it gave back
    }
    boolean low = measured < budgetW * settings.relaxBelow();
    if (!low) {
      lowSinceMs = Double.NaN;
    } else if (Double.isNaN(lowSinceMs)) {
      lowSinceMs = nowMs;
    }
    boolean over = measured > budgetW * (1 + settings.tolerance());
    if (over) {
      violations++;
    }
    if (nowMs - lastActMs < settings.actEveryMs()) {
      return Optional.empty();
    }
    if (over) {
      Optional<Step> s = lowerClock(budgets, telemetry, measured, budgetW, limits, nowMs)
          .or(() -> shed(budgets, telemetry, measured, budgetW, nowMs));
      s.ifPresent(x -> lastActMs = nowMs);
      return s;
    }
    // undone only once the power has stayed low for a few steps' time (one low reading is no trend), and only where
    // what the step gave back fits under the budget again (else undoing it would only bring the excess back)
    if (low && nowMs - lowSinceMs >= RELAX_AFTER_STEPS * settings.actEveryMs() && latest != null
        && measured + latest.givesBackW(nowMs, settings.actEveryMs()) <= budgetW * (1 - settings.tolerance())) {
      Applied last = applied.pop();
      PoolBudget now = budgets.get(last.pool());
      if (now == null) {
        return Optional.empty(); // the pool left the layout
      }
      lastActMs = nowMs;
      lowSinceMs = nowMs;
      restore(ceilingMhz, last.pool(), last.ceilingMhz);
      restore(shedW, last.pool(), last.shedW);
      PoolBudget back = apply(now);
      return Optional.of(new Step(back, String.format(Locale.ROOT, "power relax %s: clocks %d-%d MHz, cap %s",
          last.pool(), back.frequencyBounds().minMhz(), back.frequencyBounds().maxMhz(), capText(back.powerCapW())),
          String.format(Locale.ROOT, "measured %.0f W, below %.0f"
          + " %% of the %.0f W budget: the latest governor step is undone", measured, 100 * settings.relaxBelow(),
          budgetW)));
    }
    return Optional.empty();
  }

  /** The pools with instances, the first degraded first. */
  private List<PoolBudget> degradable(Map<String, PoolBudget> budgets, Map<String, Measured> telemetry) {
    return budgets.values().stream().filter(b -> b.gpus() > 0 && telemetry.get(b.pool()).gpus() > 0)
        .sorted(Comparator.comparingInt((PoolBudget b) -> rank(b.types())).thenComparing(PoolBudget::pool)).toList();
  }

  private Optional<Step> lowerClock(Map<String, PoolBudget> budgets, Map<String, Measured> telemetry,
      double measured, double budgetW, FrequencyBounds limits, double nowMs) {
    for (PoolBudget b : degradable(budgets, telemetry)) {
      FrequencyBounds f = b.frequencyBounds();
      // a pool whose clocks are held (the bootstrap pool: floor = ceiling) comes down held, to the operator's floor
      int floor = f.minMhz() == f.maxMhz() ? limits.minMhz() : f.minMhz();
      List<Integer> below = clockLevelsMhz.stream().filter(c -> c >= floor && c < f.maxMhz())
          .sorted(Comparator.reverseOrder()).toList();
      // one clock level gives back roughly a tenth of a pool's power: a larger excess takes up to three levels at
      // once (the next measurement corrects an overshoot by relaxing); a ceiling that is no clock level comes down to
      // the highest level below it
      double own = Math.max(1, telemetry.get(b.pool()).powerW());
      int levels = (int) Math.max(1, Math.min(MAX_LEVELS_PER_STEP, Math.ceil((measured - budgetW) / (0.1 * own))));
      Optional<Integer> lower = below.isEmpty() ? Optional.empty()
          : Optional.of(below.get(Math.min(levels, below.size()) - 1));
      if (lower.isPresent()) {
        applied.push(new Applied(b.pool(), ceilingMhz.get(b.pool()), shedW.get(b.pool()), measured, nowMs));
        ceilingMhz.put(b.pool(), lower.get());
        return Optional.of(new Step(apply(b), String.format(Locale.ROOT, "power clock %s: ceiling %d -> %d MHz", b.pool(),
            f.maxMhz(), lower.get()), String.format(Locale.ROOT, "measured %.0f W over the %.0f W budget (%.0f W"
            + " over); clocks first, the least protected pool first (%s)", measured, budgetW, measured - budgetW,
            b.types().stream().sorted().toList())));
      }
    }
    return Optional.empty();
  }

  private Optional<Step> shed(Map<String, PoolBudget> budgets, Map<String, Measured> telemetry, double measured,
      double budgetW, double nowMs) {
    double excess = measured - budgetW;
    for (PoolBudget b : degradable(budgets, telemetry)) {
      Measured t = telemetry.get(b.pool());
      double floor = b.gpus() * idlePowerW;
      // the pool's own share of the cluster's power: its instances and its budget GPUs they leave idle
      double own = t.powerW() + Math.max(0, b.gpus() - t.gpus()) * idlePowerW;
      double cap = Math.max(floor, own - excess);
      if (b.capped() && b.powerCapW() <= cap + 1e-6) {
        continue; // already capped as low as this step would
      }
      if (cap >= own - 1e-6) {
        continue; // only its idle GPUs are left: nothing to shed here
      }
      applied.push(new Applied(b.pool(), ceilingMhz.get(b.pool()), shedW.get(b.pool()), measured, nowMs));
      shedW.put(b.pool(), cap);
      return Optional.of(new Step(apply(b), String.format(Locale.ROOT, "power shed %s: cap %.0f W",
          b.pool(), cap), String.format(Locale.ROOT, "measured %.0f W over the %.0f W budget (%.0f W over) with"
          + " every pool's clocks at their lowest: the least protected pool (%s) plans under %.0f W and sheds"
          + " instances", measured, budgetW, excess, b.types().stream().sorted().toList(), cap)));
    }
    return Optional.empty();
  }

  private static <V> void restore(Map<String, V> m, String pool, V before) {
    if (before == null) {
      m.remove(pool);
    } else {
      m.put(pool, before);
    }
  }

  private static String capText(double w) {
    return w > 0 ? String.format(Locale.ROOT, "%.0f W", w) : "none";
  }
}
