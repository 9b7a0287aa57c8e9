package io.dynamollm.control.sim;

import io.dynamollm.control.decision.OnlineOutputPredictor;
import io.dynamollm.control.decision.OutputLengthPredictor;
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
      if (!Policies.ALL.contains(p)) {
        throw new IllegalArgumentException("unknown policy '" + p + "': expected some of " + String.join(",", Policies.ALL));
      }
    }
    WorkloadStats stats = new WorkloadStats(workload, base.thresholds());
    String sizing;
    int servers = base.servers();
    if (servers <= 0) {
      servers = serversForPeak(stats);
      sizing = "the fewest 8-GPU servers whose TP8 instances at the maximum clock carry the peak within the SLOs";
      if (workload.durationMs() <= 6 * 3_600_000.0) {
        // confirm by simulating SinglePool; grow until it meets the SLOs
        for (int tries = 0; tries < 6; tries++) {
          PolicyResult r = runOne(workload, stats, "singlepool", servers);
          if (r.sloAttainment() >= 0.99) {
            break;
          }
          log.accept(String.format(Locale.ROOT, "sizing: %d servers give %.2f%% attainment, trying %d", servers,
              100 * r.sloAttainment(), servers + 1));
          servers++;
        }
        sizing += " (confirmed by simulating SinglePool at >= 99 % attainment)";
      }
    } else {
      sizing = "given (--servers)";
    }
    Map<String, PolicyResult> results = new LinkedHashMap<>();
    for (String name : policyNames) {
      long t0 = System.nanoTime();
      PolicyResult r = runOne(workload, stats, name, servers);
      results.put(name, r);
      log.accept(String.format(Locale.ROOT, "%-10s %8.1f kWh  attainment %6.2f%%  avg servers %5.2f  (%.1f s)", name,
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

  /** Servers whose TP8 max-clock instances carry the workload's peak (3-minute windows) within the SLOs. */
  int serversForPeak(WorkloadStats stats) {
    Profile p = base.profile();
    double[] ratios = Policies.workRatios(p, base.slos(), RequestType.LL);
    double peak = stats.peakWeighted(ratios, 1);
    double cap = p.capacityRps(RequestType.LL, TensorParallelism.TP8, p.maxClockMhz(), base.slos().of(RequestType.LL));
    return Math.max(1, (int) Math.ceil(peak / cap - 1e-9));
  }

  /** A fresh online predictor (for --predictor online). */
  public static Supplier<OutputLengthPredictor> online(io.dynamollm.protocol.ClassThresholds t) {
    return () -> new OnlineOutputPredictor(t);
  }
}
