package io.dynamollm.app.cli;

import io.dynamollm.control.profiler.EngineProfiler;
import io.dynamollm.control.profiler.ProfileRun;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.ProfileBuild;
import io.dynamollm.protocol.profile.ProfileDocument;
import io.dynamollm.protocol.profile.ProfileJson;
import io.dynamollm.protocol.profile.TableProfile;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code dynamollm profile build}: a profile file from a live OpenAI-compatible engine. */
@Command(
    name = "build",
    mixinStandardHelpOptions = true,
    description = {
      "Measures a running OpenAI-compatible engine (vLLM, or engine-sim) of one tensor-parallel degree and writes a"
          + " profile file: decode-step time and GPU power by batch and context (concurrent streams), prefill time"
          + " by prompt length (time to first token), idle power, KV-cache capacity (the engine's metrics). GPU power"
          + " and energy come from NVML, or from a DCGM exporter's (or engine-sim's) metrics. What a client cannot"
          + " measure (all-reduce, the frequency model, request lengths) comes from --base.",
      "The GPUs are only read: their clocks stay as the host runs them and the file says the frequency axis is"
          + " modeled -- unless --sweep-clocks is given, on a host whose operator allows locking its GPUs' clocks"
          + " (never a shared or borrowed machine): then a few points are measured again at each clock and the"
          + " frequency model is fitted to them. Run once per degree on an otherwise idle engine (sweep in one of"
          + " the runs), then 'profile merge' the files.",
      "Each finished point goes to the journal (--journal) at once: an interrupted run keeps them, and --resume"
          + " goes on from there."
    })
final class ProfileBuildCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--engine", paramLabel = "URL", required = true,
      description = "The engine's base URL, e.g. http://127.0.0.1:8000 (it serves /v1/completions and /metrics).")
  String engine;

  @Option(names = "--tp", paramLabel = "N", required = true, description = "The engine's tensor parallelism.")
  int tp;

  @Option(names = "--gpus", paramLabel = "LIST", required = true, split = ",",
      description = "The engine's GPUs, comma-separated indices (as many as --tp).")
  List<Integer> gpus;

  @Option(names = "--out", paramLabel = "FILE", required = true, description = "The profile file to write.")
  Path out;

  @Option(names = "--base", paramLabel = "FILE|NAME", defaultValue = Profiles.H100,
      description = "Profile of the same model that gives all-reduce times, the frequency model, request lengths and"
          + " the points to measure (default ${DEFAULT-VALUE}).")
  String base;

  @Option(names = "--hardware", paramLabel = "NAME", description = "The server's name (default: the base's).")
  String hardware;

  @Option(names = "--model", paramLabel = "NAME",
      description = "Model name to send (default: the engine's first of /v1/models, else the base's).")
  String model;

  @Option(names = "--power-from", paramLabel = "auto|nvml|URL", defaultValue = "auto",
      description = "Where GPU power and energy are read: nvml (this host's driver), the URL of a DCGM exporter's"
          + " metrics, or auto: NVML, else the engine's own metrics (engine-sim shows its simulated GPUs there).")
  String powerFrom;

  @Option(names = "--nvml-library", paramLabel = "PATH", description = "libnvidia-ml.so.1 to load (default: the system's).")
  String nvmlLibrary;

  @Option(names = "--journal", paramLabel = "FILE",
      description = "Measurement journal (default: the --out file with .measurements.csv).")
  Path journal;

  @Option(names = "--resume", description = "Go on from the points the journal holds.")
  boolean resume;

  @Option(names = "--batches", paramLabel = "LIST", split = ",",
      description = "Decode batch sizes, from 1 (default: the base's decode batches).")
  List<Integer> batches;

  @Option(names = "--prompts", paramLabel = "LIST", split = ",",
      description = "Prompt lengths for prefill (default: the base's).")
  List<Integer> prompts;

  @Option(names = "--contexts", paramLabel = "LIST", split = ",",
      description = "Other decode contexts for the context's effect (default: the base's, else 256,4096).")
  List<Integer> contexts;

  @Option(names = "--repeats", paramLabel = "N", defaultValue = "5",
      description = "Lone prompts per prompt length; the median counts (default ${DEFAULT-VALUE}).")
  int repeats;

  @Option(names = "--decode-steps", paramLabel = "N", defaultValue = "48",
      description = "Decode steps each batch is timed over (default ${DEFAULT-VALUE}).")
  int decodeSteps;

  @Option(names = "--time-scale", paramLabel = "X", defaultValue = "1",
      description = "How many times faster than real time the engine runs: engine-sim's --speedup; 1 for a real"
          + " engine (default ${DEFAULT-VALUE}).")
  double timeScale;

  @Option(names = "--sweep-clocks", paramLabel = "LIST", split = ",",
      description = "Lock the engine's GPUs at each of these SM clocks (MHz, below the maximum) for a few decode"
          + " batches and prompts, and fit the frequency model to them; the GPUs get their own clocks back after,"
          + " also when interrupted. Only where the host's operator allows it: never on shared or borrowed machines.")
  List<Integer> sweepClocks;

  @Option(names = "--clock-control", paramLabel = "nvml|engine", defaultValue = "nvml",
      description = "How --sweep-clocks locks the clocks: nvml (this host's driver; root or the administrator's"
          + " permission) or engine (engine-sim's simulated GPUs) (default ${DEFAULT-VALUE}).")
  String clockControl;

  @Option(names = "--kv-cache-tokens", paramLabel = "N",
      description = "The engine's KV-cache capacity, where its metrics lack vllm:cache_config_info.")
  Long kvCacheTokens;

  @Override
  public Integer call() throws Exception {
    TensorParallelism degree;
    try {
      degree = TensorParallelism.of(tp);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--tp: " + e.getMessage());
    }
    URI uri = uri("--engine", engine);
    TableProfile baseProfile = ProfileOption.resolve(base);
    ProfileRun.PowerSource power = switch (powerFrom) {
      case "auto" -> new ProfileRun.PowerSource.Auto(Optional.ofNullable(nvmlLibrary));
      case "nvml" -> new ProfileRun.PowerSource.Nvml(Optional.ofNullable(nvmlLibrary));
      default -> new ProfileRun.PowerSource.Exporter(uri("--power-from", powerFrom));
    };
    EngineProfiler.Plan plan;
    try {
      EngineProfiler.Plan like = EngineProfiler.Plan.like(baseProfile.document(), degree, repeats, decodeSteps,
          timeScale, kvCacheTokens == null ? OptionalLong.empty() : OptionalLong.of(kvCacheTokens));
      plan = new EngineProfiler.Plan(degree, batches != null ? batches : like.batches(), like.contextTokens(),
          contexts != null ? contexts : like.contexts(), like.contextBatch(), prompts != null ? prompts : like.prompts(),
          repeats, decodeSteps, timeScale, like.kvCacheTokens());
      if (sweepClocks != null) {
        plan = plan.sweeping(sweepClocks.stream().sorted().distinct().toList());
      }
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
    ProfileRun.ClockControl control = switch (clockControl) {
      case "nvml" -> new ProfileRun.ClockControl.Nvml(Optional.ofNullable(nvmlLibrary));
      case "engine" -> new ProfileRun.ClockControl.EngineSim();
      default -> throw new CommandLine.ParameterException(spec.commandLine(), "--clock-control must be nvml or engine,"
          + " got '" + clockControl + "'");
    };
    if (sweepClocks == null && spec.commandLine().getParseResult().hasMatchedOption("--clock-control")) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--clock-control is for --sweep-clocks, which is"
          + " not given");
    }
    Path journalFile = journal != null ? journal : Path.of(out + ".measurements.csv");
    ProfileRun.Settings settings = new ProfileRun.Settings(uri, Optional.ofNullable(model), gpus, power, journalFile,
        resume, hardware, control);
    PrintWriter err = spec.commandLine().getErr();
    PrintWriter w = spec.commandLine().getOut();
    AtomicInteger done = new AtomicInteger();
    AtomicInteger total = new AtomicInteger();
    AtomicBoolean finished = new AtomicBoolean();
    Thread onInterrupt = new Thread(() -> {
      if (!finished.get()) {
        err.printf("%ninterrupted after %d of %d points; %s keeps them: run the same command with --resume%n",
            done.get(), total.get(), journalFile);
        err.flush();
      }
    });
    Runtime.getRuntime().addShutdownHook(onInterrupt);
    boolean tty = System.console() != null;
    ProfileRun.Result result;
    try {
      result = ProfileRun.run(settings, baseProfile, plan, (d, t, what, leftS) -> {
        done.set(d);
        total.set(t);
        err.print(progressLine(d, t, what, leftS, tty));
        err.flush();
      });
    } catch (IOException e) {
      throw new DynamoLlmCli.UserError("profile build stopped: " + e.getMessage() + (java.nio.file.Files.exists(journalFile)
          ? "\nthe journal " + journalFile + " keeps the points measured so far: run the same command with --resume"
          : ""));
    } finally {
      finished.set(true);
      try {
        Runtime.getRuntime().removeShutdownHook(onInterrupt);
      } catch (IllegalStateException e) {
        // shutting down already
      }
    }
    if (tty) {
      err.println();
    }
    ProfileDocument doc = result.document();
    ProfileCommand.write(out, ProfileJson.write(doc), "profile");
    var s = doc.series(tp).orElseThrow();
    w.printf(Locale.ROOT, "profile written to %s: %s on %s, TP%d measured (%d points%s), GPUs read through %s%n",
        out, doc.model(), doc.hardware(), tp, result.rows().size(),
        result.resumed() > 0 ? ", " + result.resumed() + " from the journal" : "", result.meter());
    w.printf(Locale.ROOT, "  decode: batch 1 %.2f ms, batch %d %.2f ms (shard, at %,d tokens); prefill %,d tokens"
            + " %.1f ms; idle %.0f W; KV cache %,d tokens%n",
        s.decode().ms()[0], s.maxBatch(), s.decode().ms()[s.decode().ms().length - 1],
        (long) s.decode().contextTokens(), (long) s.prefill().tokens()[s.prefill().tokens().length - 1],
        s.prefill().ms()[s.prefill().ms().length - 1], doc.idlePowerW(), s.kvCacheTokens());
    w.println(ProfileBuild.swept(doc) ? "  frequency model " + doc.provenance().get("frequency_model")
        : "  the frequency axis is modeled (clocks not swept)");
    w.println("  merge one file per degree with 'profile merge'");
    w.flush();
    return 0;
  }

  /** A progress bar (a terminal) or one line per point (a log). */
  static String progressLine(int done, int total, String what, double leftS, boolean tty) {
    int width = 24;
    int filled = total == 0 ? width : (int) Math.round((double) width * done / total);
    String bar = "[" + "#".repeat(filled) + " ".repeat(width - filled) + "]";
    String left = String.format(Locale.ROOT, "%d:%02d left", (long) leftS / 60, (long) leftS % 60);
    String line = String.format(Locale.ROOT, "%s %d/%d %s, about %s", bar, done, total, what, left);
    return tty ? "\r" + line + " ".repeat(Math.max(0, 10)) : line + "\n";
  }

  private URI uri(String option, String text) {
    try {
      URI u = new URI(text);
      if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme()) || u.getHost() == null) {
        throw new URISyntaxException(text, "expected http://HOST:PORT");
      }
      return u;
    } catch (URISyntaxException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), option + ": not an http(s) URL: '" + text + "'");
    }
  }
}
