package io.dynamollm.decision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.decision.cluster.LoadForecaster;
import io.dynamollm.decision.cluster.LoadForecaster.Basis;
import io.dynamollm.decision.routing.OnlineOutputPredictor;
import io.dynamollm.decision.routing.OutputLengthPredictor;
import io.dynamollm.decision.routing.RequestClassifier;
import io.dynamollm.decision.routing.RequestFeatures;
import io.dynamollm.decision.routing.RequestClassifier.Accepted;
import io.dynamollm.decision.routing.RequestClassifier.Rejected;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SizeClass;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DecisionsTest {
  static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  static final SloTable SLOS = PROFILE.defaultSlos(5);
  static final ClassThresholds T = ClassThresholds.DEFAULT;

  @ParameterizedTest(name = "prompt {0}, max_tokens {1}, predicted {2} -> {3}")
  @CsvSource({
    "100, 0, S, SS",
    "300, 0, L, ML",
    "5000, 1000, M, LM",
    "8191, 0, S, LS",
    "8192, 0, S, rejected: maximum context",
    "8000, 500, S, rejected: exceeds the maximum context",
    "0, 0, S, rejected: empty",
  })
  void classifierTypesOrRejectsWithAReason(int prompt, int maxTokens, SizeClass predicted, String expected) {
    var c = new RequestClassifier(T).classify(prompt, maxTokens, predicted);
    if (expected.startsWith("rejected: ")) {
      assertThat(c).isInstanceOfSatisfying(Rejected.class,
          r -> assertThat(r.reason()).contains(expected.substring("rejected: ".length())));
    } else {
      assertThat(c).isEqualTo(new Accepted(RequestType.valueOf(expected)));
    }
  }

  @Test
  void noisyOracleHitsItsAccuracyAndIsReproducible() {
    var p = OutputLengthPredictor.noisyOracle(T, 0.6, OutputLengthPredictor.Confusion.ADJACENT, 42);
    int right = 0;
    int n = 20_000;
    for (int i = 0; i < n; i++) {
      var f = RequestFeatures.simulated(i, 500, 50 + (i % 3) * 200); // 50 (S), 250 (M), 450 (L)
      SizeClass guess = p.predict(f);
      assertThat(p.predict(f)).isEqualTo(guess); // same request, same answer
      if (guess == T.outputClass(f.knownOutputTokens().getAsInt())) {
        right++;
      } else if (T.outputClass(f.knownOutputTokens().getAsInt()) == SizeClass.S) {
        assertThat(guess).isEqualTo(SizeClass.M); // adjacent errors only
      }
      p.observe(f, guess, f.knownOutputTokens().getAsInt());
    }
    assertThat((double) right / n).isCloseTo(0.6, within(0.015));
    assertThat(p.stats().accuracy()).isCloseTo((double) right / n, within(1e-12));
    var oracle = OutputLengthPredictor.oracle(T);
    assertThat(oracle.predict(RequestFeatures.simulated(1, 10, 400))).isEqualTo(SizeClass.L);
  }

  @Test
  void onlinePredictorLearnsAFeatureThatCarriesTheAnswer() {
    var p = new OnlineOutputPredictor(T, 1.0, 5);
    // short prompts get long answers, long prompts short ones; learn from 200 completions, then check
    for (int i = 0; i < 200; i++) {
      int prompt = i % 2 == 0 ? 100 : 3000;
      int out = i % 2 == 0 ? 600 : 40;
      var f = RequestFeatures.simulated(i, prompt, out);
      p.observe(f, p.predict(f), out);
    }
    assertThat(p.predict(RequestFeatures.simulated(1000, 90, 0))).isEqualTo(SizeClass.L);
    assertThat(p.predict(RequestFeatures.simulated(1001, 2800, 0))).isEqualTo(SizeClass.S);
    // max_tokens caps the prediction
    var capped = new RequestFeatures(1002, 90, 50, "default", Optional.empty(), OptionalInt.empty());
    assertThat(p.predict(capped)).isEqualTo(SizeClass.S);
    assertThat(p.stats().observed()).isEqualTo(200);
    assertThat(p.stats().accuracy()).isGreaterThan(0.9);
  }

  static LoadForecaster.Settings forecasting(long recentMs, long minHistoryMs) {
    return new LoadForecaster.Settings(60_000, 0, recentMs, minHistoryMs, 10 * 60_000, 5_000, 30 * 60_000, 0.99, 1.0);
  }

  @Test
  void forecasterUsesTheRecentPeakWithoutHistoryAndTheTemplateWithIt() {
    var f = new LoadForecaster(forecasting(30 * 60_000, 15 * 60_000));
    // 30 minutes at 2 req/s, one minute at 5 req/s (a minute's arrivals spread over it)
    for (int m = 0; m < 31; m++) {
      int n = m == 20 ? 300 : 120;
      for (int k = 0; k < n; k++) {
        f.observe(m * 60_000L + k * 60_000L / n, RequestType.MM, 1, 500);
      }
    }
    var recent = f.forecast(RequestType.MM, 30 * 60_000L, 30 * 60_000L, 0);
    assertThat(recent.basis()).isEqualTo(Basis.RECENT_PEAK);
    assertThat(recent.peakRps()).isCloseTo(5.0, within(1e-9));
    assertThat(recent.partialHistory()).isFalse();
    assertThat(f.forecast(RequestType.SS, 30 * 60_000L, 30 * 60_000L, 0).basis()).isEqualTo(Basis.NO_DATA);
    assertThat(f.forecast(RequestType.MM, 10 * 60_000L, 30 * 60_000L, 0).partialHistory()).isTrue();

    // a day of 1 req/s with a 4 req/s hour at 12:00; the next day runs 1.5x busier: forecast 12:00 = 4 x 1.5 = 6
    var d = new LoadForecaster(forecasting(30 * 60_000, 15 * 60_000));
    long day = LoadForecaster.DAY_MS;
    for (int m = 0; m < 24 * 60; m++) {
      d.observe(m * 60_000L, RequestType.LL, m >= 720 && m < 780 ? 240 : 60, 0);
    }
    for (int m = 24 * 60; m < 24 * 60 + 720; m++) {
      d.observe(m * 60_000L, RequestType.LL, 90, 0);
    }
    var templated = d.forecast(RequestType.LL, day + 720 * 60_000L, 30 * 60_000L, 0);
    // 11:00-12:00 ran at 1.5 req/s against 1 req/s the day before: correction 1.5 on the template's 4 req/s peak
    assertThat(templated.basis()).isEqualTo(Basis.DAILY_TEMPLATE);
    assertThat(templated.correction()).isCloseTo(1.5, within(1e-9));
    assertThat(templated.peakRps()).isCloseTo(6.0, within(1e-9));
  }

  @Test
  void forecasterExtrapolatesARampOverTheStartUpLead() {
    var f = new LoadForecaster(forecasting(15 * 60_000, 5 * 60_000));
    // 1, 2, ..., 20 req/s in the minutes 0..19: the line reaches 20 + 1 per minute ahead
    for (int m = 0; m < 20; m++) {
      f.observe(m * 60_000L, RequestType.LM, 60 * (m + 1), 0);
    }
    f.observe(20 * 60_000L, RequestType.LM, 1, 0); // the minute under way has barely begun: it does not count
    var noLead = f.forecast(RequestType.LM, 20 * 60_000L, 60_000, 0);
    var lead = f.forecast(RequestType.LM, 20 * 60_000L, 60_000, 7 * 60_000);
    assertThat(noLead.peakRps()).as("one minute ahead of the last full minute's 20 req/s").isCloseTo(21.5,
        within(0.01));
    assertThat(lead.peakRps()).as("and a 7-minute start-up further").isCloseTo(28.5, within(0.01));
    // a falling load forecasts its recent peak (capacity is released only after the recent window)
    var g = new LoadForecaster(forecasting(15 * 60_000, 5 * 60_000));
    for (int m = 0; m < 20; m++) {
      g.observe(m * 60_000L, RequestType.LM, 60 * (20 - m), 0);
    }
    g.observe(20 * 60_000L, RequestType.LM, 1, 0);
    assertThat(g.forecast(RequestType.LM, 20 * 60_000L, 60_000, 0).peakRps()).isCloseTo(15.0, within(1e-9));
  }

  @Test
  void burstsAreTheRateWhosePoissonWindowsReachWhatTheBusiestWindowsReached() {
    // Poisson arrivals: the burst rate is their mean again (the profile's load model holds their spread)
    var poisson = new LoadForecaster(forecasting(15 * 60_000, 5 * 60_000));
    var r = new java.util.SplittableRandom(7);
    double t = 0;
    while (t < 30 * 60_000) {
      t += -Math.log(1 - r.nextDouble()) / 20 * 1000; // 20 req/s
      poisson.observe((long) t, RequestType.SS, 1, 200);
    }
    double calm = poisson.forecast(RequestType.SS, 30 * 60_000L, 60_000, 0).burstRps();
    assertThat(calm).isCloseTo(20, within(2.0));
    // on/off: 2 req/s, with 10 s at 60 req/s every 3 minutes — the bursts carry a third of the requests
    var bursty = new LoadForecaster(forecasting(15 * 60_000, 5 * 60_000));
    for (int s = 0; s < 1800; s++) {
      int n = s % 180 < 10 ? 60 : 2;
      for (int k = 0; k < n; k++) {
        bursty.observe(s * 1000L + k * 1000L / n, RequestType.SS, 1, 200);
      }
    }
    var b = bursty.forecast(RequestType.SS, 1_800_000L, 60_000, 0);
    assertThat(b.burstRps()).as("the bursts' rate, not the mean").isGreaterThan(50);
    assertThat(b.peakRps()).as("the busiest minute").isLessThan(15);
    assertThat(b.planRps()).isEqualTo(b.burstRps());
    // a burst of long prompts at an unchanged request rate: the tokens say it
    var tokens = new LoadForecaster(forecasting(15 * 60_000, 5 * 60_000));
    for (int s = 0; s < 1800; s++) {
      for (int k = 0; k < 4; k++) {
        tokens.observe(s * 1000L + k * 250L, RequestType.LS, 1, s % 180 < 10 ? 8000 : 1000);
      }
    }
    assertThat(tokens.forecast(RequestType.LS, 1_800_000L, 60_000, 0).burstRps()).isGreaterThan(12);
    assertThat(LoadForecaster.poissonRateFor(1, 0.99)).isZero();
    assertThat(LoadForecaster.weightedQuantile(new double[] {1, 1, 1, 97}, 0.99)).isEqualTo(97);
  }

  @Test
  void aForecasterRestoredFromAnotherOnesHourlySnapshotsForecastsTheSame() {
    // a day and a half of a diurnal load of two types with bursts, counted by one forecaster ...
    var seen = new LoadForecaster(forecasting(30 * 60_000, 15 * 60_000));
    var r = new java.util.SplittableRandom(11);
    long end = LoadForecaster.DAY_MS + 12 * 3_600_000L + 1234;
    for (long t = 0; t < end; t += 1000) {
      int n = (int) (3 + 2 * Math.sin(t / 3.6e6) + (t % 600_000 < 20_000 ? 20 : 0));
      seen.observe(t, RequestType.MM, n, n * (200L + r.nextInt(800)));
      seen.observe(t + 500, RequestType.SL, r.nextInt(3), 300);
    }
    seen.forgetBefore(end);
    // ... kept hour by hour elsewhere and restored by another (twice over, and an hour out of order: max-merge)
    var restored = new LoadForecaster(forecasting(30 * 60_000, 15 * 60_000));
    for (long h = 0; h * 3_600_000L < end; h++) {
      restored.restore(seen.snapshot(h * 3_600_000L, (h + 1) * 3_600_000L));
    }
    restored.restore(seen.snapshot(5 * 3_600_000L, 6 * 3_600_000L));
    restored.restore(seen.snapshot(end - 3_600_000L, end + 3_600_000L));
    for (long at : new long[] {end, end + 60_000, end + 600_000}) {
      for (RequestType t : RequestType.values()) {
        assertThat(restored.forecast(t, at, 10 * 60_000, 5 * 60_000)).as("%s at %d", t, at)
            .isEqualTo(seen.forecast(t, at, 10 * 60_000, 5 * 60_000));
      }
      assertThat(restored.recentMeans(at)).isEqualTo(seen.recentMeans(at));
    }
    assertThat(seen.forecast(RequestType.MM, end, 10 * 60_000, 5 * 60_000).basis()).isEqualTo(Basis.DAILY_TEMPLATE);
    assertThat(seen.snapshot(end + 3_600_000L, end + 7_200_000L).isEmpty()).isTrue();
    // counts of other bucket lengths are refused, naming both
    var other = new LoadForecaster(new LoadForecaster.Settings(120_000, 0, 30 * 60_000, 15 * 60_000, 10 * 60_000,
        5_000, 30 * 60_000, 0.99, 1.0));
    assertThatThrownBy(() -> other.restore(seen.snapshot(0, 3_600_000L)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("60000 ms").hasMessageContaining("120000 ms");
  }

  @Test
  void aPoolsForecastIsOfItsTypesTogether() {
    // SS busy in the first quarter hour, LS in the second: together they never exceed 10 req/s
    var f = new LoadForecaster(forecasting(30 * 60_000, 5 * 60_000));
    for (int m = 0; m < 30; m++) {
      f.observe(m * 60_000L, RequestType.SS, m < 15 ? 540 : 60, 0);
      f.observe(m * 60_000L, RequestType.LS, m < 15 ? 60 : 540, 0);
    }
    f.observe(30 * 60_000L, RequestType.SS, 1, 0);
    double each = f.forecast(RequestType.SS, 30 * 60_000L, 60_000, 0).peakRps()
        + f.forecast(RequestType.LS, 30 * 60_000L, 60_000, 0).peakRps();
    double together = f.forecast(java.util.EnumSet.of(RequestType.SS, RequestType.LS), 30 * 60_000L, 60_000, 0)
        .peakRps();
    assertThat(each).isCloseTo(18, within(1e-9));
    assertThat(together).isCloseTo(10, within(1e-9));
  }
}
