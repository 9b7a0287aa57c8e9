package io.dynamollm.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.control.engine.EngineSimServer;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Measurements;
import io.dynamollm.protocol.profile.ProfileBuild;
import io.dynamollm.protocol.profile.ProfileDocument;
import io.dynamollm.protocol.profile.ProfileDocument.FrequencyModel;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.TableProfile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code profile build --sweep-clocks} end to end: engine-sim runs an engine whose GPUs follow another frequency axis
 * than the base profile's, the profiler locks engine-sim's simulated GPUs at three clocks in turn, and the built
 * profile's frequency axis (each point against the same point at the maximum clock) follows the engine's within 5 %
 * at every clock level, where the base's frequency model is off by more than 8 %; the GPUs have their own clocks
 * back afterwards.
 */
class ProfileSweepEndToEndTest {
  @TempDir Path dir;

  @Test
  void aClockSweepFitsTheFrequencyAxisOfTheEngine() throws Exception {
    ProfileDocument h100 = Profiles.h100().document();
    FrequencyModel f = h100.frequencyModel();
    TableProfile truth = new TableProfile(new ProfileDocument(h100.model(), h100.hardware(), h100.architecture(),
        h100.clocks(), h100.idlePowerW(), h100.loadingPowerW(), h100.tensorParallel(),
        new FrequencyModel(f.sustainedFlopsAtMax(), 0.35, 0.88, 1100, 0.45, 110, f.kvReadBytesPerS()),
        h100.requestShapes(), h100.provenance()));
    Path out = dir.resolve("tp8.json");
    Path unswept = dir.resolve("tp8-unswept.json");
    String fitLine;
    try (EngineSimServer engine = new EngineSimServer(truth, TensorParallelism.TP8, "127.0.0.1", 0, 1, 0, 8192)) {
      String url = "http://127.0.0.1:" + engine.address().getPort();
      String[] common = {"profile", "build", "--engine", url, "--tp", "8", "--gpus", "0,1,2,3,4,5,6,7", "--base",
          Profiles.H200, "--batches", "1,16,64,256", "--prompts", "512,2048,8192", "--repeats", "3"};
      CliTest.Result r = CliTest.run(concat(common, "--out", out.toString(), "--sweep-clocks", "1800,1005,1395",
          "--clock-control", "engine"));
      assertThat(r.code()).as(r.err()).isZero();
      assertThat(r.out()).contains("frequency model fitted by dynamollm profile build --sweep-clocks");
      fitLine = r.out().lines().filter(l -> l.contains("frequency model fitted")).findFirst().orElseThrow().trim();
      assertThat(r.err()).contains("at 1005 MHz").contains("done");
      // the GPUs run at their own clocks again
      HttpResponse<String> clocks = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create(url + "/dynamollm/gpu-clocks")).GET().build(), HttpResponse.BodyHandlers.ofString());
      assertThat(clocks.body()).contains("\"locked_mhz\":null");
      // the same journal without its swept rows: what the base's frequency model makes of the same series
      Path journal = Path.of(out + ".measurements.csv");
      var rows = Measurements.read(journal.toString(), Files.readString(journal));
      assertThat(rows.stream().filter(x -> x.lockedMhz() > 0).map(Measurements.Row::lockedMhz).distinct().sorted())
          .containsExactly(1005, 1395, 1800);
      ProfileDocument plain = ProfileBuild.apply(Profiles.h200().document(), "unswept.csv",
          rows.stream().filter(x -> x.lockedMhz() == 0).toList(), new ProfileBuild.Options("", "the test"));
      Files.writeString(unswept, io.dynamollm.protocol.profile.ProfileJson.write(plain));
    }
    TableProfile built = Profiles.load(out);
    assertThat(ProfileBuild.swept(built.document())).isTrue();
    StringBuilder report = new StringBuilder(fitLine).append('\n');
    double swept = worst(built, truth, report, "swept");
    double modeled = worst(Profiles.load(unswept), truth, report, "base frequency model");
    Files.writeString(Path.of("target", "profile-sweep-e2e.txt"), report.toString());
    assertThat(modeled).as("the base's frequency axis on this engine (target/profile-sweep-e2e.txt)")
        .isGreaterThan(0.08);
    assertThat(swept).as("fitted to the sweep (target/profile-sweep-e2e.txt)").isLessThan(0.05);
  }

  /**
   * The largest error of the frequency axis over every clock level — each point relative to the same point at the
   * maximum clock, built against engine (the series at the maximum clock are measured, with their own error, which
   * {@link ProfileBuildEndToEndTest} holds) — for decode time and power by batch and prefill time by prompt; the
   * absolute error of each point goes to the report too.
   */
  private static double worst(TableProfile p, TableProfile truth, StringBuilder report, String what) {
    TensorParallelism tp = TensorParallelism.TP8;
    int max = truth.maxClockMhz();
    double worst = 0;
    for (int clock : truth.clockLevelsMhz()) {
      for (int b : new int[] {1, 16, 64, 256}) {
        int batch = b;
        worst = Math.max(worst, line(report, what, clock, "decode ms b" + b,
            c -> p.decodeStepMs(tp, batch, 1024, c), c -> truth.decodeStepMs(tp, batch, 1024, c), max));
        worst = Math.max(worst, line(report, what, clock, "decode W b" + b, c -> p.decodePowerW(tp, batch, c),
            c -> truth.decodePowerW(tp, batch, c), max));
      }
      for (int t : new int[] {512, 2048, 8192}) {
        worst = Math.max(worst, line(report, what, clock, "prefill ms " + t, c -> p.prefillMs(tp, t, c),
            c -> truth.prefillMs(tp, t, c), max));
      }
    }
    return worst;
  }

  /** Reports one point; answers the error of its ratio to the maximum clock's. */
  private static double line(StringBuilder report, String what, int clock, String point,
      java.util.function.IntToDoubleFunction got, java.util.function.IntToDoubleFunction want, int max) {
    double g = got.applyAsDouble(clock);
    double w = want.applyAsDouble(clock);
    double axis = g / got.applyAsDouble(max) / (w / want.applyAsDouble(max)) - 1;
    report.append(String.format(Locale.ROOT,
        "%-22s %4d MHz %-16s built %9.2f  engine %9.2f  %+6.1f %%  axis %+6.1f %%%n", what, clock, point, g, w,
        100 * (g / w - 1), 100 * axis));
    return Math.abs(axis);
  }

  private static String[] concat(String[] a, String... b) {
    String[] out = new String[a.length + b.length];
    System.arraycopy(a, 0, out, 0, a.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
