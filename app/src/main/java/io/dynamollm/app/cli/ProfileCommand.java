package io.dynamollm.app.cli;

import com.typesafe.config.Config;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.config.ProfileSettings;
import io.dynamollm.control.config.SloSettings;
import io.dynamollm.app.report.ProfileChart;
import io.dynamollm.app.report.ProfileComparison;
import io.dynamollm.app.report.ProfileReport;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.LoadLevel;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.ProbeImport;
import io.dynamollm.protocol.profile.ProfileDocument;
import io.dynamollm.protocol.profile.ProfileJson;
import io.dynamollm.protocol.profile.ProfileTable;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.TableProfile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code dynamollm profile …}: look at the energy-performance profile. */
@Command(
    name = "profile",
    mixinStandardHelpOptions = true,
    description = "Energy-performance profiles: latency, power and energy per (request type, TP, GPU clock, load).",
    subcommands = {ProfileCommand.Show.class, ProfileCommand.Compare.class, ProfileCommand.FromProbe.class,
        ProfileBuildCommand.class, ProfileCommand.Merge.class})
final class ProfileCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }

  /** The grid of (TP, clock) per request type at a load level, with feasibility, energy and the optimum. */
  @Command(
      name = "show",
      mixinStandardHelpOptions = true,
      description = {
        "Prints, per request type, every (TP, clock) with its energy per request and whether it meets the SLO,"
            + " and the energy-optimal feasible configuration.",
        "Load levels: low, medium and high ask each configuration to serve, with one instance, 10 %%, 30 %% and 70 %%"
            + " of what one TP8 instance at 1980 MHz serves within the type's SLO (docs/profile.md)."
      })
  static final class Show implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin GridOptions grid = new GridOptions();

    @CommandLine.Mixin ProfileOption profileOption = new ProfileOption();

    @Option(names = "--svg", paramLabel = "FILE",
        description = "Also write the table as a chart: energy per request vs clock, one panel per type.")
    Path svg;

    @Override
    public Integer call() {
      Config cfg = profileOption.apply(ConfigFiles.load(Optional.ofNullable(grid.config)));
      Profile profile = ProfileSettings.profile(cfg);
      SloTable slos = SloSettings.fromConfig(cfg).resolve(profile);
      ProfileTable table = ProfileTable.build(profile, slos, grid.load);
      if (svg != null) {
        writeChart(profile, table);
      }
      spec.commandLine().getOut().print(grid.json ? ProfileReport.json(profile, table) : ProfileReport.text(profile, table));
      if (svg != null && !grid.json) {
        spec.commandLine().getOut().println("\nchart written to " + svg);
      }
      spec.commandLine().getOut().flush();
      return 0;
    }

    private void writeChart(Profile profile, ProfileTable table) {
      write(svg, ProfileChart.svg(profile, table), "chart");
    }
  }

  /** Two profiles on the same grid: per type, the optimum and its energy per request on each. */
  @Command(
      name = "compare",
      mixinStandardHelpOptions = true,
      description = {
        "Compares two profiles (e.g. H100 and H200): per request type, both serve the same load within the same"
            + " SLOs (the first profile's load level and default or configured SLOs); prints each one's optimum"
            + " (TP, clock) and energy per request, and the ratio."
      })
  static final class Compare implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @CommandLine.Parameters(index = "0", paramLabel = "A", description = "A profile file or a bundled name.")
    String first;

    @CommandLine.Parameters(index = "1", paramLabel = "B", description = "A profile file or a bundled name.")
    String second;

    @CommandLine.Mixin GridOptions grid = new GridOptions();

    @Option(names = "--svg", paramLabel = "FILE", description = "Also write a bar chart of both optima per type.")
    Path svg;

    @Override
    public Integer call() {
      TableProfile a = ProfileOption.resolve(first);
      TableProfile b = ProfileOption.resolve(second);
      Config cfg = ConfigFiles.load(Optional.ofNullable(grid.config));
      SloTable slos = SloSettings.fromConfig(cfg).resolve(a);
      ProfileComparison comparison = ProfileComparison.of(a, b, slos, grid.load);
      if (svg != null) {
        write(svg, comparison.svg(), "chart");
      }
      var out = spec.commandLine().getOut();
      out.print(grid.json ? comparison.json() : comparison.text());
      if (svg != null && !grid.json) {
        out.println("\nchart written to " + svg);
      }
      out.flush();
      return 0;
    }
  }

  static void write(Path file, String text, String what) {
    try {
      Path parent = file.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      Files.writeString(file, text);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot write the " + what + " to " + file + ": " + e.getMessage(), e);
    }
  }

  /** A profile file from a shard probe's CSV on top of a base profile of the same model. */
  @Command(
      name = "from-probe",
      mixinStandardHelpOptions = true,
      description = {
        "Writes a profile file from a shard probe's measurements (the CSV gpu_shard_probe.py writes: decode and"
            + " prefill iterations of one tensor-parallel shard and the idle GPU, at default clocks) on top of a base"
            + " profile of the same model, which gives the all-reduce times, the frequency model and the request"
            + " lengths. Each degree's KV-cache capacity is computed from --gpu-memory-mib (docs/profile.md)."
      })
  static final class FromProbe implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--csv", paramLabel = "FILE", required = true, description = "The probe's CSV.")
    Path csv;

    @Option(names = "--base", paramLabel = "FILE|NAME", defaultValue = Profiles.H100,
        description = "Base profile of the same model: a file or a bundled name (default ${DEFAULT-VALUE}).")
    String base;

    @Option(names = "--hardware", paramLabel = "NAME", required = true,
        description = "The server's name, e.g. 'DGX H200 (8x H200 141GB HBM3e, NVLink)'.")
    String hardware;

    @Option(names = "--gpu-memory-mib", paramLabel = "MIB", required = true,
        description = "One GPU's memory as NVML reports it (nvidia-smi --query-gpu=memory.total).")
    double gpuMemoryMib;

    @Option(names = "--memory-utilization", paramLabel = "U", defaultValue = "0.90",
        description = "Share of GPU memory the engine takes (vLLM gpu_memory_utilization; default ${DEFAULT-VALUE}).")
    double memoryUtilization;

    @Option(names = "--reserved-gb", paramLabel = "GB", defaultValue = "2",
        description = "Activations, CUDA graphs and workspace per GPU, GB (default ${DEFAULT-VALUE}).")
    double reservedGb;

    @Option(names = "--measured-on", paramLabel = "TEXT", defaultValue = "the probed GPU",
        description = "Where the probe ran, for the file's provenance, e.g. 'a real NVIDIA H200 (driver 580.159.04)'.")
    String measuredOn;

    @Option(names = "--out", paramLabel = "FILE", required = true, description = "The profile file to write.")
    Path out;

    @Override
    public Integer call() {
      TableProfile baseProfile = ProfileOption.resolve(base);
      if (!Files.isRegularFile(csv)) {
        throw new IllegalArgumentException("the probe CSV " + csv + " does not exist or is not a file");
      }
      String text;
      try {
        text = Files.readString(csv);
      } catch (IOException e) {
        throw new IllegalArgumentException("cannot read the probe CSV " + csv + ": " + e.getMessage(), e);
      }
      ProbeImport.Options options;
      try {
        options = new ProbeImport.Options(hardware, gpuMemoryMib, memoryUtilization, reservedGb * 1e9, measuredOn);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(spec.commandLine(),
            "--hardware, --gpu-memory-mib, --memory-utilization, --reserved-gb: " + e.getMessage());
      }
      ProfileDocument doc = ProbeImport.apply(baseProfile.document(), csv.getFileName().toString(), text, options);
      TableProfile built = new TableProfile(doc);
      write(out, ProfileJson.write(doc), "profile");
      var w = spec.commandLine().getOut();
      w.printf("profile written to %s: %s on %s%n", out, doc.model(), doc.hardware());
      for (var s : doc.tensorParallel()) {
        var tp = io.dynamollm.protocol.TensorParallelism.of(s.tp());
        w.printf(java.util.Locale.ROOT, "  TP%d: shard decode at batch 1 %.1f ms, KV cache %,d tokens, KV read %.2f TB/s%s%n",
            s.tp(), s.decode().ms()[0], s.kvCacheTokens(), built.kvReadBytesPerS(tp) / 1e12,
            s.decodeContext().isEmpty() ? " (frequency model's)" : " (fitted to " + s.decodeContext().size()
                + " context points)");
      }
      w.flush();
      return 0;
    }
  }

  /** One profile from several {@code profile build} runs, one per degree. */
  @Command(
      name = "merge",
      mixinStandardHelpOptions = true,
      description = {
        "Merges profile files written by 'profile build', one run per tensor-parallel degree, into one: each degree"
            + " from the file that measured it (its measured_by), everything else from the first file."
      })
  static final class Merge implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @CommandLine.Parameters(arity = "2..*", paramLabel = "FILE", description = "Profile files (two or more).")
    java.util.List<String> files;

    @Option(names = "--out", paramLabel = "FILE", required = true, description = "The merged profile file to write.")
    Path out;

    @Override
    public Integer call() {
      java.util.List<io.dynamollm.protocol.profile.ProfileMerge.Named> named = new java.util.ArrayList<>();
      for (String f : files) {
        named.add(new io.dynamollm.protocol.profile.ProfileMerge.Named(f, ProfileOption.resolve(f).document()));
      }
      ProfileDocument doc = io.dynamollm.protocol.profile.ProfileMerge.merge(named);
      new TableProfile(doc); // refuses what would not load
      write(out, ProfileJson.write(doc), "profile");
      var w = spec.commandLine().getOut();
      w.printf("merged profile written to %s: %s on %s%n", out, doc.model(), doc.hardware());
      for (var s : doc.tensorParallel()) {
        w.printf("  TP%d: %s%n", s.tp(), s.measuredBy().map(b -> "measured: " + b).orElse("from " + files.get(0)));
      }
      w.flush();
      return 0;
    }
  }

  /** What {@code show} and {@code compare} share: the load level, JSON output and the SLOs' config file. */
  static final class GridOptions {
    @Option(names = "--load", paramLabel = "low|medium|high", defaultValue = "medium",
        description = "Load level (default: ${DEFAULT-VALUE}); compare: on the first profile.",
        converter = LoadConverter.class)
    LoadLevel load;

    @Option(names = "--json", description = "Write JSON instead of the table.")
    boolean json;

    @Option(names = "--config", paramLabel = "FILE", description = "HOCON file with dynamollm.slo settings.")
    Path config;
  }

  static final class LoadConverter implements CommandLine.ITypeConverter<LoadLevel> {
    @Override
    public LoadLevel convert(String value) {
      try {
        return LoadLevel.parse(value);
      } catch (IllegalArgumentException e) {
        throw new CommandLine.TypeConversionException("expected low, medium or high, got '" + value + "'");
      }
    }
  }
}
