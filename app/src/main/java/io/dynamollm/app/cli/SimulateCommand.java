package io.dynamollm.app.cli;

import com.typesafe.config.Config;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.config.ProfileSettings;
import io.dynamollm.control.config.SloSettings;
import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.routing.OnlineOutputPredictor;
import io.dynamollm.decision.routing.OutputLengthPredictor;
import io.dynamollm.sim.AzureTraceWorkload;
import io.dynamollm.sim.GridIntensity;
import io.dynamollm.sim.ReportWriter;
import io.dynamollm.sim.SimSettings;
import io.dynamollm.sim.SimulationRunner;
import io.dynamollm.sim.WorkloadZoo;
import io.dynamollm.sim.Workload;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code dynamollm simulate}: replay a workload through every policy and compare energy and SLO attainment. */
@Command(
    name = "simulate",
    mixinStandardHelpOptions = true,
    description = {
      "Replays a workload through the policies on an iteration-level, discrete-event simulator and compares energy, SLO"
          + " attainment, latency, servers, carbon and cost. dynamollm runs the live control plane's cluster, pool and"
          + " instance steps, with the settings of dynamollm.decisions (--config).",
      "Policies: singlepool, multipool, scaleinst, scaleshard, scalefreq, autoscale, dynamollm, oracle (a bound with"
          + " perfect knowledge and free re-configuration; the run fails, exit code 3, if it meets the SLOs for fewer"
          + " than 99 %% of requests or a policy as good uses less energy), oracle-paid (the same knowledge, start-ups"
          + " and re-shards paid)."
    })
final class SimulateCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  static final class Source {
    @Option(names = "--trace", paramLabel = "FILE",
        description = "Azure LLM inference trace CSV (TIMESTAMP, ContextTokens, GeneratedTokens).")
    Path trace;

    @Option(names = "--workload", paramLabel = "NAME",
        description = "A workload of the built-in zoo (synthetic, seeded): conversation, coding (weeks), bursty,"
            + " coding-bursty, long-context, shifting-mix (an hour each); docs/simulator.md describes each.")
    String workload;
  }

  @ArgGroup(exclusive = true, multiplicity = "1")
  Source source;

  @Option(names = "--days", paramLabel = "N",
      description = "Length of a zoo workload in days, fractions allowed (default: 7 for the weeks, 1/24 for the others).")
  Double days;

  @Option(names = "--average-rps", paramLabel = "X",
      description = "Mean request rate of a zoo workload (the weeks: a weekday's; default: the workload's own).")
  Double averageRps;

  @Option(names = "--policies", paramLabel = "LIST", split = ",",
      defaultValue = "singlepool,multipool,scaleinst,scaleshard,scalefreq,autoscale,dynamollm,oracle,oracle-paid",
      description = "Comma-separated policies (default: all nine).")
  List<String> policies;

  @Option(names = "--servers", paramLabel = "N", defaultValue = "0",
      description = "8-GPU servers every policy may use (default: the fewest SinglePool needs at the peak).")
  int servers;

  @Option(names = "--rate-scale", paramLabel = "X", defaultValue = "1",
      description = "Multiply the request rate, keeping the time shape (trace rows are replayed X times; default 1).")
  double rateScale;

  @Option(names = "--window-start-min", paramLabel = "M", defaultValue = "0", description = "Start of the trace window, minutes.")
  double windowStartMin;

  @Option(names = "--window-minutes", paramLabel = "M", defaultValue = "0", description = "Length of the trace window (0 = to the end).")
  double windowMinutes;

  @Option(names = "--predictor", paramLabel = "noisy|oracle|online", defaultValue = "noisy",
      description = "Output-length predictor of the policies that route by type (default ${DEFAULT-VALUE}).")
  String predictor;

  @Option(names = "--predictor-accuracy", paramLabel = "A", defaultValue = "0.81",
      description = "Accuracy of the noisy predictor (default ${DEFAULT-VALUE}, the paper's BERT classifier).")
  double accuracy;

  @Option(names = "--reshard", paramLabel = "in-place|restart|TIME", defaultValue = "in-place",
      description = "What a TP change costs: in-place (NVLink, ~50-100 ms), restart (90 s engine restart) or an in-place"
          + " change taking a fixed time such as 5s (default ${DEFAULT-VALUE}).")
  String reshard;

  @Option(names = "--jobs", paramLabel = "N",
      description = "Policies simulated at once, each on its own core (default 0: as many as there are cores); the"
          + " results are the same for any number.",
      defaultValue = "0")
  int jobs;

  @Option(names = "--seed", paramLabel = "S", defaultValue = "1", description = "Random seed (default ${DEFAULT-VALUE}).")
  long seed;

  @Option(names = "--carbon-g-per-kwh", paramLabel = "G", defaultValue = "400",
      description = "Grid carbon intensity, gCO2/kWh (default ${DEFAULT-VALUE}).")
  double carbon;

  @Option(names = "--carbon-csv", paramLabel = "FILE",
      description = "Grid intensity over time instead: CSV rows hour,g_per_kwh (hours from the workload's start).")
  Path carbonCsv;

  @Option(names = "--server-hour-usd", paramLabel = "P", defaultValue = "20",
      description = "Price of one 8-GPU server-hour (default ${DEFAULT-VALUE}).")
  double serverHourUsd;

  @Option(names = "--kwh-usd", paramLabel = "P", defaultValue = "0.10", description = "Price of one kWh (default ${DEFAULT-VALUE}).")
  double kwhUsd;

  @Option(names = "--report-json", paramLabel = "FILE",
      description = "Where to write the JSON report (the summary always goes to the console).")
  Path reportJson;

  @Option(names = "--report-html", paramLabel = "DIR", description = "Also write an HTML report with charts into DIR.")
  Path reportHtml;

  @Option(names = "--provisioning", paramLabel = "peak|day", defaultValue = "peak",
      description = "Size the cluster (and SinglePool) for the workload's own peak, or for the peak of the diurnal day"
          + " it stands in, as the paper provisions its baseline (default ${DEFAULT-VALUE}).")
  String provisioning;

  @Option(names = "--day-peak-over-average", paramLabel = "X", defaultValue = "1.7",
      description = "With --provisioning day: a workload shorter than a day is an average hour of a day whose peak is"
          + " X times the average (default ${DEFAULT-VALUE}, the conversation service's; coding: 2.8).")
  double dayPeakOverAverage;

  @Option(names = "--config", paramLabel = "FILE",
      description = "HOCON file with dynamollm.slo, dynamollm.profile and dynamollm.decisions settings.")
  Path config;

  @CommandLine.Mixin ProfileOption profileOption = new ProfileOption();

  @Option(names = "--power-budget-w", paramLabel = "W", defaultValue = "0",
      description = "A watt budget for the dynamollm policy: the most GPU power the cluster may draw, held as the live"
          + " cluster holds power_budget_w (0: none, the default).")
  double powerBudgetW;

  @Override
  public Integer call() throws IOException {
    PrintWriter err = spec.commandLine().getErr();
    Config cfg = profileOption.apply(ConfigFiles.load(Optional.ofNullable(config)));
    Profile profile = MemoizedProfile.of(ProfileSettings.profile(cfg));
    ClassThresholds thresholds = ClassThresholds.DEFAULT;
    if (!(accuracy >= 0 && accuracy <= 1)) {
      throw new IllegalArgumentException("--predictor-accuracy must be within 0..1, got " + accuracy);
    }
    if (servers < 0) {
      throw new IllegalArgumentException("--servers must be >= 0, got " + servers);
    }
    if (!(powerBudgetW >= 0) || Double.isInfinite(powerBudgetW)) {
      throw new IllegalArgumentException("--power-budget-w must be a finite number of watts >= 0, got " + powerBudgetW);
    }
    if (jobs < 0) {
      throw new IllegalArgumentException("--jobs must be >= 0 (0: as many as there are cores), got " + jobs);
    }
    Supplier<OutputLengthPredictor> predictors = switch (predictor) {
      case "oracle" -> () -> OutputLengthPredictor.oracle(thresholds);
      case "noisy" -> () -> OutputLengthPredictor.noisyOracle(thresholds, accuracy, OutputLengthPredictor.Confusion.ADJACENT, seed);
      case "online" -> () -> new OnlineOutputPredictor(thresholds);
      default -> throw new IllegalArgumentException("--predictor must be noisy, oracle or online, got '" + predictor + "'");
    };
    Workload w;
    if (source.trace != null) {
      err.println("reading " + source.trace + " ...");
      err.flush();
      w = AzureTraceWorkload.read(source.trace, rateScale, windowStartMin * 60_000, windowMinutes * 60_000);
    } else {
      w = WorkloadZoo.create(source.workload, days, averageRps, rateScale, seed);
    }
    SimSettings settings = new SimSettings(profile, SloSettings.fromConfig(cfg).resolve(profile), thresholds, servers,
        DecisionSettings.fromConfig(cfg), 60_000L, 7 * 60_000L, ReshardCost.preset(reshard), profile.loadingPowerW(),
        predictors.get(), seed, carbonCsv != null ? GridIntensity.csv(carbonCsv) : GridIntensity.constant(carbon),
        serverHourUsd / 8, kwhUsd).withPowerBudget(powerBudgetW);
    err.println("profile: " + profile.model() + " on " + profile.hardware());
    err.println("workload: " + w.name());
    err.flush();
    SimulationRunner runner = new SimulationRunner(settings, predictors, line -> {
      err.println(line);
      err.flush();
    }, SimulationRunner.Provisioning.parse(provisioning), dayPeakOverAverage,
        jobs == 0 ? Runtime.getRuntime().availableProcessors() : jobs);
    SimulationRunner.Report report = runner.run(w, policies.stream().map(String::trim).toList());
    if (reportJson != null) {
      Path parent = reportJson.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      Files.writeString(reportJson, ReportWriter.json(report));
    }
    PrintWriter out = spec.commandLine().getOut();
    out.printf("%d servers (%s)%n", report.servers(), report.sizing());
    var base = report.policies().get("singlepool");
    report.policies().values().forEach(p -> out.printf(java.util.Locale.ROOT,
        "%-14s %9.2f kWh  %s  attainment %6.2f %%  avg servers %5.2f%n", p.name(), p.energyKwh(),
        base != null ? String.format(java.util.Locale.ROOT, "%+6.1f %% vs singlepool", 100 * (p.energyKwh() / base.energyKwh() - 1))
            : "", 100 * p.sloAttainment(), p.avgServers()));
    out.println(report.oracleCheck());
    if (reportJson != null) {
      out.println("JSON report: " + reportJson);
    }
    if (reportHtml != null) {
      out.println("HTML report: " + ReportWriter.html(report, reportHtml));
    }
    out.flush();
    if (!report.boundHolds()) {
      err.println("error: " + report.oracleCheck());
      err.flush();
      return 3;
    }
    return 0;
  }
}
