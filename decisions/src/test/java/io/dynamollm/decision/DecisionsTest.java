package io.dynamollm.decision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.decision.cluster.LoadForecaster;
import io.dynamollm.decision.cluster.LoadForecaster.Basis;
import io.dynamollm.decision.cluster.PoolBudgeter;
import io.dynamollm.decision.routing.OnlineOutputPredictor;
import io.dynamollm.decision.routing.OutputLengthPredictor;
import io.dynamollm.decision.routing.RequestClassifier;
import io.dynamollm.decision.routing.RequestFeatures;
import io.dynamollm.decision.routing.RequestClassifier.Accepted;
import io.dynamollm.decision.routing.RequestClassifier.Rejected;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SizeClass;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Llama2H100Profile;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DecisionsTest {
  static final Profile PROFILE = MemoizedProfile.of(new Llama2H100Profile());
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

  @Test
  void forecasterUsesTheRecentPeakWithoutHistoryAndTheTemplateWithIt() {
    var f = new LoadForecaster(new LoadForecaster.Settings(60_000, 0, 30 * 60_000, 1.0));
    // 30 minutes at 2 req/s, one minute at 5 req/s
    for (int m = 0; m < 30; m++) {
      f.observe(m * 60_000L + 1, RequestType.MM, m == 20 ? 300 : 120);
    }
    var recent = f.forecast(RequestType.MM, 30 * 60_000L, 30 * 60_000L);
    assertThat(recent.basis()).isEqualTo(Basis.RECENT_PEAK);
    assertThat(recent.peakRps()).isCloseTo(5.0, within(1e-9));
    assertThat(f.forecast(RequestType.SS, 30 * 60_000L, 30 * 60_000L).basis()).isEqualTo(Basis.NO_DATA);

    // a day of 1 req/s with a 4 req/s hour at 12:00; the next day runs 1.5x busier: forecast 12:00 = 4 x 1.5 = 6
    var d = new LoadForecaster(new LoadForecaster.Settings(60_000, 0, 30 * 60_000, 1.0));
    long day = LoadForecaster.DAY_MS;
    for (int m = 0; m < 24 * 60; m++) {
      d.observe(m * 60_000L, RequestType.LL, m >= 720 && m < 780 ? 240 : 60);
    }
    for (int m = 24 * 60; m < 24 * 60 + 720; m++) {
      d.observe(m * 60_000L, RequestType.LL, 90);
    }
    var templated = d.forecast(RequestType.LL, day + 720 * 60_000L, 30 * 60_000L);
    // 11:00-12:00 ran at 1.5 req/s against 1 req/s the day before: correction 1.5 on the template's 4 req/s peak
    assertThat(templated.basis()).isEqualTo(Basis.DAILY_TEMPLATE);
    assertThat(templated.correction()).isCloseTo(1.5, within(1e-9));
    assertThat(templated.peakRps()).isCloseTo(6.0, within(1e-9));
  }

  @Test
  void budgeterMergesSmallTypesUpwardAndSizesPools() {
    var b = new PoolBudgeter(PROFILE, DecisionSettings.defaults().budgeter());
    Map<RequestType, Double> load = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      load.put(t, 3.0);
    }
    load.put(RequestType.SL, 0.01); // far below half a TP2 instance: merged
    load.put(RequestType.SS, 0.0);
    var a = b.allocate(load, SLOS, 256, FrequencyBounds.H100_DEFAULT);
    assertThat(a.routing().get(RequestType.SL)).isIn("ML", "LL");
    assertThat(a.routing().get(RequestType.SS)).isNotEqualTo("SS");
    assertThat(a.routing().get(RequestType.LL)).isEqualTo("LL");
    assertThat(a.gpusUsed()).isLessThanOrEqualTo(256);
    assertThat(a.shortOfGpus()).isFalse();
    var mm = a.pools().stream().filter(p -> p.name().equals("MM")).findFirst().orElseThrow();
    assertThat(mm.gpus()).isPositive();
    // a merged pool is sized for its native type's SLO
    var host = a.pools().stream().filter(p -> p.types().contains(RequestType.SS)).findFirst().orElseThrow();
    assertThat(host.slo()).isEqualTo(SLOS.of(host.nativeType()));
    // too few GPUs: fewest-GPU layouts, then proportional shrink, flagged
    var tight = b.allocate(load, SLOS, 16, FrequencyBounds.H100_DEFAULT);
    assertThat(tight.gpusUsed()).isLessThanOrEqualTo(16);
    assertThat(tight.shortOfGpus()).isTrue();
  }
  @Test
  void budgeterGivesUpHeadroomBeforeMergingPools() {
    Map<RequestType, Double> load = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      load.put(t, 3.0);
    }
    var bare = new PoolBudgeter(PROFILE, new PoolBudgeter.Settings(0.5, 0.9, 1.0, 1.0, 0.9))
        .allocate(load, SLOS, 4096, FrequencyBounds.H100_DEFAULT);
    int fits = bare.gpusUsed(); // every pool at its least-power layout for the bare forecast
    var roomy = new PoolBudgeter(PROFILE, new PoolBudgeter.Settings(0.5, 0.9, 2.0, 1.0, 0.9));
    var wide = roomy.allocate(load, SLOS, 4096, FrequencyBounds.H100_DEFAULT);
    assertThat(wide.gpusUsed()).isGreaterThan(fits);
    // a cluster that carries the forecast but not twice it keeps every pool, without the headroom
    var a = roomy.allocate(load, SLOS, fits, FrequencyBounds.H100_DEFAULT);
    assertThat(a.reason()).contains("without headroom").doesNotContain("merges");
    assertThat(a.pools()).extracting(PoolBudgeter.PoolBudget::name)
        .containsExactlyElementsOf(wide.pools().stream().map(PoolBudgeter.PoolBudget::name).toList());
    assertThat(a.gpusUsed()).isLessThanOrEqualTo(fits);
    assertThat(a.shortOfGpus()).isFalse();
  }
}
