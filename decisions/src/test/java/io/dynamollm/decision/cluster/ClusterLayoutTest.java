package io.dynamollm.decision.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.decision.cluster.LoadForecaster.Basis;
import io.dynamollm.decision.cluster.LoadForecaster.Forecast;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Llama2H100Profile;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ClusterLayoutTest {
  private static final Profile P = MemoizedProfile.of(new Llama2H100Profile());
  private static final SloTable SLOS = P.defaultSlos(5);
  private static final FrequencyBounds B = FrequencyBounds.H100_DEFAULT;
  private static final PoolBudgeter BUDGETER = new PoolBudgeter(P, new PoolBudgeter.Settings(0.5, 0.9, 1.15, 1.0, 0.9));
  private static final ClusterLayout LAYOUT = new ClusterLayout(BUDGETER, P);

  private static Map<RequestType, Forecast> forecast(boolean partial, double ss, double ms, double mm, double ll) {
    Map<RequestType, Forecast> f = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      f.put(t, new Forecast(0, Basis.NO_DATA, 1, true));
    }
    f.put(RequestType.SS, new Forecast(ss, Basis.RECENT_PEAK, 1, partial));
    f.put(RequestType.MS, new Forecast(ms, Basis.RECENT_PEAK, 1, partial));
    f.put(RequestType.MM, new Forecast(mm, Basis.RECENT_PEAK, 1, partial));
    f.put(RequestType.LL, new Forecast(ll, Basis.RECENT_PEAK, 1, partial));
    return f;
  }

  @Test
  void withoutTrafficOrWithAPartialHistoryEveryGpuServesEveryTypeAtTheMaximumClock() {
    double tp8 = P.capacityRps(RequestType.LL, TensorParallelism.TP8, P.maxClockMhz(), SLOS.of(RequestType.LL));
    for (var f : java.util.List.of(Map.<RequestType, Forecast>of(), forecast(true, 1, 5, 3, 1))) {
      var l = LAYOUT.decide(f, SLOS, 16, B, Map.of());
      assertThat(l.bootstrap()).isTrue();
      assertThat(l.pools()).hasSize(1);
      var pool = l.pools().get(0);
      assertThat(pool.name()).isEqualTo("LL");
      assertThat(pool.gpus()).isEqualTo(16);
      assertThat(pool.types()).isEqualTo(EnumSet.allOf(RequestType.class));
      assertThat(pool.bounds()).isEqualTo(new FrequencyBounds(B.maxMhz(), B.maxMhz()));
      // 0.9 of two TP8 instances' capacity
      assertThat(pool.loadRps()).isCloseTo(0.9 * 2 * tp8, within(1e-9));
    }
    assertThat(LAYOUT.decide(Map.of(), SLOS, 16, B, Map.of()).reason()).startsWith("no traffic seen yet");
    assertThat(LAYOUT.decide(forecast(true, 1, 5, 3, 1), SLOS, 16, B, Map.of()).reason())
        .startsWith("less history than one forecast window");
  }

  @Test
  void aFullHistoryGivesPoolsPerTypeEachTypeServedOnce() {
    var l = LAYOUT.decide(forecast(false, 1, 5, 3, 1), SLOS, 16, B, Map.of());
    assertThat(l.bootstrap()).isFalse();
    assertThat(l.pools().size()).isGreaterThan(1);
    assertThat(l.gpus()).isLessThanOrEqualTo(16);
    // every type, seen or not, has exactly one pool with GPUs
    assertThat(l.routing().keySet()).isEqualTo(EnumSet.allOf(RequestType.class));
    int served = l.pools().stream().mapToInt(p -> p.types().size()).sum();
    assertThat(served).isEqualTo(9);
    assertThat(l.pools()).allSatisfy(p -> {
      assertThat(p.gpus()).isPositive();
      assertThat(p.bounds()).isEqualTo(B);
      // the load planned for is the uncorrected native-equivalent forecast
      assertThat(p.loadRps()).isCloseTo(BUDGETER.nativeLoad(p.nativeType(), p.types(),
          Map.of(RequestType.SS, 1.0, RequestType.MS, 5.0, RequestType.MM, 3.0, RequestType.LL, 1.0), SLOS), within(1e-9));
    });
  }

  @Test
  void aPoolsCapacityCorrectionSizesItsTypesLargerButNotItsPlannedLoad() {
    var plain = LAYOUT.decide(forecast(false, 1, 20, 3, 1), SLOS, 128, B, Map.of());
    String msPool = plain.routing().get(RequestType.MS);
    var corrected = LAYOUT.decide(forecast(false, 1, 20, 3, 1), SLOS, 128, B,
        Map.of(RequestType.MS, 2.0));
    int before = plain.pools().stream().filter(p -> p.name().equals(msPool)).findFirst().orElseThrow().gpus();
    var after = corrected.pools().stream().filter(p -> p.types().contains(RequestType.MS)).findFirst().orElseThrow();
    assertThat(after.gpus()).isGreaterThan(before);
    assertThat(after.forecastRps().get(RequestType.MS)).isEqualTo(20.0);
    assertThat(corrected.reason()).contains("capacity corrections [MS x2.00]");
  }

  @Test
  void aShortPoolIsToppedUpFromFreeGpusToItsFewestGpuLayout() {
    var slo = SLOS.of(RequestType.MM);
    double tp2 = BUDGETER.fewestGpus(RequestType.MM, slo, 0.001, B); // the smallest layout: one TP2
    assertThat(tp2).isEqualTo(2);
    int need = BUDGETER.fewestGpus(RequestType.MM, slo, 6.0, B);
    assertThat(need).isGreaterThan(2);
    // 2 GPUs planned for 6 req/s: up to the fewest-GPU layout, if that much is free
    assertThat(LAYOUT.topUp(RequestType.MM, slo, 6.0, 2, 16, B)).isEqualTo(need - 2);
    // only 3 free: whole TP2 instances only
    assertThat(LAYOUT.topUp(RequestType.MM, slo, 6.0, 2, 3, B)).isEqualTo(Math.min(2, need - 2));
    assertThat(LAYOUT.topUp(RequestType.MM, slo, 6.0, 2, 0, B)).isZero();
    // a budget that already suffices gets nothing
    assertThat(LAYOUT.topUp(RequestType.MM, slo, 6.0, need, 16, B)).isZero();
  }

  @Test
  void refusesAClusterWithoutGpusAndABadShare() {
    assertThatThrownBy(() -> LAYOUT.decide(Map.of(), SLOS, 0, B, Map.of()))
        .hasMessageContaining("needs GPUs, got 0");
    assertThatThrownBy(() -> new PoolBudgeter.Settings(0.5, 0.9, 1.15, 1.0, 0)).hasMessageContaining("(0, 1]");
  }
}
