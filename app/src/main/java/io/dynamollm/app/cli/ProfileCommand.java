package io.dynamollm.app.cli;

import com.typesafe.config.Config;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.config.ProfileSettings;
import io.dynamollm.control.config.SloSettings;
import io.dynamollm.app.report.ProfileChart;
import io.dynamollm.app.report.ProfileReport;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.LoadLevel;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.ProfileTable;
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
    subcommands = {ProfileCommand.Show.class})
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

    @Option(names = "--load", paramLabel = "low|medium|high", defaultValue = "medium",
        description = "Load level (default: ${DEFAULT-VALUE}).", converter = LoadConverter.class)
    LoadLevel load;

    @Option(names = "--json", description = "Write JSON instead of the table.")
    boolean json;

    @Option(names = "--config", paramLabel = "FILE", description = "HOCON file with dynamollm.slo settings.")
    Path config;

    @CommandLine.Mixin ProfileOption profileOption = new ProfileOption();

    @Option(names = "--svg", paramLabel = "FILE",
        description = "Also write the table as a chart: energy per request vs clock, one panel per type.")
    Path svg;

    @Override
    public Integer call() {
      Config cfg = profileOption.apply(ConfigFiles.load(Optional.ofNullable(config)));
      Profile profile = ProfileSettings.profile(cfg);
      SloTable slos = SloSettings.fromConfig(cfg).resolve(profile);
      ProfileTable table = ProfileTable.build(profile, slos, load);
      if (svg != null) {
        writeChart(profile, table);
      }
      spec.commandLine().getOut().print(json ? ProfileReport.json(profile, table) : ProfileReport.text(profile, table));
      if (svg != null && !json) {
        spec.commandLine().getOut().println("\nchart written to " + svg);
      }
      spec.commandLine().getOut().flush();
      return 0;
    }

    private void writeChart(Profile profile, ProfileTable table) {
      try {
        Path parent = svg.toAbsolutePath().getParent();
        if (parent != null) {
          Files.createDirectories(parent);
        }
        Files.writeString(svg, ProfileChart.svg(profile, table));
      } catch (IOException e) {
        throw new IllegalArgumentException("cannot write the chart to " + svg + ": " + e.getMessage(), e);
      }
    }
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
