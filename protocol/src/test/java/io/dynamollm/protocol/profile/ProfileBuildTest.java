package io.dynamollm.protocol.profile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Measurements.Kind;
import io.dynamollm.protocol.profile.Measurements.Row;
import io.dynamollm.protocol.profile.ProfileJson.ProfileFormatException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Measurements of a live engine become a profile's shard series ({@link ProfileBuild}), several runs one profile
 * ({@link ProfileMerge}); the journal reads back what it wrote and names a bad line. The measurements here are what an
 * ideal client would see of an engine running the H100 profile: instance step times, times to first token with a
 * fixed client and server overhead.
 */
class ProfileBuildTest {
  private static final TableProfile TRUTH = Profiles.h100();
  private static final double OVERHEAD_MS = 7.5;
  private static final ProfileBuild.Options OPTIONS = new ProfileBuild.Options("", "a test run");

  /** What a client of an engine running the H100 profile measures on {@code tp}. */
  static List<Row> measured(int degree, boolean withShortBigBatch) {
    TensorParallelism tp = TensorParallelism.of(degree);
    int max = TRUTH.maxClockMhz();
    List<Row> rows = idleAndKvCache(TRUTH, degree);
    for (int b : new int[] {1, 8, 32, 64, 128, 256}) {
      double ctx = withShortBigBatch && b == 256 ? 100 : 1020 + b % 7; // a few tokens off 1,024, as measured
      rows.add(new Row(Kind.DECODE, degree, b, ctx, TRUTH.decodeStepMs(tp, b, ctx, max), TRUTH.decodePowerW(tp, b, max),
          max, 20));
    }
    for (double ctx : new double[] {256, 4096}) {
      rows.add(new Row(Kind.DECODE_CONTEXT, degree, 32, ctx, TRUTH.decodeStepMs(tp, 32, ctx, max),
          TRUTH.decodePowerW(tp, 32, max), max, 20));
    }
    rows.add(new Row(Kind.FIRST_TOKEN, degree, Double.NaN, 1, OVERHEAD_MS + TRUTH.prefillMs(tp, 1, max),
        TRUTH.prefillPowerW(tp, 1, max), max, 10));
    for (int p : new int[] {128, 512, 1024, 2048, 4096, 8192}) {
      rows.add(new Row(Kind.FIRST_TOKEN, degree, Double.NaN, p, OVERHEAD_MS + TRUTH.prefillMs(tp, p, max),
          TRUTH.prefillPowerW(tp, p, max), TRUTH.prefillHeldClockMhz(tp, p, max), 5));
    }
    return rows;
  }

  /** The idle and KV-cache rows of an engine running {@code truth} on {@code degree} (a list to add to). */
  static List<Row> idleAndKvCache(TableProfile truth, int degree) {
    List<Row> rows = new ArrayList<>();
    rows.add(new Row(Kind.IDLE, degree, Double.NaN, Double.NaN, Double.NaN, truth.idlePowerW(), 345, 2));
    rows.add(new Row(Kind.KV_CACHE, degree, Double.NaN, truth.kvCacheTokens(TensorParallelism.of(degree)), Double.NaN,
        Double.NaN, Double.NaN, 1));
    return rows;
  }

  @Test
  void measuredTimesBecomeTheShardSeriesTheEngineRan() {
    ProfileDocument base = Profiles.h200().document();
    ProfileDocument d = ProfileBuild.apply(base, "tp8.csv", measured(8, false), OPTIONS);
    TableProfile built = new TableProfile(d);
    var tp = TensorParallelism.TP8;
    int max = TRUTH.maxClockMhz();
    var s = d.series(8).orElseThrow();
    assertThat(s.measuredBy()).contains("a test run");
    assertThat(d.series(4).orElseThrow()).isEqualTo(base.series(4).orElseThrow());
    assertThat(s.maxBatch()).isEqualTo(256);
    assertThat(s.kvCacheTokens()).isEqualTo(TRUTH.kvCacheTokens(tp));
    for (int b : new int[] {1, 8, 32, 64, 128, 256}) {
      assertThat(built.decodeStepMs(tp, b, 1024, max)).as("batch %d", b)
          .isCloseTo(TRUTH.decodeStepMs(tp, b, 1024, max), within(0.01));
      assertThat(built.decodePowerW(tp, b, max)).isCloseTo(TRUTH.decodePowerW(tp, b, max), within(0.06));
    }
    for (int p : new int[] {128, 512, 2048, 8192}) {
      assertThat(built.prefillMs(tp, p, max)).as("prompt %d", p)
          .isCloseTo(TRUTH.prefillMs(tp, p, max), within(0.02)); // the overhead cancels
    }
    assertThat(s.prefill().smMhz()).containsExactly(1980, 1980, 1980, 1935, 1935, 1935);
    // at a lower clock too: the held clock came through, so the frequency model scales the same way
    assertThat(built.prefillMs(tp, 8192, 1200)).isCloseTo(TRUTH.prefillMs(tp, 8192, 1200), within(0.05));
    assertThat(built.kvReadBytesPerS(tp)).isCloseTo(TRUTH.kvReadBytesPerS(tp), within(0.01e12));
    assertThat(d.provenance().get("prefill")).contains("profile build").contains("degrees without measured_by");
    assertThat(d.provenance().get("frequency_model")).contains("not swept");
    // the file reads back with measured_by, and its schema allows it
    ProfileDocument again = ProfileJson.read("again", ProfileJson.write(d));
    assertThat(again.series(8).orElseThrow().measuredBy()).contains("a test run");
    assertThat(again.series(2).orElseThrow().measuredBy()).isEmpty();
  }

  @Test
  void aBatchMeasuredAtAShorterContextIsMovedToTheSeriesContext() {
    ProfileDocument d = ProfileBuild.apply(Profiles.h200().document(), "tp2.csv", measured(2, true), OPTIONS);
    TableProfile built = new TableProfile(d);
    var tp = TensorParallelism.TP2;
    int max = TRUTH.maxClockMhz();
    assertThat(built.decodeStepMs(tp, 256, 100, max)).isCloseTo(TRUTH.decodeStepMs(tp, 256, 100, max), within(0.05));
    assertThat(built.decodeStepMs(tp, 256, 1024, max)).isCloseTo(TRUTH.decodeStepMs(tp, 256, 1024, max), within(0.05));
  }

  @Test
  void whatADegreeLacksIsNamed() {
    ProfileDocument base = Profiles.h200().document();
    List<Row> rows = measured(8, false);
    assertThatThrownBy(() -> ProfileBuild.apply(base, "j.csv", rows.stream().filter(r -> r.kind() != Kind.IDLE)
        .toList(), OPTIONS)).isInstanceOf(ProfileFormatException.class).hasMessageContaining("no idle row");
    assertThatThrownBy(() -> ProfileBuild.apply(base, "j.csv", rows.stream().filter(r -> r.kind() != Kind.KV_CACHE)
        .toList(), OPTIONS)).hasMessageContaining("j.csv: TP8: no kv_cache row");
    assertThatThrownBy(() -> ProfileBuild.apply(base, "j.csv", rows.stream()
        .filter(r -> !(r.kind() == Kind.FIRST_TOKEN && r.tokens() == 1)).toList(), OPTIONS))
        .hasMessageContaining("no first_token row of a one-token prompt");
    assertThatThrownBy(() -> ProfileBuild.apply(base, "j.csv", rows.stream()
        .filter(r -> !(r.kind() == Kind.DECODE && r.batch() == 1)).toList(), OPTIONS))
        .hasMessageContaining("the decode series needs batch 1");
    List<Row> flat = rows.stream().map(r -> r.kind() == Kind.DECODE_CONTEXT
        ? new Row(r.kind(), r.tp(), r.batch(), r.tokens(), 1.0, r.powerW(), r.smMhz(), r.samples()) : r).toList();
    assertThatThrownBy(() -> ProfileBuild.apply(base, "j.csv", flat, OPTIONS))
        .hasMessageContaining("do not show the decode step growing with context");
    List<Row> tp16 = rows.stream().map(r -> new Row(r.kind(), 16, r.batch(), r.tokens(), r.ms(), r.powerW(), r.smMhz(),
        r.samples())).toList();
    assertThatThrownBy(() -> ProfileBuild.apply(base, "j.csv", tp16, OPTIONS))
        .hasMessageContaining("TP16 is not in the base profile");
  }

  @Test
  void mergeTakesEachDegreeFromTheRunThatMeasuredIt() {
    ProfileDocument base = Profiles.h200().document();
    ProfileDocument a = ProfileBuild.apply(base, "tp8.csv", measured(8, false), OPTIONS);
    ProfileDocument b = ProfileBuild.apply(base, "tp4.csv", measured(4, false), new ProfileBuild.Options("", "run 2"));
    ProfileDocument c = ProfileBuild.apply(base, "tp2.csv", measured(2, false), new ProfileBuild.Options("", "run 3"));
    ProfileDocument m = ProfileMerge.merge(List.of(new ProfileMerge.Named("a", a), new ProfileMerge.Named("b", b),
        new ProfileMerge.Named("c", c)));
    assertThat(m.series(8).orElseThrow()).isEqualTo(a.series(8).orElseThrow());
    assertThat(m.series(4).orElseThrow()).isEqualTo(b.series(4).orElseThrow());
    assertThat(m.series(2).orElseThrow().measuredBy()).contains("run 3");
    new TableProfile(m);

    assertThatThrownBy(() -> ProfileMerge.merge(List.of(new ProfileMerge.Named("a", a),
        new ProfileMerge.Named("again", a))))
        .hasMessage("TP8 is measured in both a and again; merge one of them");
    assertThatThrownBy(() -> ProfileMerge.merge(List.of(new ProfileMerge.Named("h100", Profiles.h100().document()),
        new ProfileMerge.Named("h200", base))))
        .hasMessageContaining("none of the profiles has a degree measured by profile build");
  }

  @Test
  void theJournalReadsBackWhatItWroteAndNamesABadLine() {
    List<Row> rows = measured(8, false);
    List<Row> again = Measurements.read("j.csv", Measurements.write(rows));
    assertThat(again).hasSize(rows.size());
    assertThat(again.get(2).samePoint(rows.get(2))).isTrue();
    assertThat(again.get(1).samePoint(rows.get(1))).isTrue(); // the KV-cache row (no batch)
    assertThatThrownBy(() -> Measurements.read("j.csv", "kind,tp\n"))
        .hasMessageContaining("j.csv line 1: expected the header " + Measurements.HEADER);
    assertThatThrownBy(() -> Measurements.read("j.csv", Measurements.HEADER + "\ndecode,8,1,1024,x,1,1,1,0\n"))
        .hasMessage("j.csv line 2: ms is not a number: 'x'");
    assertThatThrownBy(() -> Measurements.read("j.csv", Measurements.HEADER + "\nprefill,8,1,1024,1,1,1,1,0\n"))
        .hasMessageContaining("j.csv line 2: kind must be idle, kv_cache, decode, decode_context or first_token");
    assertThatThrownBy(() -> Measurements.read("j.csv", Measurements.HEADER + "\ndecode,3,1,1024,1,1,1,1,0\n"))
        .hasMessage("j.csv line 2: tp must be a power of two, got 3");
    assertThatThrownBy(() -> Measurements.read("j.csv", Measurements.HEADER + "\ndecode,8,1,1024,1,1,1,1\n"))
        .hasMessage("j.csv line 2: expected 9 columns (" + Measurements.HEADER + "), got 8");
    assertThatThrownBy(() -> Measurements.read("j.csv", Measurements.HEADER + "\ndecode,8,1,1024,1,1,1,1,1200.5\n"))
        .hasMessage("j.csv line 2: locked_mhz must be a whole number of MHz, got 1200.5");
    // a journal written before clock sweeps: 8 columns, every row at the GPUs' own clocks
    List<Row> old = Measurements.read("old.csv", Measurements.HEADER_UNLOCKED + "\ndecode,8,1,1024,9.5,300,1980,40\n");
    assertThat(old.get(0).lockedMhz()).isZero();
    assertThat(old.get(0).ms()).isEqualTo(9.5);
    // the same point at another locked clock is another point
    Row at1200 = rows.get(2).lockedAt(1200);
    Row back = Measurements.read("j.csv", Measurements.write(List.of(at1200))).get(0);
    assertThat(back.lockedMhz()).isEqualTo(1200);
    assertThat(back.samePoint(at1200)).isTrue();
    assertThat(at1200.samePoint(rows.get(2))).isFalse();
  }
}
