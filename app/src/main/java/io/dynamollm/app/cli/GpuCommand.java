package io.dynamollm.app.cli;

import com.typesafe.config.Config;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.config.ProfileSettings;
import io.dynamollm.app.report.GpuReport;
import io.dynamollm.gpu.GpuBackends;
import io.dynamollm.gpu.GpuInventory;
import io.dynamollm.gpu.GpuSettings;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code dynamollm gpu …}: what the GPU driver sees on this host. */
@Command(
    name = "gpu",
    mixinStandardHelpOptions = true,
    description = "GPUs of this host through the GPU driver (NVML, or simulated).",
    subcommands = {GpuCommand.List.class})
final class GpuCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** Lists the GPUs and reads every sensor once. Read-only: sets nothing. */
  @Command(
      name = "list",
      mixinStandardHelpOptions = true,
      description = {
        "Lists the GPUs this process may use (after CUDA_VISIBLE_DEVICES) and reads each one's power, energy counter,"
            + " SM clock, supported clocks, utilization, memory, temperature, power limit and clock-event reasons.",
        "Read-only: never sets a clock or a limit."
      })
  static final class List implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--backend", paramLabel = "auto|nvml|simulated",
        description = "Which devices (default: dynamollm.gpu.backend, auto: NVML if present, else simulated).",
        converter = BackendConverter.class)
    GpuSettings.Backend backend;

    @Option(names = "--nvml-library", paramLabel = "PATH", description = "Path to libnvidia-ml.so.1.")
    String nvmlLibrary;

    @Option(names = "--json", description = "Write JSON instead of text.")
    boolean json;

    @Option(names = "--config", paramLabel = "FILE", description = "HOCON file with dynamollm.gpu settings.")
    Path config;

    @CommandLine.Mixin ProfileOption profileOption = new ProfileOption();

    @Override
    public Integer call() throws Exception {
      Config cfg = profileOption.apply(ConfigFiles.load(Optional.ofNullable(config)));
      GpuSettings s = GpuSettings.fromConfig(cfg);
      GpuSettings settings = new GpuSettings(
          backend == null ? s.backend() : backend,
          nvmlLibrary == null ? s.nvmlLibrary() : Optional.of(nvmlLibrary),
          s.simulatedCount());
      try (GpuBackends.Opened opened = GpuBackends.open(settings, "localhost", ProfileSettings.profile(cfg),
          System::nanoTime, Optional.ofNullable(System.getenv("CUDA_VISIBLE_DEVICES")))) {
        if (opened.inventory() instanceof GpuInventory.Unavailable u) {
          throw new DynamoLlmCli.UserError(u.reason());
        }
        GpuInventory.Available inv = (GpuInventory.Available) opened.inventory();
        spec.commandLine().getOut().print(json ? GpuReport.json(inv) : GpuReport.text(inv));
        spec.commandLine().getOut().flush();
      }
      return 0;
    }
  }

  static final class BackendConverter implements CommandLine.ITypeConverter<GpuSettings.Backend> {
    @Override
    public GpuSettings.Backend convert(String value) {
      try {
        return GpuSettings.Backend.parse(value, "--backend");
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException("expected auto, nvml or simulated, got '" + value + "'");
      }
    }
  }
}
