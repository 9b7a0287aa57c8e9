package io.dynamollm.app.cli;

import com.typesafe.config.Config;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.config.ProfileSettings;
import io.dynamollm.control.engine.EngineSimServer;
import io.dynamollm.protocol.TensorParallelism;
import java.io.PrintWriter;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./dynamollm engine-sim}: the simulated engine as its own process, speaking the OpenAI HTTP API. */
@Command(
    name = "engine-sim",
    mixinStandardHelpOptions = true,
    description = {
        "Runs one simulated inference engine (continuous batching on the profile, simulated GPUs) as an HTTP server "
            + "with vLLM's endpoints: POST /v1/completions, GET /health, GET /metrics (vLLM's names; its simulated GPUs with "
            + "the DCGM exporter's power, energy and SM clock).",
        "SIGTERM or Ctrl-C drains the requests in flight, then exits with 0."})
final class EngineSimCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @CommandLine.Mixin ProfileOption profileOption = new ProfileOption();

  @Option(names = "--port", paramLabel = "PORT", defaultValue = "8100", description = "HTTP port (default 8100; 0 picks one).")
  int port;

  @Option(names = "--host", paramLabel = "HOST", defaultValue = "127.0.0.1", description = "Interface (default 127.0.0.1).")
  String host;

  @Option(names = "--tp", paramLabel = "N", required = true, description = "Tensor parallelism: 2, 4 or 8.")
  int tp;

  @Option(names = "--gpus", paramLabel = "LIST",
      description = "GPU indices, comma-separated (default: CUDA_VISIBLE_DEVICES); their number must equal --tp.")
  String gpus;

  @Option(names = "--speedup", paramLabel = "X", defaultValue = "1", description = "Run X times faster than real time.")
  double speedup;

  @Option(names = "--startup-s", paramLabel = "S", defaultValue = "60",
      description = "Seconds (engine time) to load the weights before /health says 200.")
  double startupS;

  @Option(names = "--max-model-len", paramLabel = "TOKENS", defaultValue = "8192",
      description = "Longest prompt + output accepted.")
  int maxModelLen;

  @Override
  public Integer call() throws Exception {
    if (tp != 2 && tp != 4 && tp != 8) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--tp must be 2, 4 or 8, got " + tp);
    }
    if (!(speedup >= 1 && speedup <= 1000) || !(startupS >= 0) || maxModelLen < 2 || port < 0 || port > 65535) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "--speedup must be 1-1000, --startup-s >= 0, --max-model-len >= 2, --port 0-65535");
    }
    String list = gpus != null ? gpus : System.getenv("CUDA_VISIBLE_DEVICES");
    List<Integer> labels = List.of();
    if (list != null && !list.isBlank()) {
      List<String> ids = List.of(list.split(","));
      if (ids.size() != tp) {
        throw new DynamoLlmCli.UserError("TP" + tp + " needs " + tp + " GPUs, got " + ids.size() + ": " + list);
      }
      try {
        labels = ids.stream().map(String::trim).map(Integer::valueOf).toList();
      } catch (NumberFormatException e) {
        labels = List.of(); // GPU UUIDs (CUDA_VISIBLE_DEVICES may name them): the simulated GPUs number themselves
      }
    }
    Config cfg = profileOption.apply(ConfigFiles.load(Optional.empty()));
    EngineSimServer server = new EngineSimServer(ProfileSettings.profile(cfg), TensorParallelism.of(tp), host, port,
        speedup, startupS * 1000, maxModelLen, labels);
    PrintWriter out = spec.commandLine().getOut();
    out.printf("engine-sim serving on http://%s:%d (TP%d%s, %.0fx real time); /health answers 200 once loaded%n",
        server.address().getHostString(), server.address().getPort(), tp, list == null ? "" : ", GPUs " + list,
        speedup);
    out.flush();
    AtomicBoolean once = new AtomicBoolean();
    sun.misc.SignalHandler stop = sig -> {
      if (once.compareAndSet(false, true)) {
        new Thread(() -> server.drainAndStop(30), "engine-sim-stop").start();
      }
    };
    sun.misc.Signal.handle(new sun.misc.Signal("INT"), stop);
    sun.misc.Signal.handle(new sun.misc.Signal("TERM"), stop);
    server.awaitTermination();
    out.println("engine-sim stopped");
    out.flush();
    return 0;
  }
}
