package io.dynamollm.sim;

import io.dynamollm.decision.routing.OnlineOutputPredictor;
import io.dynamollm.decision.routing.OutputLengthPredictor;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import java.util.function.Supplier;

/** Sizes the cluster, runs each policy on the same workload, and checks the oracle is the lower bound. */
public final class SimulationRunner {

  /** What a whole comparison produced. */
  public record Report(String profile, String workload, boolean synthetic, long requestsInWorkload, long skippedRows, int servers,
      String sizing, String predictor, double durationMs, Map<String, PolicyResult> policies, String oracleCheck,
      boolean boundHolds) {}

  /** The oracle used more energy than another policy: it is not a lower bound, and the run says so loudly. */
  public static final class OracleNotLowerBoundException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    OracleNotLowerBoundException(String message) {
      super(message);
    }
  }

  private final SimSettings base;
  private final Supplier<OutputLengthPredictor> predictors;
  private final Consumer<String> log;
  private final double dayPeakOverAverage;

  /**
   * How the cluster (and SinglePool on it) is provisioned.
   *
   * <ul>
   *   <li>{@code PEAK}: for the workload's own peak — the fewest servers on which SinglePool meets the SLOs;
   *   <li>{@code DAY}: for the peak of the diurnal day the workload stands in, as the paper provisions its baseline: a
   *       workload shorter than a day is taken as an average hour of a day whose peak is {@code dayPeakOverAverage}
   *       times the average (the conversation service's 1.7), a longer one has its day's peak in it. SinglePool on the
   *       peak-provisioned servers is reported beside it as {@code singlepool-peak}.
   * </ul>
   */
  public enum Provisioning {
    PEAK,
    DAY;

    public static Provisioning parse(String s) {
      for (Provisioning p : values()) {
        if (p.name().equalsIgnoreCase(s)) {
          return p;
        }
      }
      throw new IllegalArgumentException("--provisioning must be peak or day, got '" + s + "'");
    }
  }

  private final Provisioning provisioning;
  /** Policies simulated at once (each its own simulation on its own thread; results do not depend on it). */
  private final int jobs;

  /**
   * @param base settings; {@code servers() <= 0} means "size for the peak"
   * @param predictors a fresh predictor for each policy run
   * @param log progress lines
   */
  public SimulationRunner(SimSettings base, Supplier<OutputLengthPredictor> predictors, Consumer<String> log) {
    this(base, predictors, log, Provisioning.PEAK, 1.7, 1);
  }

  /**
   * @param jobs how many policies are simulated at once (each simulation is single-threaded and its own; the results
   *     are the same for any number)
   */
  public SimulationRunner(SimSettings base, Supplier<OutputLengthPredictor> predictors, Consumer<String> log,
      Provisioning provisioning, double dayPeakOverAverage, int jobs) {
    if (!(dayPeakOverAverage >= 1) || Double.isInfinite(dayPeakOverAverage)) {
      throw new IllegalArgumentException("--day-peak-over-average must be a finite number >= 1, got "
          + dayPeakOverAverage);
    }
    if (jobs < 1) {
      throw new IllegalArgumentException("--jobs must be at least 1, got " + jobs);
    }
    this.jobs = jobs;
    this.base = base;
    this.predictors = predictors;
    this.log = log;
    this.provisioning = provisioning;
    this.dayPeakOverAverage = dayPeakOverAverage;
  }

  public Report run(Workload workload, List<String> policyNames) {
    for (String p : policyNames) {
      if (!Policies.known(p)) {
        throw new IllegalArgumentException("unknown policy '" + p + "': expected some of "
            + String.join(",", Policies.ALL));
      }
    }
    WorkloadStats stats = new WorkloadStats(workload, base.thresholds(), base.profile());
    String sizing;
    int servers = base.servers();
    // confirm by simulating SinglePool (on the busiest hour of a long workload): grow until it meets the SLOs
    Workload probe = workload;
    WorkloadStats probeStats = stats;
    if (workload.durationMs() > 2 * 3_600_000.0) {
      int peakMinute = stats.peakHourStart(ONES);
      probe = new WindowedWorkload(workload, peakMinute * 60_000.0, 3_600_000.0);
      probeStats = new WorkloadStats(probe, base.thresholds(), base.profile());
      log.accept("sizing on the busiest hour: " + probe.name());
    }
    int confirmed = fewestServers(probe, probeStats, serversForPeak(probeStats));
    sizing = "the fewest 8-GPU servers on which SinglePool meets the SLOs for >= 99 % of requests (simulated"
        + (probe != workload ? " on the busiest hour)" : ")");
    int peakServers = confirmed;
    if (provisioning == Provisioning.DAY && workload.durationMs() < SyntheticWorkload.DAY_MS) {
      // an average hour of a day whose peak is dayPeakOverAverage times it: SinglePool sized for that peak
      double mean = stats.requests / (workload.durationMs() / 1000);
      double ownPeak = stats.peakWeighted(ONES, 1);
      double factor = Math.max(1, dayPeakOverAverage * mean / Math.max(ownPeak, 1e-9));
      confirmed = (int) Math.ceil(confirmed * factor - 1e-9);
      sizing += String.format(Locale.ROOT, "; provisioned for the day's peak (%.1fx the average, %.2fx this"
          + " workload's own peak): %d servers", dayPeakOverAverage, factor, confirmed);
    }
    if (servers <= 0) {
      servers = confirmed;
    } else {
      sizing = "given (--servers); SinglePool would need " + confirmed;
    }
    log.accept(String.format(Locale.ROOT, "servers: %d", servers));
    // every run on its own simulation (the workload is iterated afresh, the predictor is a fresh one with the same
    // seed, the profile's caches are concurrent): run them side by side, report them in the order asked
    Map<String, Callable<PolicyResult>> runs = new LinkedHashMap<>();
    if (provisioning == Provisioning.DAY && peakServers != servers && policyNames.contains("singlepool")) {
      runs.put("singlepool-peak", () -> runOne(workload, stats, "singlepool", peakServers).named("singlepool-peak"));
    }
    int n = servers;
    for (String name : policyNames) {
      runs.put(name, () -> runOne(workload, stats, name, n));
    }
    Map<String, PolicyResult> results = runAll(runs);
    String check;
    boolean holds = true;
    try {
      check = oracleCheck(results);
    } catch (OracleNotLowerBoundException e) {
      check = e.getMessage();
      holds = false;
    }
    String predictor = predictors.get().describe();
    return new Report(base.profile().model() + " on " + base.profile().hardware(), workload.name(),
        workload.synthetic(), stats.requests, workload.skipped(), servers, sizing, predictor,
        workload.durationMs(), results, check, holds);
  }

  /** Policies by how long they take on a long workload (docs/results.md), the slowest first; the rest after them. */
  private static final List<String> SLOWEST_FIRST = List.of("dynamollm", "scalefreq", "scaleshard", "oracle",
      "oracle-paid");

  /** Runs each, {@link #jobs} at a time, logging each result as it completes; the results in the order given. */
  private Map<String, PolicyResult> runAll(Map<String, Callable<PolicyResult>> runs) {
    ExecutorService pool = Executors.newFixedThreadPool(Math.min(jobs, Math.max(1, runs.size())), r -> {
      Thread t = new Thread(r, "simulate");
      t.setDaemon(true);
      return t;
    });
    try {
      Map<String, Future<PolicyResult>> futures = new java.util.HashMap<>();
      // the slowest first (their own governors and planners: several times the others on a long workload), so that
      // the last to finish is not one that started last
      List<String> order = new ArrayList<>(runs.keySet());
      order.sort(java.util.Comparator.comparingInt(name -> SLOWEST_FIRST.contains(name)
          ? SLOWEST_FIRST.indexOf(name) : SLOWEST_FIRST.size()));
      for (String name : order) {
        Callable<PolicyResult> run = runs.get(name);
        futures.put(name, pool.submit(() -> {
        long t0 = System.nanoTime();
        PolicyResult r = run.call();
        log.accept(String.format(Locale.ROOT, "%-14s %8.1f kWh  attainment %6.2f%%  avg servers %5.2f  (%.1f s)", name,
            r.energyKwh(), 100 * r.sloAttainment(), r.avgServers(), (System.nanoTime() - t0) / 1e9));
        return r;
        }));
      }
      Map<String, PolicyResult> results = new LinkedHashMap<>();
      for (String name : runs.keySet()) {
        try {
          results.put(name, futures.get(name).get());
        } catch (ExecutionException ex) {
          Throwable cause = ex.getCause();
          if (cause instanceof RuntimeException re) {
            throw re;
          }
          if (cause instanceof Error err) {
            throw err;
          }
          throw new IllegalStateException(name + ": " + cause, cause);
        }
      }
      return results;
    } catch (InterruptedException ex) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while simulating", ex);
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * The fewest servers on which SinglePool meets the SLOs for 99 % of the probe's requests, simulated: from the
   * profile's estimate, more while it misses, fewer while it holds (the estimate sizes for what arrives together in
   * each quarter hour; a shifting mix may need less).
   */
  private int fewestServers(Workload probe, WorkloadStats probeStats, int estimate) {
    int n = estimate;
    if (holds(probe, probeStats, n)) {
      int lo = 0; // fails (or none)
      int hi = n; // holds
      while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (holds(probe, probeStats, mid)) {
          hi = mid;
        } else {
          lo = mid;
        }
      }
      return hi;
    }
    for (int tries = 0; tries < 24 && !holds(probe, probeStats, n + 1); tries++) {
      n++;
    }
    return n + 1;
  }

  private boolean holds(Workload probe, WorkloadStats probeStats, int servers) {
    if (servers < 1) {
      return false;
    }
    PolicyResult r = runOne(probe, probeStats, "singlepool", servers);
    log.accept(String.format(Locale.ROOT, "sizing: %d servers give %.2f%% attainment", servers,
        100 * r.sloAttainment()));
    return r.sloAttainment() >= 0.99;
  }

  /** Every type weighs alike (the busiest hour by requests). */
  private static final double[] ONES = {1, 1, 1, 1, 1, 1, 1, 1, 1};

  /**
   * The oracle is a bound: it meets the SLOs for at least 99 % of the requests, and no policy with an attainment as
   * good uses less energy. Either failing means the bound is not one on this run, and the run says so loudly.
   */
  static String oracleCheck(Map<String, PolicyResult> results) {
    if (!results.containsKey("oracle")) {
      return "oracle not run";
    }
    PolicyResult o = results.get("oracle");
    List<String> wrong = new ArrayList<>();
    if (!(o.sloAttainment() >= 0.99)) {
      wrong.add(String.format(Locale.ROOT, "the oracle met the SLOs for only %.2f %% of requests (a bound must hold"
          + " them for 99 %%)", 100 * o.sloAttainment()));
    }
    for (PolicyResult r : results.values()) {
      if (r != o && r.energyKwh() < o.energyKwh() && r.sloAttainment() >= o.sloAttainment()) {
        wrong.add(String.format(Locale.ROOT, "%s used %.2f kWh < the oracle's %.2f kWh at %.2f %% >= %.2f %%",
            r.name(), r.energyKwh(), o.energyKwh(), 100 * r.sloAttainment(), 100 * o.sloAttainment()));
      }
    }
    if (!wrong.isEmpty()) {
      throw new OracleNotLowerBoundException("the oracle is not a bound on this run: " + String.join("; ", wrong));
    }
    return String.format(Locale.ROOT, "oracle: %.2f %% attainment, no policy as good uses less energy",
        100 * o.sloAttainment());
  }

  private PolicyResult runOne(Workload workload, WorkloadStats stats, String name, int servers) {
    SimSettings s = base.withServers(servers).withPredictor(predictors.get());
    Simulation sim = new Simulation(s, Policies.create(name, stats));
    sim.onProgress((now, duration) -> {
      if (duration > 6 * 3_600_000.0) {
        log.accept(String.format(Locale.ROOT, "  %s: %.0f%% (%.1f of %.1f h simulated)", name, 100 * now / duration,
            now / 3.6e6, duration / 3.6e6));
      }
    });
    return sim.run(workload);
  }

  /**
   * Servers whose TP8 max-clock instances carry the workload's busiest 3 minutes of each quarter hour, each of the
   * mix of that quarter hour (a workload whose mix shifts is sized for what arrives together).
   */
  int serversForPeak(WorkloadStats stats) {
    double servers = 0;
    var all = java.util.EnumSet.allOf(RequestType.class);
    for (int m0 = 0; m0 < stats.minutes; m0 += 15) {
      double peak = stats.peakWeighted(ONES, 1, m0, m0 + 15);
      if (peak > 0) {
        double cap = Policies.capacity(base, stats.mix(all, base.slos(), m0, m0 + 15), TensorParallelism.TP8);
        servers = Math.max(servers, peak / Math.max(cap, 1e-9));
      }
    }
    return Math.max(1, (int) Math.ceil(servers - 1e-9));
  }

  /** A fresh online predictor (for --predictor online). */
  public static Supplier<OutputLengthPredictor> online(io.dynamollm.protocol.ClassThresholds t) {
    return () -> new OnlineOutputPredictor(t);
  }
}
