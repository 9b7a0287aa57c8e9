package io.dynamollm.decision.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.TypeShape;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ClusterLayoutTest {
  static final Profile P = MemoizedProfile.of(Profiles.h100());
  static final SloTable SLOS = P.defaultSlos(5);
  static final FrequencyBounds B = FrequencyBounds.H100_DEFAULT;
  static final PoolPlanner PLANNER = new PoolPlanner(P, DecisionSettings.defaults().planner(),
      new PoolPlanner.Transitions(ReshardCost.IN_PLACE_NVLINK, 420_000, 230));
  static final PoolBudgeter BUDGETER = new PoolBudgeter(PLANNER, new PoolBudgeter.Settings(0.5, 1.0, 0.05, 0.9, 0.2));
  static final ClusterLayout LAYOUT = new ClusterLayout(BUDGETER);
  static final Map<RequestType, TypeShape> SHAPES = shapes();

  static Map<RequestType, TypeShape> shapes() {
    Map<RequestType, TypeShape> m = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      m.put(t, P.shape(t));
    }
    return m;
  }

  /** Forecasts that add up per-type rates (the forecaster's own aggregation is tested with the forecaster). */
  static ClusterLayout.Forecasts forecasts(boolean partial, Map<RequestType, Double> rates) {
    return new ClusterLayout.Forecasts() {
      public boolean seen() {
        return true;
      }

      public boolean partial() {
        return partial;
      }

      public double planRps(Set<RequestType> types) {
        return types.stream().mapToDouble(t -> rates.getOrDefault(t, 0.0)).sum();
      }

      public Map<RequestType, Double> weights() {
        return rates;
      }
    };
  }

  static Map<RequestType, Double> rates(double ss, double ms, double mm, double ll) {
    return Map.of(RequestType.SS, ss, RequestType.MS, ms, RequestType.MM, mm, RequestType.LL, ll);
  }

  @Test
  void theBootstrapPoolsClockIsTheHighestClockLevelWithinTheOperatorsRangeNeverAboveIt() {
    // 1400 MHz is no clock level of the profile: the highest one within 1200–1400 is what the pool is held at
    var range = new FrequencyBounds(1200, 1400);
    int top = P.clockLevelsMhz().stream().filter(range::contains).max(Integer::compare).orElseThrow();
    assertThat(top).isLessThan(1400);
    var l = LAYOUT.decide(forecasts(true, rates(1, 1, 1, 1)), SHAPES, SLOS, 16, range, Map.of(), List.of());
    assertThat(l.bootstrap()).isTrue();
    assertThat(l.pools().get(0).bounds()).isEqualTo(new FrequencyBounds(top, top));
  }

  @Test
  void withoutTrafficOrWithAPartialHistoryEveryGpuServesEveryType() {
    var none = new ClusterLayout.Forecasts() {
      public boolean seen() {
        return false;
      }

      public boolean partial() {
        return true;
      }

      public double planRps(Set<RequestType> types) {
        return 0;
      }

      public Map<RequestType, Double> weights() {
        return Map.of();
      }
    };
    for (var f : List.of(none, forecasts(true, rates(1, 5, 3, 1)))) {
      var l = LAYOUT.decide(f, SHAPES, SLOS, 16, B, Map.of(), List.of());
      assertThat(l.bootstrap()).isTrue();
      assertThat(l.pools()).hasSize(1);
      var pool = l.pools().get(0);
      assertThat(pool.gpus()).isEqualTo(16);
      assertThat(pool.types()).isEqualTo(EnumSet.allOf(RequestType.class));
      // clocks held at the maximum until the minimum history: the mix is mostly the prior
      assertThat(pool.bounds()).isEqualTo(new FrequencyBounds(B.maxMhz(), B.maxMhz()));
      // 0.9 of two TP8 instances at the top clock, for the mix seen so far
      Map<RequestType, Double> w = new EnumMap<>(RequestType.class);
      for (RequestType t : RequestType.values()) {
        w.put(t, f.seen() ? f.weights().getOrDefault(t, 0.0) : 0.0);
      }
      double tp8 = PLANNER.capacityRps(Mix.of(w, SHAPES::get, SLOS::of), TensorParallelism.TP8, B);
      assertThat(pool.loadRps()).isCloseTo(0.9 * 2 * tp8, within(1e-9));
    }
    assertThat(LAYOUT.decide(none, SHAPES, SLOS, 16, B, Map.of(), List.of()).reason())
        .startsWith("no traffic seen yet");
    assertThat(LAYOUT.decide(forecasts(true, rates(1, 5, 3, 1)), SHAPES, SLOS, 16, B, Map.of(), List.of()).reason())
        .startsWith("less history than the forecaster's minimum");
  }

  @Test
  void aFullHistoryGivesALayoutThatServesEveryTypeOnceAndFits() {
    var l = LAYOUT.decide(forecasts(false, rates(1, 5, 3, 1)), SHAPES, SLOS, 64, B, Map.of(), List.of());
    assertThat(l.bootstrap()).isFalse();
    assertThat(l.gpus()).isLessThanOrEqualTo(64);
    assertThat(l.routing().keySet()).isEqualTo(EnumSet.allOf(RequestType.class));
    assertThat(l.pools().stream().mapToInt(p -> p.types().size()).sum()).isEqualTo(9);
    assertThat(l.pools()).allSatisfy(p -> {
      assertThat(p.gpus()).isPositive();
      // the load planned for is the forecast of the pool's types, without correction
      assertThat(p.loadRps()).isCloseTo(p.types().stream().mapToDouble(t -> rates(1, 5, 3, 1).getOrDefault(t, 0.0))
          .sum(), within(1e-9));
    });
  }

  @Test
  void shortPromptsMixedWithLongOnesCostMoreThanPoolsApart() {
    // SS (TTFT SLO ~100 ms) waits behind LS prefills of thousands of tokens in one pool: apart they need less
    var rates = Map.of(RequestType.SS, 20.0, RequestType.LS, 4.0);
    var l = LAYOUT.decide(forecasts(false, rates), SHAPES, SLOS, 256, B, Map.of(), List.of());
    assertThat(l.routing().get(RequestType.SS)).isNotEqualTo(l.routing().get(RequestType.LS));
    var q = new PoolBudgeter.Question(PoolBudgeter.Question.sumOf(rates), rates, SHAPES, SLOS, 256, B, List.of(),
        Map.of());
    double together = PLANNER.size(BUDGETER.mix(EnumSet.of(RequestType.SS, RequestType.LS), q), 24, B).powerW();
    assertThat(l.predictedPowerW()).isLessThan(together);
    // MS and MM (similar prompts, TTFT SLOs alike) are cheaper together than each on its own instances
    var similar = Map.of(RequestType.MS, 0.5, RequestType.MM, 0.5);
    var m = LAYOUT.decide(forecasts(false, similar), SHAPES, SLOS, 256, B, Map.of(), List.of());
    assertThat(m.routing().get(RequestType.MS)).isEqualTo(m.routing().get(RequestType.MM));
  }

  @Test
  void theLayoutInForceStaysWhileItIsNearlyAsGood() {
    var rates = rates(2, 5, 3, 4);
    var best = LAYOUT.decide(forecasts(false, rates), SHAPES, SLOS, 256, B, Map.of(), List.of());
    // one pool of everything is in force: kept only if within the hysteresis of the best
    List<Set<RequestType>> one = List.of(EnumSet.allOf(RequestType.class));
    var again = LAYOUT.decide(forecasts(false, rates), SHAPES, SLOS, 256, B, Map.of(), one);
    var q = new PoolBudgeter.Question(PoolBudgeter.Question.sumOf(rates), rates, SHAPES, SLOS, 256, B, List.of(),
        Map.of());
    double onePower = PLANNER.size(BUDGETER.mix(EnumSet.allOf(RequestType.class), q), 14, B).powerW();
    if (onePower <= best.predictedPowerW() * 1.05) {
      assertThat(again.pools()).hasSize(1);
      assertThat(again.reason()).startsWith("kept the layout in force");
    } else {
      assertThat(again.pools()).extracting(ClusterLayout.Pool::types)
          .containsExactlyInAnyOrderElementsOf(best.pools().stream().map(ClusterLayout.Pool::types).toList());
    }
    // and always when the caller says a change cannot be handed over
    var kept = LAYOUT.decide(forecasts(false, rates), SHAPES, SLOS, 256, B, Map.of(), one, 1e9);
    assertThat(kept.pools()).hasSize(1);
  }

  @Test
  void aPoolsCapacityCorrectionSizesThatPoolLargerButNotItsPlannedLoad() {
    var rates = rates(1, 20, 3, 1);
    var plain = LAYOUT.decide(forecasts(false, rates), SHAPES, SLOS, 256, B, Map.of(), List.of());
    List<Set<RequestType>> inForce = plain.pools().stream().map(ClusterLayout.Pool::types).toList();
    Set<RequestType> msPool = plain.pools().stream().filter(p -> p.types().contains(RequestType.MS)).findFirst()
        .orElseThrow().types();
    var corrected = LAYOUT.decide(forecasts(false, rates), SHAPES, SLOS, 256, B, Map.of(msPool, 1.5), inForce, 1e9);
    int before = plain.pools().stream().filter(p -> p.types().equals(msPool)).findFirst().orElseThrow().gpus();
    var after = corrected.pools().stream().filter(p -> p.types().equals(msPool)).findFirst().orElseThrow();
    assertThat(after.gpus()).isGreaterThan(before);
    assertThat(after.loadRps()).isEqualTo(plain.pools().stream().filter(p -> p.types().equals(msPool)).findFirst()
        .orElseThrow().loadRps());
    assertThat(corrected.reason()).contains("capacity corrections").contains("x1.50");
  }

  @Test
  void whenNothingFitsTheLayoutInForceShrinksInProportionAndSaysSo() {
    var rates = rates(30, 30, 30, 30);
    var roomy = LAYOUT.decide(forecasts(false, rates), SHAPES, SLOS, 1024, B, Map.of(), List.of());
    List<Set<RequestType>> inForce = roomy.pools().stream().map(ClusterLayout.Pool::types).toList();
    var tight = LAYOUT.decide(forecasts(false, rates), SHAPES, SLOS, 16, B, Map.of(), inForce);
    assertThat(tight.gpus()).isLessThanOrEqualTo(16);
    assertThat(tight.reason()).contains("no layout fits 16 GPUs").contains("kept it");
    assertThat(tight.pools()).extracting(ClusterLayout.Pool::types).containsExactlyElementsOf(inForce);
    // with none in force: one pool on every GPU
    var fresh = LAYOUT.decide(forecasts(false, rates), SHAPES, SLOS, 16, B, Map.of(), List.of());
    assertThat(fresh.pools()).hasSize(1);
    assertThat(fresh.gpus()).isEqualTo(16);
  }

  @Test
  void aShortPoolIsToppedUpFromFreeGpusToItsFewestGpuPlan() {
    Mix mm = Mix.single(RequestType.MM, SHAPES.get(RequestType.MM), SLOS.of(RequestType.MM));
    int need = PLANNER.size(mm, 6.0, B).fewestGpus();
    assertThat(need).isGreaterThan(2);
    assertThat(LAYOUT.topUp(mm, 6.0, 2, 16, B)).isEqualTo(need - 2);
    assertThat(LAYOUT.topUp(mm, 6.0, 2, 3, B)).isEqualTo(Math.min(2, need - 2)); // whole TP2 instances only
    assertThat(LAYOUT.topUp(mm, 6.0, 2, 0, B)).isZero();
    assertThat(LAYOUT.topUp(mm, 6.0, need, 16, B)).isZero(); // a budget that suffices gets nothing
  }

  @Test
  void refusesAClusterWithoutGpusAndBadSettings() {
    assertThatThrownBy(() -> LAYOUT.decide(forecasts(false, rates(1, 1, 1, 1)), SHAPES, SLOS, 0, B, Map.of(),
        List.of())).hasMessageContaining("needs GPUs, got 0");
    assertThatThrownBy(() -> new PoolBudgeter.Settings(0.5, 1.0, 0.05, 0, 0.2)).hasMessageContaining("(0, 1]");
    assertThatThrownBy(() -> new PoolBudgeter.Settings(0.5, 1.0, 1.5, 0.9, 0.2))
        .hasMessageContaining("layout-hysteresis");
  }
}
