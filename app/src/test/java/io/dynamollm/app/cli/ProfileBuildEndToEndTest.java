package io.dynamollm.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.config.SloSettings;
import io.dynamollm.control.engine.EngineSimServer;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
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
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code profile build} end to end: engine-sim runs the bundled H100 profile on simulated GPUs (read through its
 * DCGM-style metrics), the profiler measures it over HTTP, one run per degree, on top of the H200 profile as its base,
 * and {@code profile merge} joins the runs. The built profile must reproduce the generating one within 10 % at every
 * point it measured, and give every request type the optimum (TP, clock) the generating profile gives it at every
 * load level, with the SLOs scaled by no more than the largest latency error measured.
 */
class ProfileBuildEndToEndTest {
  /** Engine time runs this many times faster than the wall clock (the profiler is told so). */
  private static final double SPEEDUP = 1;
  /** Steps of the SLO band either side of the SLOs themselves. */
  private static final int BAND_STEPS = 10;

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
    double[] worst = {0}; // the largest latency error measured
    for (String f : files) {
      Path journal = Path.of(f + ".measurements.csv");
      for (Measurements.Row row : Measurements.read(journal.toString(), Files.readString(journal))) {
        TensorParallelism tp = TensorParallelism.of(row.tp());
        switch (row.kind()) {
          case DECODE, DECODE_CONTEXT -> {
            double b = row.batch();
            double ctx = row.tokens();
            latency(worst, check(misses, report, tp + " decode ms b" + (int) b + " ctx" + (int) ctx,
                built.decodeStepMs(tp, b, ctx, max), truth.decodeStepMs(tp, b, ctx, max)));
            if (row.kind() == Measurements.Kind.DECODE) {
              check(misses, report, tp + " decode W b" + (int) b, built.decodePowerW(tp, b, max),
                  truth.decodePowerW(tp, b, max));
            }
          }
          case FIRST_TOKEN -> {
            int p = (int) row.tokens();
            if (p > 1) {
              latency(worst, check(misses, report, tp + " prefill ms " + p, built.prefillMs(tp, p, max),
                  truth.prefillMs(tp, p, max)));
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
      // a point measured e off moves configurations at the edge of an SLO in or out: the built pick must be the
      // generator's optimum with every SLO scaled by some factor within 1 +- e (e = the largest error measured)
      List<ProfileTable> band = new ArrayList<>();
      for (int step = -BAND_STEPS; step <= BAND_STEPS; step++) {
        // twice the worst measured error: between measured points the interpolated series can be off by more
        double scale = 1 + 2 * worst[0] * step / BAND_STEPS;
        EnumMap<RequestType, Slo> scaled = new EnumMap<>(RequestType.class);
        slos.slos().forEach((t, slo) -> scaled.put(t, new Slo(slo.ttftP99Ms() * scale, slo.tbtP99Ms() * scale)));
        band.add(ProfileTable.build(truth, new SloTable(scaled), level, loads));
      }
      for (RequestType type : RequestType.values()) {
        String chosen = got.of(type).optimum().map(ProfileBuildEndToEndTest::config).orElse("none");
        Set<String> accepted = new TreeSet<>();
        band.forEach(t -> accepted.add(t.of(type).optimum().map(ProfileBuildEndToEndTest::config).orElse("none")));
        report.append(String.format(Locale.ROOT, "%s at %s load: built %s, generator %s (SLOs within %.1f %%: %s)%n",
            type, level, chosen, want.of(type).optimum().map(ProfileBuildEndToEndTest::config).orElse("none"),
            200 * worst[0], accepted));
        if (!accepted.contains(chosen)) {
          misses.add(type + " at " + level + " load: built " + chosen + ", generator " + accepted);
        }
      }
    }
    Files.writeString(Path.of("target", "profile-build-e2e.txt"), report.toString());
    assertThat(misses).as("optima off (all in target/profile-build-e2e.txt)").isEmpty();
  }

  private static String config(ConfigEstimate c) {
    return c.tp() + "@" + c.clockMhz();
  }

  private static void latency(double[] worst, double error) {
    worst[0] = Math.max(worst[0], Math.abs(error));
  }

  /** Reports one point, a miss where it is more than 10 % off; answers its relative error. */
  private static double check(List<String> misses, StringBuilder report, String what, double got, double want) {
    double error = got / want - 1;
    String line = String.format(Locale.ROOT, "%-28s built %10.3f  generator %10.3f  %+6.1f %%", what, got, want,
        100 * error);
    report.append(line).append('\n');
    if (Math.abs(error) > 0.10) {
      misses.add(line);
    }
    return error;
  }
}
