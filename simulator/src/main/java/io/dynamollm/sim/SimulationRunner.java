package io.dynamollm.sim;

import io.dynamollm.decision.routing.OnlineOutputPredictor;
import io.dynamollm.decision.routing.OutputLengthPredictor;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
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
      String sizing, String predictor, double durationMs, Map<String, PolicyResult> policies, String oracleCheck) {}

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
    WorkloadStats stats = new WorkloadStats(workload, base.thresholds());
    String sizing;
    int servers = base.servers();
    double mixPenalty;
    // confirm by simulating SinglePool (on the busiest hour of a long workload): grow until it meets the SLOs; how far
    // the profile's mixed-pool estimate was off calibrates the cost of mixing types in one pool for every policy
    Workload probe = workload;
    WorkloadStats probeStats = stats;
    if (workload.durationMs() > 2 * 3_600_000.0) {
      int peakMinute = stats.peakHourStart(Policies.workRatios(base, RequestType.LL));
      probe = new WindowedWorkload(workload, peakMinute * 60_000.0, 3_600_000.0);
      probeStats = new WorkloadStats(probe, base.thresholds());
      log.accept("sizing on the busiest hour: " + probe.name());
    }
    int confirmed = serversForPeak(probeStats);
    for (int tries = 0; tries < 12; tries++) {
      PolicyResult r = runOne(probe, probeStats, "singlepool", confirmed, 1);
      if (r.sloAttainment() >= 0.99) {
        break;
      }
      log.accept(String.format(Locale.ROOT, "sizing: %d servers give %.2f%% attainment, trying %d", confirmed,
          100 * r.sloAttainment(), confirmed + 1));
      confirmed++;
    }
    mixPenalty = Math.max(1, mixPenalty(probeStats, confirmed));
    sizing = "the fewest 8-GPU servers on which SinglePool meets the SLOs for >= 99 % of requests (simulated"
        + (probe != workload ? " on the busiest hour)" : ")");
    if (servers <= 0) {
      servers = confirmed;
    } else {
      sizing = "given (--servers); SinglePool would need " + confirmed;
    }
    log.accept(String.format(Locale.ROOT, "servers: %d; mixed-pool penalty %.2f", servers, mixPenalty));
    this.mixPenalty = mixPenalty;
    Map<String, PolicyResult> results = new LinkedHashMap<>();
    for (String name : policyNames) {
      long t0 = System.nanoTime();
      PolicyResult r = runOne(workload, stats, name, servers);
      results.put(name, r);
      log.accept(String.format(Locale.ROOT, "%-14s %8.1f kWh  attainment %6.2f%%  avg servers %5.2f  (%.1f s)", name,
          r.energyKwh(), 100 * r.sloAttainment(), r.avgServers(), (System.nanoTime() - t0) / 1e9));
    }
    String check = "oracle not run";
    if (results.containsKey("oracle")) {
      PolicyResult o = results.get("oracle");
      List<String> beaten = new ArrayList<>();
      for (PolicyResult r : results.values()) {
        if (r != o && r.energyKwh() < o.energyKwh()) {
          beaten.add(String.format(Locale.ROOT, "%s %.2f kWh < oracle %.2f kWh", r.name(), r.energyKwh(), o.energyKwh()));
        }
      }
      if (!beaten.isEmpty()) {
        throw new OracleNotLowerBoundException("the oracle is not a lower bound on this run: " + String.join("; ", beaten));
      }
      check = "oracle used the least energy of all policies";
    }
    String predictor = predictors.get().describe();
    return new Report(workload.name(), workload.synthetic(), stats.requests, workload.skipped(), servers, sizing, predictor,
        workload.durationMs(), results, check);
  }

  private double mixPenalty = 1;

  private PolicyResult runOne(Workload workload, WorkloadStats stats, String name, int servers) {
    return runOne(workload, stats, name, servers, mixPenalty);
  }

  private PolicyResult runOne(Workload workload, WorkloadStats stats, String name, int servers, double penalty) {
    SimSettings s = base.withServers(servers).withPredictor(predictors.get()).withMixPenalty(penalty);
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
   * The mix penalty under which the profile's estimate for one LL pool of all types needs {@code servers} servers:
   * non-LL requests count this much more than their capacity ratio says.
   */
  double mixPenalty(WorkloadStats stats, int servers) {
    double lo = 1;
    double hi = 4;
    if (serversForPeakExact(stats, lo) >= servers - 0.5) {
      return 1;
    }
    for (int i = 0; i < 40; i++) {
      double mid = (lo + hi) / 2;
      if (serversForPeakExact(stats, mid) < servers - 0.5) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return hi;
  }

  private double serversForPeakExact(WorkloadStats stats, double penalty) {
    Profile p = base.profile();
    double[] ratios = Policies.workRatios(base.withMixPenalty(penalty), RequestType.LL);
    double peak = stats.peakWeighted(ratios, 1);
    double cap = p.capacityRps(RequestType.LL, TensorParallelism.TP8, p.maxClockMhz(), base.slos().of(RequestType.LL));
    return peak / cap;
  }

  private int serversForPeak(WorkloadStats stats, double penalty) {
    return Math.max(1, (int) Math.ceil(serversForPeakExact(stats, penalty) - 1e-9));
  }

  /** Servers whose TP8 max-clock instances carry the workload's peak (3-minute windows) within the SLOs. */
  int serversForPeak(WorkloadStats stats) {
    return serversForPeak(stats, 1);
  }


  /** A fresh online predictor (for --predictor online). */
  public static Supplier<OutputLengthPredictor> online(io.dynamollm.protocol.ClassThresholds t) {
    return () -> new OnlineOutputPredictor(t);
  }
}
