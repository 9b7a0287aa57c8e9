package io.dynamollm.protocol.profile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Measurements.Kind;
import io.dynamollm.protocol.profile.Measurements.Row;
import io.dynamollm.protocol.profile.ProfileDocument.FrequencyModel;
import io.dynamollm.protocol.profile.ProfileJson.ProfileFormatException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A clock sweep fits the frequency model ({@link FrequencyFit}): an engine whose GPUs scale with the clock otherwise
 * than the base profile's constants say, measured at three locked clocks, gives a profile that answers at every clock
 * level within a few per cent of the engine, where the base's constants are off by more.
 */
class FrequencyFitTest {
  /** The engine: the H100 profile with a frequency axis unlike the base's (the H200's, which is the H100's). */
  static final TableProfile TRUTH;
  static final FrequencyModel TRUE_MODEL;

  static {
    ProfileDocument h100 = Profiles.h100().document();
    FrequencyModel f = h100.frequencyModel();
    TRUE_MODEL = new FrequencyModel(f.sustainedFlopsAtMax(), 0.35, 0.88, 1100, 0.45, 110, f.kvReadBytesPerS());
    TRUTH = new TableProfile(new ProfileDocument(h100.model(), h100.hardware(), h100.architecture(), h100.clocks(),
        h100.idlePowerW(), h100.loadingPowerW(), h100.tensorParallel(), TRUE_MODEL, h100.requestShapes(),
        h100.provenance()));
  }

  static final double OVERHEAD_MS = 7.5;
  static final int[] SWEPT = {1005, 1395, 1800};

  /** What a client of the engine measures on {@code degree}: the series at the GPUs' own clock, then the sweep. */
  static List<Row> measured(int degree, int[] clocks, double noise, long seed) {
    Random random = new Random(seed);
    TensorParallelism tp = TensorParallelism.of(degree);
    int max = TRUTH.maxClockMhz();
    List<Row> rows = ProfileBuildTest.idleAndKvCache(TRUTH, degree);
    for (int clock : concat(0, clocks)) {
      int at = clock == 0 ? max : clock;
      int[] batches = clock == 0 ? new int[] {1, 8, 32, 64, 128, 256} : new int[] {1, 32, 256};
      for (int b : batches) {
        rows.add(new Row(Kind.DECODE, degree, b, 1024, TRUTH.decodeStepMs(tp, b, 1024, at) * jitter(random, noise),
            TRUTH.decodePowerW(tp, b, at) * jitter(random, noise), at, 20).lockedAt(clock));
      }
      if (clock == 0) {
        for (double ctx : new double[] {256, 4096}) {
          rows.add(new Row(Kind.DECODE_CONTEXT, degree, 32, ctx, TRUTH.decodeStepMs(tp, 32, ctx, max),
              TRUTH.decodePowerW(tp, 32, max), max, 20));
        }
      }
      rows.add(new Row(Kind.FIRST_TOKEN, degree, Double.NaN, 1, OVERHEAD_MS + TRUTH.prefillMs(tp, 1, at),
          TRUTH.prefillPowerW(tp, 1, at), at, 10).lockedAt(clock));
      int[] prompts = clock == 0 ? new int[] {128, 512, 1024, 2048, 4096, 8192} : new int[] {2048, 8192};
      for (int p : prompts) {
        rows.add(new Row(Kind.FIRST_TOKEN, degree, Double.NaN, p, (OVERHEAD_MS + TRUTH.prefillMs(tp, p, at))
            * jitter(random, noise), TRUTH.prefillPowerW(tp, p, at) * jitter(random, noise),
            TRUTH.prefillHeldClockMhz(tp, p, at), 5).lockedAt(clock));
      }
    }
    return rows;
  }

  private static int[] concat(int first, int[] rest) {
    int[] out = new int[rest.length + 1];
    out[0] = first;
    System.arraycopy(rest, 0, out, 1, rest.length);
    return out;
  }

  private static double jitter(Random random, double noise) {
    return 1 + noise * random.nextGaussian();
  }

  /** The largest relative error of {@code p} against the engine over every clock level, decode and prefill. */
  static double worstError(TableProfile p, TensorParallelism tp) {
    double worst = 0;
    for (int clock : TRUTH.clockLevelsMhz()) {
      for (int b : new int[] {1, 16, 64, 200}) {
        worst = Math.max(worst, Math.abs(p.decodeStepMs(tp, b, 1024, clock) / TRUTH.decodeStepMs(tp, b, 1024, clock)
            - 1));
        worst = Math.max(worst, Math.abs(p.decodePowerW(tp, b, clock) / TRUTH.decodePowerW(tp, b, clock) - 1));
      }
      for (int t : new int[] {256, 1024, 4096}) {
        worst = Math.max(worst, Math.abs(p.prefillMs(tp, t, clock) / TRUTH.prefillMs(tp, t, clock) - 1));
        worst = Math.max(worst, Math.abs(p.prefillPowerW(tp, t, clock) / TRUTH.prefillPowerW(tp, t, clock) - 1));
      }
    }
    return worst;
  }

  @Test
  void aSweepAtThreeClocksGivesAProfileThatHoldsAtEveryClockLevel() {
    ProfileDocument base = Profiles.h200().document();
    ProfileDocument unswept = ProfileBuild.apply(base, "tp8.csv", measured(8, new int[0], 0, 1),
        new ProfileBuild.Options("", "a test run"));
    ProfileDocument swept = ProfileBuild.apply(base, "tp8.csv", measured(8, SWEPT, 0, 1),
        new ProfileBuild.Options("", "a test run"));
    var tp = TensorParallelism.TP8;
    double before = worstError(new TableProfile(unswept), tp);
    double after = worstError(new TableProfile(swept), tp);
    assertThat(before).as("the base's frequency axis on this engine").isGreaterThan(0.08);
    assertThat(after).as("fitted to the sweep").isLessThan(0.01);
    FrequencyModel m = swept.frequencyModel();
    assertThat(m.minComputeShare()).isCloseTo(TRUE_MODEL.minComputeShare(), within(0.05));
    assertThat(m.maxComputeShare()).isCloseTo(TRUE_MODEL.maxComputeShare(), within(0.05));
    assertThat(m.voltageFloorMhz()).isCloseTo(TRUE_MODEL.voltageFloorMhz(), within(50.0));
    assertThat(m.hbmShareOfMemoryBoundPower()).isCloseTo(TRUE_MODEL.hbmShareOfMemoryBoundPower(), within(0.05));
    assertThat(m.busyBaselineW()).isCloseTo(TRUE_MODEL.busyBaselineW(), within(10.0));
    assertThat(swept.provenance().get("frequency_model")).startsWith("fitted by dynamollm profile build --sweep-clocks")
        .contains("[1005, 1395, 1800] MHz");
    assertThat(ProfileBuild.swept(swept)).isTrue();
    assertThat(ProfileBuild.swept(unswept)).isFalse();
    // the series at the maximum clock are the same with or without the sweep
    assertThat(swept.series(8).orElseThrow().decode().ms()).containsExactly(unswept.series(8).orElseThrow().decode()
        .ms());
    // and the file reads back
    assertThat(ProfileJson.read("swept.json", ProfileJson.write(swept)).frequencyModel()).isEqualTo(m);
  }

  @Test
  void measurementNoiseOfOnePerCentStillFits() {
    ProfileDocument swept = ProfileBuild.apply(Profiles.h200().document(), "tp4.csv", measured(4, SWEPT, 0.01, 2),
        new ProfileBuild.Options("", "a test run"));
    assertThat(worstError(new TableProfile(swept), TensorParallelism.TP4)).isLessThan(0.05);
  }

  @Test
  void mergeTakesTheFrequencyModelFromTheRunThatSweptAndRefusesTwo() {
    ProfileDocument base = Profiles.h200().document();
    var o = new ProfileBuild.Options("", "a test run");
    ProfileDocument tp8 = ProfileBuild.apply(base, "tp8.csv", measured(8, new int[0], 0, 3), o);
    ProfileDocument tp4 = ProfileBuild.apply(base, "tp4.csv", measured(4, SWEPT, 0, 4), o);
    ProfileDocument merged = ProfileMerge.merge(List.of(new ProfileMerge.Named("tp8.json", tp8),
        new ProfileMerge.Named("tp4.json", tp4)));
    assertThat(merged.frequencyModel().minComputeShare()).isEqualTo(tp4.frequencyModel().minComputeShare());
    assertThat(merged.frequencyModel().voltageFloorMhz()).isEqualTo(tp4.frequencyModel().voltageFloorMhz());
    assertThat(ProfileBuild.swept(merged)).isTrue();
    ProfileDocument tp2 = ProfileBuild.apply(base, "tp2.csv", measured(2, SWEPT, 0, 5), o);
    assertThatThrownBy(() -> ProfileMerge.merge(List.of(new ProfileMerge.Named("tp4.json", tp4),
        new ProfileMerge.Named("tp2.json", tp2))))
        .isInstanceOf(ProfileFormatException.class)
        .hasMessageContaining("fitted to a clock sweep in both tp4.json and tp2.json");
  }

  @Test
  void sweptRowsThatCannotBeComparedAreNamed() {
    ProfileDocument base = Profiles.h200().document();
    var o = new ProfileBuild.Options("", "a test run");
    List<Row> rows = new ArrayList<>(measured(8, new int[] {1395}, 0, 6));
    rows.removeIf(r -> r.lockedMhz() == 1395 && r.kind() == Kind.FIRST_TOKEN && r.tokens() == 1);
    assertThatThrownBy(() -> ProfileBuild.apply(base, "tp8.csv", rows, o))
        .hasMessage("tp8.csv: TP8 at 1395 MHz: a prefill of 2048 tokens without a one-token prompt at the same clock"
            + " to measure it against");
    List<Row> above = new ArrayList<>(measured(8, new int[0], 0, 7));
    above.add(above.get(2).lockedAt(2100));
    assertThatThrownBy(() -> ProfileBuild.apply(base, "tp8.csv", above, o))
        .hasMessage("tp8.csv: a row locked at 2100 MHz, above the base profile's maximum clock (1980 MHz)");
    List<Row> below = new ArrayList<>(measured(8, new int[0], 0, 8));
    below.add(below.get(2).lockedAt(500));
    assertThatThrownBy(() -> ProfileBuild.apply(base, "tp8.csv", below, o))
        .hasMessageContaining("a row locked at 500 MHz, outside the profile's 800–1980 MHz");
  }
}
