package io.dynamollm.decision.pool;

import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.LoadPoint;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import org.chocosolver.solver.Model;
import org.chocosolver.solver.Solution;
import org.chocosolver.solver.Solver;
import org.chocosolver.solver.variables.IntVar;

/**
 * Pool epoch (default 5 min): how many instances of which TP, at which clock and load share, cover the pool's forecast
 * load within its SLO at the least power, under its GPU budget.
 *
 * <p>Formulation (Choco Solver, built fresh per solve): the SLO-feasible configurations are enumerated first — every
 * (TP, clock) within the bounds whose capacity is positive, each at a ladder of per-instance load levels — and
 * flattened into one table. A plan has at most {@code maxGroups} groups; group g picks a table row through one index
 * variable, and element constraints channel that index to the row's TP, per-instance load and power (rather than a
 * one-hot encoding over all rows). Products with the group's instance count give GPUs, served load and power:
 * Σ GPUs ≤ budget, Σ served ≥ forecast, minimise Σ power (+ idle power of budget GPUs left parked).
 *
 * <p>The solve is time-limited. Its outcome is explicit: OPTIMAL (search completed), FEASIBLE (time ran out with a
 * solution), FALLBACK (no solution in time: the best single-group plan found by enumeration), INFEASIBLE (even the
 * whole budget at the highest-capacity configuration cannot carry the load: that plan is returned anyway, so a pool is
 * never left without one).
 *
 * <p>Re-configuration is weighed: a new plan replaces the current one only when the current cannot carry the
 * forecast, or when the predicted power saving over the rest of the epoch exceeds the energy of the transition
 * (re-sharded and started instances draw power without serving) times a threshold.
 */
public final class PoolPlanner {

  /**
   * The planner's tuning ({@code dynamollm.decisions.planner}).
   *
   * @param timeLimitMs hard limit of one Choco solve
   * @param maxGroups most distinct (TP, clock, load) groups in a plan
   * @param loadLevels per-instance loads tried, as fractions of the configuration's capacity, ascending, last 1.0
   * @param sloMargin capacity is computed against this share of the SLO
   * @param switchThreshold a new plan must save this many times its transition energy
   * @param minRelativeSaving a layout change not needed for capacity must save at least this share of the pool's power
   * @param maxOfflineShare re-shards take at most this share of a pool's capacity offline at once
   * @param missBudget a mix's plan allows this share of its requests to miss their TTFT SLO (the SLOs' own is 1 %)
   */
  public record Settings(
      long timeLimitMs,
      int maxGroups,
      double[] loadLevels,
      double sloMargin,
      double switchThreshold,
      double minRelativeSaving,
      double maxOfflineShare,
      double missBudget) {

    public Settings {
      if (timeLimitMs < 1) {
        throw new IllegalArgumentException("time-limit must be at least 1 ms, got " + timeLimitMs);
      }
      if (maxGroups < 1) {
        throw new IllegalArgumentException("max-groups must be at least 1, got " + maxGroups);
      }
      if (loadLevels.length == 0 || loadLevels[loadLevels.length - 1] != 1.0) {
        throw new IllegalArgumentException("load-levels must end at 1.0");
      }
      for (int i = 0; i < loadLevels.length; i++) {
        if (!(loadLevels[i] > 0) || (i > 0 && !(loadLevels[i] > loadLevels[i - 1]))) {
          throw new IllegalArgumentException("load-levels must be positive and ascending, got "
              + java.util.Arrays.toString(loadLevels));
        }
      }
      if (!(sloMargin > 0 && sloMargin <= 1)) {
        throw new IllegalArgumentException("slo-margin must be within (0, 1], got " + sloMargin);
      }
      if (!(switchThreshold >= 0) || Double.isInfinite(switchThreshold)) {
        throw new IllegalArgumentException("switch-threshold must be a finite number >= 0, got " + switchThreshold);
      }
      if (!(minRelativeSaving >= 0 && minRelativeSaving < 1)) {
        throw new IllegalArgumentException("min-relative-saving must be within [0, 1), got " + minRelativeSaving);
      }
      if (!(maxOfflineShare > 0 && maxOfflineShare <= 1)) {
        throw new IllegalArgumentException("max-offline-share must be within (0, 1], got " + maxOfflineShare);
      }
      if (!(missBudget > 0 && missBudget <= 0.05)) {
        throw new IllegalArgumentException("miss-budget must be within (0, 0.05], got " + missBudget);
      }
      loadLevels = loadLevels.clone();
    }

    public Settings withTimeLimitMs(long ms) {
      return new Settings(ms, maxGroups, loadLevels, sloMargin, switchThreshold, minRelativeSaving, maxOfflineShare,
          missBudget);
    }

    public Settings withMissBudget(double budget) {
      return new Settings(timeLimitMs, maxGroups, loadLevels, sloMargin, switchThreshold, minRelativeSaving,
          maxOfflineShare, budget);
    }
  }

  /**
   * What changing a pool costs where it runs — properties of the engines and GPUs, not tuning.
   *
   * @param reshardCost how long a TP change takes (in place over NVLink, or an engine restart)
   * @param startupMs how long a new instance takes to start (weights load)
   * @param transitionPowerW power of a GPU while its instance starts or re-shards
   */
  public record Transitions(ReshardCost reshardCost, long startupMs, double transitionPowerW) {
    public Transitions {
      Objects.requireNonNull(reshardCost, "reshardCost");
      if (startupMs < 0 || !(transitionPowerW >= 0)) {
        throw new IllegalArgumentException("start-up must be >= 0 ms and transition power >= 0 W, got " + startupMs
            + " ms, " + transitionPowerW + " W");
      }
    }
  }

  /**
   * One pool's question.
   *
   * @param pool pool name
   * @param mix the requests the pool serves: its types' shares, lengths and SLOs (the profile's capacity model)
   * @param loadRps load of the coming epoch to plan for, requests per second
   * @param gpuBudget GPUs the pool may hold
   * @param bounds clock range allowed
   * @param allowedTps TPs allowed (one-knob policies restrict them)
   * @param current the plan running now, if any
   * @param remainingEpochSeconds how long the new plan would run
   * @param useWholeBudget every budget GPU must be in an instance (a policy whose only knob is TP)
   * @param warmSpares the pool's warm spares by TP: instances of these serve at once, without a start-up
   * @param powerCapW the most power the plan may draw, W (its budget GPUs left idle included); 0: none. Over it, the
   *     plan carries as much of the load as fits under it
   */
  public record Request(
      String pool,
      Mix mix,
      double loadRps,
      int gpuBudget,
      FrequencyBounds bounds,
      List<TensorParallelism> allowedTps,
      Optional<PoolPlan> current,
      double remainingEpochSeconds,
      boolean useWholeBudget,
      Map<TensorParallelism, Integer> warmSpares,
      double powerCapW,
      io.dynamollm.protocol.profile.ProfileFactors profileFactors) {
    public Request {
      Objects.requireNonNull(profileFactors, "profileFactors");
      Objects.requireNonNull(pool, "pool");
      Objects.requireNonNull(mix, "mix");
      Objects.requireNonNull(bounds, "bounds");
      allowedTps = List.copyOf(allowedTps);
      warmSpares = Map.copyOf(warmSpares);
      if (!(loadRps >= 0) || Double.isInfinite(loadRps)) {
        throw new IllegalArgumentException("pool load must be finite and >= 0, got " + loadRps);
      }
      if (gpuBudget < 0) {
        throw new IllegalArgumentException("GPU budget must be >= 0, got " + gpuBudget);
      }
      if (!Double.isFinite(powerCapW) || powerCapW < 0) {
        throw new IllegalArgumentException("power cap must be finite and >= 0 W (0: none), got " + powerCapW);
      }
    }

    /** With the profile as it is (no factors observed on the pool's engines). */
    public Request(String pool, Mix mix, double loadRps, int gpuBudget, FrequencyBounds bounds,
        List<TensorParallelism> allowedTps, Optional<PoolPlan> current, double remainingEpochSeconds,
        boolean useWholeBudget, Map<TensorParallelism, Integer> warmSpares, double powerCapW) {
      this(pool, mix, loadRps, gpuBudget, bounds, allowedTps, current, remainingEpochSeconds, useWholeBudget,
          warmSpares, powerCapW, io.dynamollm.protocol.profile.ProfileFactors.NONE);
    }

    /** Without a power cap. */
    public Request(String pool, Mix mix, double loadRps, int gpuBudget, FrequencyBounds bounds,
        List<TensorParallelism> allowedTps, Optional<PoolPlan> current, double remainingEpochSeconds,
        boolean useWholeBudget, Map<TensorParallelism, Integer> warmSpares) {
      this(pool, mix, loadRps, gpuBudget, bounds, allowedTps, current, remainingEpochSeconds, useWholeBudget,
          warmSpares, 0);
    }

    /** The same question for another load, from no current plan (the capped search compares loads, not changes). */
    Request fresh(double load) {
      return new Request(pool, mix, load, gpuBudget, bounds, allowedTps, Optional.empty(), remainingEpochSeconds,
          useWholeBudget, warmSpares, 0, profileFactors);
    }

    /** A pool without warm spares. */
    public Request(String pool, Mix mix, double loadRps, int gpuBudget, FrequencyBounds bounds,
        List<TensorParallelism> allowedTps, Optional<PoolPlan> current, double remainingEpochSeconds,
        boolean useWholeBudget) {
      this(pool, mix, loadRps, gpuBudget, bounds, allowedTps, current, remainingEpochSeconds, useWholeBudget, Map.of());
    }
  }

  /** How the plan was found. */
  public enum Outcome {
    OPTIMAL,
    FEASIBLE,
    FALLBACK,
    INFEASIBLE,
    KEPT
  }

  /**
   * @param plan the plan to run
   * @param outcome how it was found ({@code KEPT}: the current plan stays; {@code solverOutcome} says how the rejected
   *     alternative was found)
   * @param solverOutcome the outcome of the solve itself
   * @param changed whether the plan differs from the current one
   * @param reason one line for the decision log
   * @param predictedSavingW predicted power saving against the current plan (0 without one)
   * @param transitionEnergyJ predicted energy of getting from the current plan to this one
   */
  public record Result(
      PoolPlan plan, Outcome outcome, Outcome solverOutcome, boolean changed, String reason, double predictedSavingW,
      double transitionEnergyJ) {}

  private record Row(TensorParallelism tp, int clockMhz, double capacityRps, double loadRps, double powerW) {}

  private static final int LOAD_SCALE = 1000; // milli-requests per second
  private static final int POWER_SCALE = 10; // deciwatts

  private final Profile profile;
  private final Settings settings;
  private final Transitions transitions;

  public PoolPlanner(Profile profile, Settings settings, Transitions transitions) {
    this.profile = Objects.requireNonNull(profile, "profile");
    this.settings = Objects.requireNonNull(settings, "settings");
    this.transitions = Objects.requireNonNull(transitions, "transitions");
  }

  public Settings settings() {
    return settings;
  }

  /** The same planner on another profile (a corrected one). */
  public PoolPlanner withProfile(Profile other) {
    return new PoolPlanner(other, settings, transitions);
  }

  private static Request withoutFactors(Request r) {
    return new Request(r.pool(), r.mix(), r.loadRps(), r.gpuBudget(), r.bounds(), r.allowedTps(), r.current(),
        r.remainingEpochSeconds(), r.useWholeBudget(), r.warmSpares(), r.powerCapW(),
        io.dynamollm.protocol.profile.ProfileFactors.NONE);
  }

  public Transitions transitions() {
    return transitions;
  }

  /** Iterations of the capped search on the load (each halves the interval: 1/128 of the load at the end). */
  private static final int CAP_SEARCH_STEPS = 7;

  public Result plan(Request req) {
    if (!req.profileFactors().isEmpty()) {
      // the pool's engines showed the profile wrong: plan on the profile as they ran it
      return withProfile(io.dynamollm.protocol.profile.CorrectedProfile.of(profile, req.profileFactors()))
          .plan(withoutFactors(req));
    }
    Result r = uncapped(req);
    if (req.powerCapW() <= 0 || r.plan().predictedPowerW() <= req.powerCapW() + 1e-6) {
      return r;
    }
    // over its power cap: the largest share of the load whose least-power plan fits under it (the least-power plan's
    // power grows with its load), searched by halving
    double lo = 0;
    double hi = req.loadRps();
    PoolPlan best = uncapped(req.fresh(0)).plan();
    Outcome outcome = Outcome.OPTIMAL;
    for (int i = 0; i < CAP_SEARCH_STEPS; i++) {
      double mid = (lo + hi) / 2;
      Result m = uncapped(req.fresh(mid));
      if (m.plan().predictedPowerW() <= req.powerCapW() + 1e-6) {
        best = m.plan();
        outcome = m.outcome();
        lo = mid;
      } else {
        hi = mid;
      }
    }
    PoolPlan current = req.current().orElse(PoolPlan.EMPTY);
    boolean changed = req.current().isEmpty() || !sameLayout(current, best);
    return new Result(best, outcome, outcome, changed, String.format(Locale.ROOT, "power cap %.0f W: carries %.2f of"
        + " %.2f req/s, %s at %.0f W (the plan for all of it draws %.0f W)", req.powerCapW(), best.capacityRps(),
        req.loadRps(), best.describe(), best.predictedPowerW(), r.plan().predictedPowerW()),
        req.current().isEmpty() ? 0 : current.predictedPowerW() - best.predictedPowerW(),
        transitionEnergyJ(current, best, req.warmSpares()));
  }

  private Result uncapped(Request req) {
    if (req.loadRps() <= 0 || req.gpuBudget() == 0) {
      PoolPlan empty = new PoolPlan(List.of(), req.gpuBudget() * profile.idlePowerW(), 0);
      return decide(req, empty, Outcome.OPTIMAL);
    }
    Mix target = target(req.mix());
    List<Row> rows = rows(req, target);
    if (rows.isEmpty()) {
      return decide(req, maxCapacityPlan(req, target), Outcome.INFEASIBLE);
    }
    Optional<PoolPlan> solved = Optional.empty();
    Outcome outcome;
    Solved s = solve(req, rows);
    if (s.plan != null) {
      solved = Optional.of(s.plan);
      outcome = s.complete ? Outcome.OPTIMAL : Outcome.FEASIBLE;
    } else if (s.complete) {
      // proven: nothing within the budget carries the load
      return decide(req, maxCapacityPlan(req, target), Outcome.INFEASIBLE);
    } else {
      outcome = Outcome.FALLBACK;
    }
    Optional<PoolPlan> single = greedy(req, rows);
    PoolPlan plan = solved.orElseGet(() -> single.orElseGet(() -> maxCapacityPlan(req, target)));
    // The solver prices each row at a ladder level of its capacity, at or above the load it will carry; the best
    // single-group plan, priced at its exact load, can beat a solved plan built around that rounding.
    if (single.isPresent() && single.get().predictedPowerW() < plan.predictedPowerW() - 1e-6) {
      plan = single.get();
    }
    if (plan.capacityRps() + 1e-9 < req.loadRps()) {
      outcome = Outcome.INFEASIBLE;
    }
    return decide(req, plan, outcome);
  }

  // ------------------------------------------------------------------ options

  /**
   * The mix the planner holds to: each TBT SLO times the margin (a p99 the model may be optimistic about), the TTFT
   * SLOs as they are with the planner's miss budget (the share of requests allowed over them).
   */
  private Mix target(Mix mix) {
    return mix.withSloScaled(1, settings.sloMargin()).withMissBudget(settings.missBudget());
  }

  private List<Row> rows(Request req, Mix target) {
    List<Row> rows = new ArrayList<>();
    for (TensorParallelism tp : profile.tensorParallelisms()) {
      if (!req.allowedTps().contains(tp) || tp.degree() > req.gpuBudget()) {
        continue;
      }
      for (int mhz : profile.clockLevelsMhz()) {
        if (!req.bounds().contains(mhz)) {
          continue;
        }
        double cap = profile.capacityRps(target, tp, mhz);
        if (cap <= 0) {
          continue;
        }
        for (double f : settings.loadLevels()) {
          double load = cap * f;
          LoadPoint p = profile.estimate(target, tp, mhz, load).point();
          if (p.stable()) {
            rows.add(new Row(tp, mhz, cap, load, p.powerPerGpuW() * tp.degree()));
          }
        }
      }
    }
    // Keep only rows no other row of the same TP beats in both carried load and power; order by power per request/s
    // so the solver meets efficient rows first and branch-and-bound prunes early.
    List<Row> kept = new ArrayList<>();
    for (Row r : rows) {
      boolean dominated = false;
      for (Row o : rows) {
        if (o != r && o.tp().equals(r.tp()) && o.loadRps() >= r.loadRps() && o.powerW() <= r.powerW()
            && (o.loadRps() > r.loadRps() || o.powerW() < r.powerW())) {
          dominated = true;
          break;
        }
      }
      if (!dominated) {
        kept.add(r);
      }
    }
    kept.sort(java.util.Comparator.comparingDouble((Row r) -> r.powerW() / r.loadRps()).thenComparing(Row::loadRps));
    return kept;
  }

  // ------------------------------------------------------------------ sizing (the budgeter's question)

  /**
   * What one pool needs, by the planner's own rows: the least-power plan of one group (one TP and clock, whole
   * instances) and the plan of one group with the fewest GPUs (least power among those).
   *
   * @param gpus GPUs of the least-power plan
   * @param powerW its power (its instances only)
   * @param fewestGpus GPUs of the fewest-GPU plan
   * @param fewestPowerW its power
   * @param feasible whether any configuration within the bounds meets the SLOs at all
   */
  public record Sizing(int gpus, double powerW, int fewestGpus, double fewestPowerW, boolean feasible) {
    public static final Sizing NONE = new Sizing(0, 0, 0, 0, true);
  }

  /**
   * The GPUs a pool serving {@code loadRps} of {@code mix} needs. When no configuration meets the SLOs, as many TP8
   * instances at the top of the bounds as keep up with the load stand in (and {@code feasible} is false): a pool is
   * never sized at nothing.
   */
  public Sizing size(Mix mix, double loadRps, FrequencyBounds bounds) {
    if (loadRps <= 0) {
      return Sizing.NONE;
    }
    Mix target = target(mix);
    int bestGpus = 0;
    double bestPower = Double.POSITIVE_INFINITY;
    int fewGpus = Integer.MAX_VALUE;
    double fewPower = Double.POSITIVE_INFINITY;
    for (TensorParallelism tp : profile.tensorParallelisms()) {
      for (int mhz : profile.clockLevelsMhz()) {
        if (!bounds.contains(mhz)) {
          continue;
        }
        double cap = profile.capacityRps(target, tp, mhz);
        if (cap <= 0) {
          continue;
        }
        int n = (int) Math.ceil(loadRps / cap - 1e-9);
        int gpus = n * tp.degree();
        double power = gpus * instancePowerPerGpu(target, tp, mhz, loadRps / n);
        if (power < bestPower) {
          bestPower = power;
          bestGpus = gpus;
        }
        if (gpus < fewGpus || (gpus == fewGpus && power < fewPower)) {
          fewGpus = gpus;
          fewPower = power;
        }
      }
    }
    if (fewGpus == Integer.MAX_VALUE) {
      int mhz = profile.clockLevelsMhz().stream().filter(bounds::contains).max(Integer::compare)
          .orElse(profile.maxClockMhz());
      double keepsUp = profile.capacityRps(mix.withSloScaled(1e3), TensorParallelism.TP8, mhz);
      int gpus = 8 * (keepsUp > 0 ? Math.max(1, (int) Math.min(1 << 20, Math.ceil(loadRps / keepsUp - 1e-9))) : 1);
      double power = gpus * profile.decodePowerW(TensorParallelism.TP8, profile.maxBatch(TensorParallelism.TP8), mhz);
      return new Sizing(gpus, power, gpus, power, false);
    }
    return new Sizing(bestGpus, bestPower, fewGpus, fewPower, true);
  }

  /**
   * What one instance of {@code tp} at the top clock of {@code bounds} carries of {@code mix} within the planner's SLO
   * margin, req/s (the capacity model every plan is made of).
   */
  public double capacityRps(Mix mix, TensorParallelism tp, FrequencyBounds bounds) {
    int mhz = profile.clockLevelsMhz().stream().filter(bounds::contains).max(Integer::compare)
        .orElse(profile.maxClockMhz());
    return profile.capacityRps(target(mix), tp, mhz);
  }

  public Profile profile() {
    return profile;
  }

  // ------------------------------------------------------------------ Choco

  private record Solved(PoolPlan plan, boolean complete) {}

  private Solved solve(Request req, List<Row> rows) {
    int n = rows.size();
    int idleDeciW = (int) Math.round(profile.idlePowerW() * POWER_SCALE);
    int[] tpOf = new int[n];
    int[] loadOf = new int[n];
    int[] powerOf = new int[n]; // instance power minus the idle power its GPUs would draw parked
    for (int i = 0; i < n; i++) {
      Row r = rows.get(i);
      tpOf[i] = r.tp().degree();
      loadOf[i] = (int) Math.floor(r.loadRps() * LOAD_SCALE);
      powerOf[i] = (int) Math.round(r.powerW() * POWER_SCALE) - tpOf[i] * idleDeciW;
    }
    int demand = (int) Math.ceil(req.loadRps() * LOAD_SCALE);
    int budget = req.gpuBudget();
    int minTp = java.util.Arrays.stream(tpOf).min().orElse(1);
    int maxInstances = budget / minTp;
    int groups = settings.maxGroups();

    Model model = new Model("pool " + req.pool());
    IntVar[] row = new IntVar[groups];
    IntVar[] count = new IntVar[groups];
    IntVar[] gpus = new IntVar[groups];
    IntVar[] served = new IntVar[groups];
    IntVar[] power = new IntVar[groups];
    int maxLoad = java.util.Arrays.stream(loadOf).max().orElse(0);
    int minPower = java.util.Arrays.stream(powerOf).min().orElse(0);
    int maxPower = java.util.Arrays.stream(powerOf).max().orElse(0);
    // bounded domains for the derived quantities: their propagation only ever moves bounds
    for (int g = 0; g < groups; g++) {
      row[g] = model.intVar("row" + g, 0, n - 1);
      count[g] = model.intVar("count" + g, 0, maxInstances);
      IntVar tp = model.intVar("tp" + g, minTp, 8, true);
      IntVar load = model.intVar("load" + g, 0, maxLoad, true);
      IntVar pw = model.intVar("pw" + g, Math.min(0, minPower), Math.max(0, maxPower), true);
      model.element(tp, tpOf, row[g]).post();
      model.element(load, loadOf, row[g]).post();
      model.element(pw, powerOf, row[g]).post();
      gpus[g] = model.intVar("gpus" + g, 0, budget, true);
      served[g] = model.intVar("served" + g, 0, maxLoad * maxInstances, true);
      power[g] = model.intVar("power" + g, Math.min(0, minPower) * maxInstances, Math.max(0, maxPower) * maxInstances,
          true);
      model.times(count[g], tp, gpus[g]).post();
      model.times(count[g], load, served[g]).post();
      model.times(count[g], pw, power[g]).post();
      // an unused group points at row 0, so empty groups are not told apart
      model.ifThen(model.arithm(count[g], "=", 0), model.arithm(row[g], "=", 0));
      if (g > 0) {
        model.arithm(row[g - 1], "<=", row[g]).post();
      }
    }
    // redundant, for pruning: no group draws less power per unit of load than the most efficient row. As integers
    // power x d >= served x floor(ratio x d), with d as large as keeps both sides clear of int overflow (Choco's
    // propagators compute in int): a lower bound of the ratio, so no plan is cut
    double ratio = Double.POSITIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      ratio = loadOf[i] > 0 ? Math.min(ratio, (double) powerOf[i] / loadOf[i]) : powerOf[i] < 0 ? -1 : ratio;
    }
    long maxGroupPower = (long) Math.max(0, maxPower) * maxInstances;
    long maxGroupServed = (long) maxLoad * maxInstances;
    if (ratio > 0 && Double.isFinite(ratio)) {
      int d = 1 << 16;
      while (d > 1 && (d * maxGroupPower >= 1L << 30 || (long) Math.floor(ratio * d) * maxGroupServed >= 1L << 30)) {
        d >>= 1;
      }
      int scaled = (int) Math.floor(ratio * d);
      if (scaled > 0 && d * maxGroupPower < 1L << 30 && scaled * maxGroupServed < 1L << 30) {
        for (int g = 0; g < groups; g++) {
          model.scalar(new IntVar[] {power[g], served[g]}, new int[] {d, -scaled}, ">=", 0).post();
        }
      }
    }
    model.sum(gpus, req.useWholeBudget() ? "=" : "<=", budget).post();
    model.sum(served, ">=", demand).post();
    IntVar objective = model.intVar("power", Math.min(0, minPower) * maxInstances * groups,
        Math.max(0, maxPower) * maxInstances * groups, true);
    model.sum(power, "=", objective).post();
    model.setObjective(Model.MINIMIZE, objective);
    // the best plan of one group is a solution of this model (its group in the last slot): no plan worse than it
    // need be searched, so branch-and-bound starts with that cut instead of finding it
    OptionalInt oneGroup = bestOneGroup(tpOf, loadOf, powerOf, demand, budget, req.useWholeBudget());
    if (oneGroup.isPresent()) {
      model.arithm(objective, "<=", oneGroup.getAsInt()).post();
    }

    Solver solver = model.getSolver();
    IntVar[] decisions = new IntVar[2 * groups];
    for (int g = 0; g < groups; g++) {
      decisions[g] = row[g];
      decisions[groups + g] = count[g];
    }
    // rows in efficiency order first, then the fewest instances
    solver.setSearch(org.chocosolver.solver.search.strategy.Search.inputOrderLBSearch(decisions));
    solver.limitTime(settings.timeLimitMs() + "ms");
    Solution best = new Solution(model);
    boolean found = false;
    while (solver.solve()) {
      best.record();
      found = true;
    }
    boolean complete = !solver.isStopCriterionMet();
    if (!found) {
      return new Solved(null, complete);
    }
    List<PoolPlan.Group> planned = new ArrayList<>();
    double powerW = 0;
    int usedGpus = 0;
    for (int g = 0; g < groups; g++) {
      int c = best.getIntVal(count[g]);
      if (c == 0) {
        continue;
      }
      Row r = rows.get(best.getIntVal(row[g]));
      planned.add(new PoolPlan.Group(r.tp(), r.clockMhz(), c, r.capacityRps(), r.loadRps()));
      usedGpus += c * r.tp().degree();
    }
    return new Solved(balanced(req, planned, usedGpus), complete);
  }

  /**
   * The least power (in the solver's units) of a plan of one group — whole instances of one row that serve the demand
   * within the budget (all of it when {@code wholeBudget}) — or empty when no row can.
   */
  static OptionalInt bestOneGroup(int[] tpOf, int[] loadOf, int[] powerOf, int demand, int budget,
      boolean wholeBudget) {
    long best = Long.MAX_VALUE;
    for (int i = 0; i < tpOf.length; i++) {
      if (loadOf[i] <= 0) {
        continue;
      }
      int fewest = Math.max(1, (int) Math.ceil((double) demand / loadOf[i]));
      int most = budget / tpOf[i];
      for (int c = wholeBudget ? most : fewest; c >= fewest && c <= most; c++) {
        if (wholeBudget && c * tpOf[i] != budget) {
          break;
        }
        best = Math.min(best, (long) c * powerOf[i]);
        if (powerOf[i] >= 0) {
          break; // more instances of this row only add power
        }
      }
    }
    return best == Long.MAX_VALUE ? OptionalInt.empty() : OptionalInt.of((int) best);
  }

  /**
   * The solver over-provisions in discrete load steps; the pool actually carries the forecast, spread over the
   * groups in proportion to their capacity. Power is re-estimated at that load.
   */
  private PoolPlan balanced(Request req, List<PoolPlan.Group> groups, int usedGpus) {
    double capacity = groups.stream().mapToDouble(g -> g.capacityRps() * g.instances()).sum();
    double share = capacity > 0 ? Math.min(1, req.loadRps() / capacity) : 0;
    List<PoolPlan.Group> out = new ArrayList<>();
    double power = (req.gpuBudget() - usedGpus) * profile.idlePowerW();
    for (PoolPlan.Group g : groups) {
      double perInstance = g.capacityRps() * share;
      out.add(new PoolPlan.Group(g.tp(), g.clockMhz(), g.instances(), g.capacityRps(), perInstance));
      power += g.instances() * g.tp().degree() * instancePowerPerGpu(target(req.mix()), g.tp(), g.clockMhz(), perInstance);
    }
    return new PoolPlan(out, power, req.loadRps());
  }

  private double instancePowerPerGpu(Mix mix, TensorParallelism tp, int mhz, double load) {
    if (load <= 0) {
      return profile.idlePowerW();
    }
    LoadPoint p = profile.estimate(mix, tp, mhz, load).point();
    return p.stable() ? p.powerPerGpuW() : profile.decodePowerW(tp, profile.maxBatch(tp), mhz);
  }

  // ------------------------------------------------------------------ fallbacks

  /** The best plan of one group: for each configuration, the fewest instances that carry the load. */
  private Optional<PoolPlan> greedy(Request req, List<Row> rows) {
    PoolPlan best = null;
    for (Row r : rows) {
      if (r.loadRps() != r.capacityRps()) {
        continue; // one row per configuration: the one at full capacity
      }
      int n = (int) Math.ceil(req.loadRps() / r.capacityRps() - 1e-9);
      if (req.useWholeBudget()) {
        n = req.gpuBudget() / r.tp().degree();
      }
      if (n < 1 || n * r.tp().degree() > req.gpuBudget() || n * r.capacityRps() < req.loadRps()) {
        continue;
      }
      PoolPlan p = balanced(req, List.of(new PoolPlan.Group(r.tp(), r.clockMhz(), n, r.capacityRps(), 0)),
          n * r.tp().degree());
      if (best == null || p.predictedPowerW() < best.predictedPowerW()) {
        best = p;
      }
    }
    return Optional.ofNullable(best);
  }

  /** Every budget GPU at the configuration with the most capacity per GPU at the highest allowed clock. */
  private PoolPlan maxCapacityPlan(Request req, Mix target) {
    int mhz = profile.clockLevelsMhz().stream().filter(req.bounds()::contains).max(Integer::compare)
        .orElse(profile.maxClockMhz());
    TensorParallelism bestTp = null;
    double bestPerGpu = -1;
    double bestCap = 0;
    for (TensorParallelism tp : req.allowedTps()) {
      if (tp.degree() > req.gpuBudget()) {
        continue;
      }
      double cap = profile.capacityRps(target, tp, mhz);
      if (cap / tp.degree() > bestPerGpu) {
        bestPerGpu = cap / tp.degree();
        bestTp = tp;
        bestCap = cap;
      }
    }
    if (bestTp == null) {
      return new PoolPlan(List.of(), req.gpuBudget() * profile.idlePowerW(), req.loadRps());
    }
    int n = req.gpuBudget() / bestTp.degree();
    return balanced(req, List.of(new PoolPlan.Group(bestTp, mhz, n, Math.max(bestCap, 1e-9), 0)), n * bestTp.degree());
  }

  // ------------------------------------------------------------------ re-configuration

  private Result decide(Request req, PoolPlan candidate, Outcome outcome) {
    if (req.current().isEmpty()) {
      return new Result(candidate, outcome, outcome, true,
          String.format(Locale.ROOT, "first plan for %.2f req/s: %s (%s)", req.loadRps(), candidate.describe(), outcome),
          0, transitionEnergyJ(PoolPlan.EMPTY, candidate, req.warmSpares()));
    }
    PoolPlan current = rebalance(req, req.current().get());
    double transitionJ = transitionEnergyJ(current, candidate, req.warmSpares());
    double saving = current.predictedPowerW() - candidate.predictedPowerW();
    boolean short_ = current.capacityRps() + 1e-9 < req.loadRps() || current.gpus() > req.gpuBudget();
    boolean same = sameLayout(current, candidate);
    if (same) {
      return new Result(candidate, outcome, outcome, !candidate.groups().equals(req.current().get().groups()),
          String.format(Locale.ROOT, "layout unchanged: %s at %.2f req/s", candidate.describe(), req.loadRps()),
          saving, 0);
    }
    if (short_) {
      Optional<PoolPlan> woken = current.gpus() > req.gpuBudget() ? Optional.empty() : grown(req, current, true);
      if (woken.isPresent() && !sameLayout(woken.get(), candidate)) {
        // warm spares carry the shortfall now; what the candidate needs beyond them would wait a start-up
        PoolPlan w = woken.get();
        return new Result(w, outcome, outcome, true, String.format(Locale.ROOT,
            "capacity short (%.2f of %.2f req/s): wakes warm spares, %s -> %s (%s would save %.0f W; it waits until"
                + " the pool is not short)", current.capacityRps(), req.loadRps(), current.describe(), w.describe(),
            candidate.describe(), w.predictedPowerW() - candidate.predictedPowerW()), saving,
            transitionEnergyJ(current, w, req.warmSpares()));
      }
      Optional<PoolPlan> grown = transitions.reshardCost().inPlace() || current.gpus() > req.gpuBudget()
          ? Optional.empty() : grown(req, current, false);
      if (grown.isPresent() && !sameLayout(grown.get(), candidate)) {
        // re-sharding by restart takes serving instances away for a start-up (or waits for room), while the pool
        // already misses its load: grow the current layout now; a re-shard for energy waits until it is not short
        PoolPlan g = grown.get();
        return new Result(g, outcome, outcome, true, String.format(Locale.ROOT,
            "capacity short (%.2f of %.2f req/s): grows %s -> %s, keeping its instances (%s would save %.0f W, a"
                + " re-shard by restart waits until the pool is not short)", current.capacityRps(), req.loadRps(),
            current.describe(), g.describe(), candidate.describe(), g.predictedPowerW() - candidate.predictedPowerW()),
            saving, transitionEnergyJ(current, g, req.warmSpares()));
      }
      if (grown.isEmpty() && !transitions.reshardCost().inPlace() && current.gpus() <= req.gpuBudget()) {
        // nothing fits beside the current instances: a restart is worth it only for clearly more capacity
        PoolPlan atMax = atMaxClock(req, current);
        if (candidate.capacityRps() <= atMax.capacityRps() * 1.05 && !sameLayout(atMax, candidate)) {
          return new Result(atMax, outcome, outcome, !sameLayout(atMax, current), String.format(Locale.ROOT,
              "capacity short (%.2f of %.2f req/s): holds %s at the highest clock, %s (%.2f req/s) would add too"
                  + " little to restart instances for", current.capacityRps(), req.loadRps(), atMax.describe(),
              candidate.describe(), candidate.capacityRps()), current.predictedPowerW() - atMax.predictedPowerW(), 0);
        }
      }
      return new Result(candidate, outcome, outcome, true, String.format(Locale.ROOT,
          "capacity short (%.2f of %.2f req/s): %s -> %s", current.capacityRps(), req.loadRps(), current.describe(),
          candidate.describe()), saving, transitionJ);
    }
    double gainJ = saving * req.remainingEpochSeconds();
    // hysteresis: a near-free in-place re-shard must still save a noticeable share of the pool's power, or pools
    // flip between layouts the profile ranks almost alike
    boolean worthIt = saving > settings.minRelativeSaving() * current.predictedPowerW();
    if (worthIt && gainJ > transitionJ * settings.switchThreshold()) {
      return new Result(candidate, outcome, outcome, true, String.format(Locale.ROOT,
          "saves %.0f W over %.0f s (%.0f kJ) for a %.1f kJ transition: %s -> %s", saving, req.remainingEpochSeconds(),
          gainJ / 1e3, transitionJ / 1e3, current.describe(), candidate.describe()), saving, transitionJ);
    }
    return new Result(current, Outcome.KEPT, outcome, false, String.format(Locale.ROOT,
        "kept %s: %s would save %.0f W (%.1f %%), %.0f kJ over the epoch, not worth a %.1f kJ transition",
        current.describe(), candidate.describe(), saving, 100 * saving / Math.max(1e-9, current.predictedPowerW()),
        gainJ / 1e3, transitionJ / 1e3), 0, 0);
  }

  /**
   * The current layout grown to carry the load: its groups at the highest allowed clock and, if that is not enough,
   * the least-power group of new instances of one configuration within the rest of the budget. Empty when no such
   * growth carries the load. With {@code warmOnly} only a group of the pool's warm spares (of one TP, at most as many
   * as it has), and empty when the current layout carries the load without them.
   */
  private Optional<PoolPlan> grown(Request req, PoolPlan current, boolean warmOnly) {
    if (warmOnly && req.warmSpares().isEmpty()) {
      return Optional.empty();
    }
    Mix target = target(req.mix());
    PoolPlan top = atMaxClock(req, current);
    List<PoolPlan.Group> atMax = top.groups();
    double capacity = top.capacityRps();
    if (capacity + 1e-9 >= req.loadRps()) {
      return warmOnly ? Optional.empty() : Optional.of(top);
    }
    int room = req.gpuBudget() - current.gpus();
    PoolPlan best = null;
    for (Row r : rows(req, target)) {
      if (r.loadRps() != r.capacityRps() || r.tp().degree() > room) {
        continue; // one row per configuration: the one at full capacity
      }
      int n = (int) Math.ceil((req.loadRps() - capacity) / r.capacityRps() - 1e-9);
      if (n < 1 || n * r.tp().degree() > room || warmOnly && n > req.warmSpares().getOrDefault(r.tp(), 0)) {
        continue;
      }
      List<PoolPlan.Group> groups = new ArrayList<>(atMax);
      groups.add(new PoolPlan.Group(r.tp(), r.clockMhz(), n, r.capacityRps(), 0));
      PoolPlan p = balanced(req, groups, current.gpus() + n * r.tp().degree());
      if (best == null || p.predictedPowerW() < best.predictedPowerW()) {
        best = p;
      }
    }
    return Optional.ofNullable(best);
  }

  /** The current layout with every group at the highest allowed clock, at the new load. */
  private PoolPlan atMaxClock(Request req, PoolPlan current) {
    Mix target = target(req.mix());
    int max = profile.clockLevelsMhz().stream().filter(req.bounds()::contains).max(Integer::compare)
        .orElse(profile.maxClockMhz());
    List<PoolPlan.Group> atMax = new ArrayList<>();
    for (PoolPlan.Group g : current.groups()) {
      double cap = profile.capacityRps(target, g.tp(), max);
      atMax.add(new PoolPlan.Group(g.tp(), max, g.instances(), Math.max(cap, 1e-9), 0));
    }
    return balanced(req, atMax, current.gpus());
  }

  /** The current layout re-evaluated at the new load. */
  private PoolPlan rebalance(Request req, PoolPlan current) {
    return balanced(req, current.groups(), current.gpus());
  }

  private static boolean sameLayout(PoolPlan a, PoolPlan b) {
    if (a.groups().size() != b.groups().size()) {
      return false;
    }
    for (int i = 0; i < a.groups().size(); i++) {
      PoolPlan.Group x = a.groups().get(i);
      PoolPlan.Group y = b.groups().get(i);
      if (!x.tp().equals(y.tp()) || x.instances() != y.instances() || x.clockMhz() != y.clockMhz()) {
        return false;
      }
    }
    return true;
  }

  /**
   * Energy of the transition: GPUs of instances whose TP changes re-shard (in place, or by restart), GPUs beyond the
   * current ones start new instances, except those a warm spare of their TP provides; both draw transition power
   * meanwhile. Clock-only changes are free.
   */
  double transitionEnergyJ(PoolPlan from, PoolPlan to, Map<TensorParallelism, Integer> warmSpares) {
    int[] fromByTp = new int[9];
    int[] toByTp = new int[9];
    from.groups().forEach(g -> fromByTp[g.tp().degree()] += g.gpus());
    to.groups().forEach(g -> toByTp[g.tp().degree()] += g.gpus());
    double joules = 0;
    int fromGpus = from.gpus();
    int toGpus = to.gpus();
    // GPUs that keep their TP need nothing; the rest of the GPUs in both layouts re-shard; extra GPUs start new.
    int kept = 0;
    for (int t = 1; t <= 8; t++) {
      kept += Math.min(fromByTp[t], toByTp[t]);
    }
    int resharded = Math.min(fromGpus, toGpus) - kept;
    if (resharded > 0) {
      double ms = transitions.reshardCost().millis(largestTp(from), largestTp(to));
      if (ms == 0) {
        ms = transitions.reshardCost().millis(TensorParallelism.TP2, TensorParallelism.TP8);
      }
      joules += resharded * transitions.transitionPowerW() * ms / 1e3;
    }
    int warm = 0;
    for (var e : warmSpares.entrySet()) {
      int t = e.getKey().degree();
      warm += Math.min(Math.max(0, toByTp[t] - fromByTp[t]), e.getValue() * t);
    }
    if (toGpus - warm > fromGpus) {
      joules += (toGpus - warm - fromGpus) * transitions.transitionPowerW() * transitions.startupMs() / 1e3;
    }
    return joules;
  }

  private static TensorParallelism largestTp(PoolPlan p) {
    return p.groups().isEmpty() ? TensorParallelism.TP8 : p.groups().get(0).tp();
  }
}
