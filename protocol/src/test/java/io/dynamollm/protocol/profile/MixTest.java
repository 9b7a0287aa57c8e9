package io.dynamollm.protocol.profile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MixTest {
  static final Profile P = MemoizedProfile.of(Profiles.h100());
  static final SloTable SLOS = P.defaultSlos(5);

  static Mix of(Map<RequestType, Double> rates) {
    return Mix.of(rates, P::shape, SLOS::of);
  }

  @Test
  void sharesAreRoundedAndTheMixturesLengthsAreTheirPartsTogether() {
    Mix m = of(Map.of(RequestType.SS, 3.0, RequestType.LS, 1.0, RequestType.MM, 0.001));
    // MM's 0.02 % rounds away; the rest keep 3 : 1
    assertThat(m.parts()).extracting(Mix.Part::type).containsExactly(RequestType.SS, RequestType.LS);
    assertThat(m.parts()).extracting(Mix.Part::share).containsExactly(0.75, 0.25);
    TypeShape a = m.aggregate();
    assertThat(a.meanInputTokens()).isEqualTo((int) Math.round(0.75 * 181 + 0.25 * 2981));
    // the mixture's p99 lies in the long prompts' tail: beyond their mean, below their own p99
    assertThat(a.p99InputTokens()).isBetween(2981, 5272);
    assertThat(of(Map.of(RequestType.SS, 3.0)).aggregate()).isEqualTo(P.shape(RequestType.SS));
    // equal weights when nothing has a rate yet; a mix needs a type
    assertThat(of(Map.of(RequestType.SS, 0.0, RequestType.MM, 0.0)).parts()).extracting(Mix.Part::share)
        .containsExactly(0.5, 0.5);
    assertThatThrownBy(() -> of(Map.of())).hasMessageContaining("at least one type");
    assertThat(Mix.quantile99(new double[] {1}, new double[] {0}, new double[] {1})).isCloseTo(2.326, within(1e-3));
  }

  @Test
  void aShortPromptBehindLongOnesCostsAMixCapacity() {
    // SS's TTFT SLO is ~100 ms; an LS prefill takes about as long: mixed, SS requests wait behind them
    double ssAlone = P.capacityRps(Mix.single(RequestType.SS, P.shape(RequestType.SS), SLOS.of(RequestType.SS)),
        TensorParallelism.TP8, 1980);
    double lsAlone = P.capacityRps(Mix.single(RequestType.LS, P.shape(RequestType.LS), SLOS.of(RequestType.LS)),
        TensorParallelism.TP8, 1980);
    Mix half = of(Map.of(RequestType.SS, 1.0, RequestType.LS, 1.0));
    double mixed = P.capacityRps(half, TensorParallelism.TP8, 1980);
    // what the two would carry if each request only cost its own work (harmonic): mixing carries less
    double noInterference = 2 / (1 / ssAlone + 1 / lsAlone);
    assertThat(mixed).isLessThan(noInterference);
    // two types of similar prompts lose little
    Mix similar = of(Map.of(RequestType.MS, 1.0, RequestType.MM, 1.0));
    double ms = P.capacityRps(Mix.single(RequestType.MS, P.shape(RequestType.MS), SLOS.of(RequestType.MS)),
        TensorParallelism.TP8, 1980);
    double mm = P.capacityRps(Mix.single(RequestType.MM, P.shape(RequestType.MM), SLOS.of(RequestType.MM)),
        TensorParallelism.TP8, 1980);
    assertThat(P.capacityRps(similar, TensorParallelism.TP8, 1980)).isGreaterThan(0.8 * 2 / (1 / ms + 1 / mm));
  }

  @Test
  void missesGrowWithTheLoadAndAStricterBudgetCarriesLess() {
    Mix m = of(Map.of(RequestType.SS, 1.0, RequestType.LS, 1.0, RequestType.LL, 2.0));
    double before = 0;
    for (double rps : new double[] {0.2, 0.5, 1, 2, 3}) {
      MixPoint p = P.estimate(m, TensorParallelism.TP8, 1980, rps);
      assertThat(p.ttftMiss()).isGreaterThan(before);
      before = p.ttftMiss();
    }
    double loose = P.capacityRps(m, TensorParallelism.TP8, 1980);
    double strict = P.capacityRps(m.withMissBudget(0.005), TensorParallelism.TP8, 1980);
    assertThat(strict).isLessThan(loose);
    // a lower clock carries less
    assertThat(P.capacityRps(m, TensorParallelism.TP8, 1200)).isLessThan(loose);
    assertThatThrownBy(() -> m.withMissBudget(0.7)).hasMessageContaining("miss budget");
  }

  @Test
  void requestsThatMissEvenAloneDoNotCountAgainstTheBudget() {
    // LL prompts of ~7,500 tokens: a TTFT SLO of 250 ms misses some alone on TP8 at 1980 MHz whatever the plan
    Map<RequestType, TypeShape> shapes = new EnumMap<>(RequestType.class);
    shapes.put(RequestType.LL, new TypeShape(4000, 7900, 400, 700));
    shapes.put(RequestType.LM, new TypeShape(4000, 7900, 200, 340));
    var slos = SLOS.with(RequestType.LL, new io.dynamollm.protocol.Slo(200, 69));
    Mix m = Mix.of(Map.of(RequestType.LL, 1.0, RequestType.LM, 1.0), shapes::get, slos::of);
    Mix.Part ll = m.parts().stream().filter(p -> p.type() == RequestType.LL).findFirst().orElseThrow();
    assertThat(LoadModel.aloneMiss(P, ll)).isPositive();
    // the mix still has a capacity: its misses beyond those are what the budget holds
    assertThat(P.capacityRps(m, TensorParallelism.TP8, 1980)).isPositive();
  }
}
