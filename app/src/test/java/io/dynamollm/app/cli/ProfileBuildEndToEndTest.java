package io.dynamollm.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.config.SloSettings;
import io.dynamollm.control.engine.EngineSimServer;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.ConfigEstimate;
import io.dynamollm.protocol.profile.LoadLevel;
import io.dynamollm.protocol.profile.Measurements;
import io.dynamollm.protocol.profile.ProfileTable;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.TableProfile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code profile build} end to end: engine-sim runs the bundled H100 profile on simulated GPUs (read through its
 * DCGM-style metrics), the profiler measures it over HTTP, one run per degree, on top of the H200 profile as its base,
 * and {@code profile merge} joins the runs. The built profile must reproduce the generating one within 10 % at every
 * point it measured, and give every request type the same optimum (TP, clock) at every load level.
 */
class ProfileBuildEndToEndTest {
  /** Engine time runs this many times faster than the wall clock (the profiler is told so). */
  private static final double SPEEDUP = 1;

  @TempDir Path dir;

  @Test
  void aProfileBuiltFromEngineSimReproducesTheProfileItRuns() throws Exception {
    TableProfile truth = Profiles.h100();
    List<String> files = new ArrayList<>();
    StringBuilder report = new StringBuilder();
    for (int tp : new int[] {8, 4, 2}) {
      Path out = dir.resolve("tp" + tp + ".json");
      try (EngineSimServer engine = new EngineSimServer(truth, TensorParallelism.of(tp), "127.0.0.1", 0, SPEEDUP, 0,
          8192)) {
        String gpus = IntStream.range(0, tp).mapToObj(String::valueOf).collect(Collectors.joining(","));
        CliTest.Result r = CliTest.run("profile", "build", "--engine", "http://127.0.0.1:" + engine.address().getPort(),
            "--tp", String.valueOf(tp), "--gpus", gpus, "--base", Profiles.H200, "--time-scale",
            String.valueOf(SPEEDUP), "--out", out.toString());
        assertThat(r.code()).as("TP%d: %s", tp, r.err()).isZero();
        assertThat(r.out()).contains("TP" + tp + " measured").contains("DCGM-style metrics");
        assertThat(r.err()).contains("done");
      }
      files.add(out.toString());
    }
    Path merged = dir.resolve("merged.json");
    List<String> args = new ArrayList<>(List.of("profile", "merge"));
    args.addAll(files);
    args.addAll(List.of("--out", merged.toString()));
    CliTest.Result m = CliTest.run(args.toArray(String[]::new));
    assertThat(m.code()).as(m.err()).isZero();
    TableProfile built = Profiles.load(merged);
    assertThat(built.document().tensorParallel()).allSatisfy(s -> assertThat(s.measuredBy()).isPresent());

    int max = truth.maxClockMhz();
    List<String> misses = new ArrayList<>();
    for (String f : files) {
      Path journal = Path.of(f + ".measurements.csv");
      for (Measurements.Row row : Measurements.read(journal.toString(), Files.readString(journal))) {
        TensorParallelism tp = TensorParallelism.of(row.tp());
        switch (row.kind()) {
          case DECODE, DECODE_CONTEXT -> {
            double b = row.batch();
            double ctx = row.tokens();
            check(misses, report, tp + " decode ms b" + (int) b + " ctx" + (int) ctx,
                built.decodeStepMs(tp, b, ctx, max), truth.decodeStepMs(tp, b, ctx, max));
            if (row.kind() == Measurements.Kind.DECODE) {
              check(misses, report, tp + " decode W b" + (int) b, built.decodePowerW(tp, b, max),
                  truth.decodePowerW(tp, b, max));
            }
          }
          case FIRST_TOKEN -> {
            int p = (int) row.tokens();
            if (p > 1) {
              check(misses, report, tp + " prefill ms " + p, built.prefillMs(tp, p, max), truth.prefillMs(tp, p, max));
              check(misses, report, tp + " prefill W " + p, built.prefillPowerW(tp, p, max),
                  truth.prefillPowerW(tp, p, max));
            }
          }
          case KV_CACHE -> check(misses, report, tp + " KV tokens", built.kvCacheTokens(tp), truth.kvCacheTokens(tp));
          case IDLE -> check(misses, report, "idle W", built.idlePowerW(), truth.idlePowerW());
        }
      }
    }
    Files.writeString(Path.of("target", "profile-build-e2e.txt"), report.toString());
    assertThat(misses).as("points off by more than 10 %% (all in target/profile-build-e2e.txt)").isEmpty();

    // both asked for the default SLOs of the generating profile and the same loads, as `profile show` asks
    SloTable slos = SloSettings.fromConfig(ConfigFiles.load(Optional.empty())).resolve(truth);
    for (LoadLevel level : LoadLevel.values()) {
      Map<RequestType, Double> loads = ProfileTable.loads(truth, slos, level);
      ProfileTable want = ProfileTable.build(truth, slos, level, loads);
      ProfileTable got = ProfileTable.build(built, slos, level, loads);
      for (RequestType type : RequestType.values()) {
        var wanted = want.of(type).optimum();
        var chosen = got.of(type).optimum();
        assertThat(chosen.isPresent()).as("%s at %s load", type, level).isEqualTo(wanted.isPresent());
        if (wanted.isEmpty() || config(chosen.get()).equals(config(wanted.get()))) {
          continue;
        }
        // a different pick only where two configurations are within measurement noise of each other: on the
        // generating profile it must be feasible and within 2 % of the optimum's energy
        ConfigEstimate onTruth = want.of(type).configs().stream()
            .filter(c -> config(c).equals(config(chosen.get()))).findFirst().orElseThrow();
        assertThat(onTruth.feasible()).as("%s at %s load: %s", type, level, config(chosen.get())).isTrue();
        assertThat(onTruth.energyWh()).as("%s at %s load: %s instead of %s", type, level, config(chosen.get()),
            config(wanted.get())).isLessThanOrEqualTo(wanted.get().energyWh() * 1.02);
      }
    }
  }

  private static String config(ConfigEstimate c) {
    return c.tp() + "@" + c.clockMhz();
  }

  private static void check(List<String> misses, StringBuilder report, String what, double got, double want) {
    double error = got / want - 1;
    String line = String.format(Locale.ROOT, "%-28s built %10.3f  generator %10.3f  %+6.1f %%", what, got, want,
        100 * error);
    report.append(line).append('\n');
    if (Math.abs(error) > 0.10) {
      misses.add(line);
    }
  }
}
