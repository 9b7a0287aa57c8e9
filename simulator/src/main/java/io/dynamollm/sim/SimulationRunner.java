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
import java.util.function.Consumer;
import java.util.function.Supplier;

/** Sizes the cluster, runs each policy on the same workload, and checks the oracle is the lower bound. */
public final class SimulationRunner {

  /** What a whole comparison produced. */
  public record Report(String workload, boolean synthetic, long requestsInWorkload, long skippedRows, int servers,
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

  /**
   * @param base settings; {@code servers() <= 0} means "size for the peak"
   * @param predictors a fresh predictor for each policy run
   * @param log progress lines
   */
  public SimulationRunner(SimSettings base, Supplier<OutputLengthPredictor> predictors, Consumer<String> log) {
    this.base = base;
    this.predictors = predictors;
    this.log = log;
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
    int confirmed = serversForPeak(probeStats);
    for (int tries = 0; tries < 24; tries++) {
      PolicyResult r = runOne(probe, probeStats, "singlepool", confirmed);
      if (r.sloAttainment() >= 0.99) {
        break;
      }
      log.accept(String.format(Locale.ROOT, "sizing: %d servers give %.2f%% attainment, trying %d", confirmed,
          100 * r.sloAttainment(), confirmed + 1));
      confirmed++;
    }
    sizing = "the fewest 8-GPU servers on which SinglePool meets the SLOs for >= 99 % of requests (simulated"
        + (probe != workload ? " on the busiest hour)" : ")");
    if (servers <= 0) {
      servers = confirmed;
    } else {
      sizing = "given (--servers); SinglePool would need " + confirmed;
    }
    log.accept(String.format(Locale.ROOT, "servers: %d", servers));
    Map<String, PolicyResult> results = new LinkedHashMap<>();
    for (String name : policyNames) {
      long t0 = System.nanoTime();
      PolicyResult r = runOne(workload, stats, name, servers);
      results.put(name, r);
      log.accept(String.format(Locale.ROOT, "%-14s %8.1f kWh  attainment %6.2f%%  avg servers %5.2f  (%.1f s)", name,
          r.energyKwh(), 100 * r.sloAttainment(), r.avgServers(), (System.nanoTime() - t0) / 1e9));
    }
    String check;
    boolean holds = true;
    try {
      check = oracleCheck(results);
    } catch (OracleNotLowerBoundException e) {
      check = e.getMessage();
      holds = false;
    }
    String predictor = predictors.get().describe();
    return new Report(workload.name(), workload.synthetic(), stats.requests, workload.skipped(), servers, sizing, predictor,
        workload.durationMs(), results, check, holds);
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

  /** Servers whose TP8 max-clock instances carry the workload's peak (3-minute windows) of its own mix. */
  int serversForPeak(WorkloadStats stats) {
    double peak = stats.peakWeighted(ONES, 1);
    double cap = Policies.capacity(base, stats.mix(java.util.EnumSet.allOf(RequestType.class), base.slos()),
        TensorParallelism.TP8);
    return Math.max(1, (int) Math.ceil(peak / Math.max(cap, 1e-9) - 1e-9));
  }

  /** A fresh online predictor (for --predictor online). */
  public static Supplier<OutputLengthPredictor> online(io.dynamollm.protocol.ClassThresholds t) {
    return () -> new OnlineOutputPredictor(t);
  }
}
