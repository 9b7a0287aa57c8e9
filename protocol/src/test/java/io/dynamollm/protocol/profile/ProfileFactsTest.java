package io.dynamollm.protocol.profile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The paper's qualitative facts, and the profile's contract with the measured data. */
class ProfileFactsTest {
  static final Profile PROFILE = Profiles.h100();
  static final SloTable SLOS = PROFILE.defaultSlos(5);
  static final TensorParallelism TP2 = TensorParallelism.TP2;
  static final TensorParallelism TP4 = TensorParallelism.TP4;
  static final TensorParallelism TP8 = TensorParallelism.TP8;

  @Test
  void ssAtMediumLoadIsCheapestOnASmallTpAtAReducedClock() {
    ConfigEstimate best = ProfileTable.build(PROFILE, SLOS, LoadLevel.MEDIUM).of(RequestType.SS).optimum().orElseThrow();
    assertThat(best.tp()).isLessThan(TP8);
    assertThat(best.clockMhz()).isLessThan(PROFILE.maxClockMhz());
  }

  @Test
  void llIsFeasibleOnlyOnTp8AtHighLoad() {
    TypeTable ll = ProfileTable.build(PROFILE, SLOS, LoadLevel.HIGH).of(RequestType.LL);
    List<TensorParallelism> feasible =
        ll.configs().stream().filter(ConfigEstimate::feasible).map(ConfigEstimate::tp).distinct().toList();
    assertThat(feasible).containsExactly(TP8);
  }

  @Test
  void llOnTp8UsesLessEnergyAtAMiddleClockThanAtTheLowestFeasibleOne() {
    Slo slo = SLOS.of(RequestType.LL);
    double at1200 = energyAtCapacity(RequestType.LL, TP8, 1200, slo);
    double at1605 = energyAtCapacity(RequestType.LL, TP8, 1605, slo);
    double at1980 = energyAtCapacity(RequestType.LL, TP8, 1980, slo);
    double at810 = energyAtCapacity(RequestType.LL, TP8, 810, slo);
    // U-shaped: both ends cost more than the middle
    assertThat(at1605).isLessThan(at1200).isLessThan(at810);
    assertThat(at1605).isLessThan(at1980);
    // and at a load the lowest clocks can still carry, the lowest feasible clock is not the cheapest per request
    TypeTable ll = ProfileTable.build(PROFILE, SLOS, LoadLevel.MEDIUM).of(RequestType.LL);
    ConfigEstimate lowestFeasible = ll.configs().stream()
        .filter(c -> c.tp().equals(TP8) && c.capacityRps() > 0).findFirst().orElseThrow();
    double minAtCapacity = ll.configs().stream().filter(c -> c.tp().equals(TP8) && c.capacityRps() > 0)
        .mapToDouble(ConfigEstimate::energyAtCapacityWh).min().orElseThrow();
    assertThat(lowestFeasible.energyAtCapacityWh()).isGreaterThan(minAtCapacity);
  }

  @Test
  void decodeHeavyTypesKeepTheirSpeedWhilePrefillHeavyTypesSlowAlmostInProportion() {
    double clockRatio = 1980.0 / 1200.0;
    TypeShape sl = PROFILE.shape(RequestType.SL);
    double tbtSlow = PROFILE.decodeStepMs(TP4, 16, sl.meanDecodeContext(), 1200)
        / PROFILE.decodeStepMs(TP4, 16, sl.meanDecodeContext(), 1980);
    TypeShape ls = PROFILE.shape(RequestType.LS);
    double ttftSlow = PROFILE.prefillMs(TP8, ls.meanInputTokens(), 1200) / PROFILE.prefillMs(TP8, ls.meanInputTokens(), 1980);
    assertThat(tbtSlow).isLessThan(1.15);
    // the shard's compute stretches with the clock; the NVLink all-reduce (a quarter of a TP8 prefill) does not
    assertThat(ttftSlow - 1).isGreaterThan(0.55 * (clockRatio - 1)).isGreaterThan(3 * (tbtSlow - 1));
    assertThat(ttftSlow).isLessThanOrEqualTo(clockRatio);
  }

  @Test
  void optimumMovesToWiderTpAndHigherClocksAsLoadRises() {
    for (RequestType type : List.of(RequestType.SS, RequestType.LL, RequestType.MM)) {
      ConfigEstimate low = ProfileTable.build(PROFILE, SLOS, LoadLevel.LOW).of(type).optimum().orElseThrow();
      ConfigEstimate high = ProfileTable.build(PROFILE, SLOS, LoadLevel.HIGH).of(type).optimum().orElseThrow();
      assertThat(high.tp().degree() * high.clockMhz()).as(type.name()).isGreaterThan(low.tp().degree() * low.clockMhz());
    }
  }

  @Test
  void defaultSlosAreFiveTimesTheTypeAloneOnTp8AtMaxClock() {
    for (RequestType type : RequestType.values()) {
      TypeShape s = PROFILE.shape(type);
      double aloneTtft = PROFILE.prefillMs(TP8, s.p99InputTokens(), 1980);
      double aloneTbt = PROFILE.decodeStepMs(TP8, 1, s.meanDecodeContext(), 1980);
      assertThat(SLOS.of(type).ttftP99Ms()).isCloseTo(5 * aloneTtft, within(1e-9));
      assertThat(SLOS.of(type).tbtP99Ms()).isCloseTo(5 * aloneTbt, within(1e-9));
    }
  }

  @Test
  void atTheMeasuredClockTheProfileReproducesTheMeasurementPlusAllReduce() {
    // TP8 prefill of 1024 tokens: 30.264 ms measured per shard + 160 all-reduces of 16 MiB (0.111 ms each on 8 GPUs)
    assertThat(PROFILE.prefillMs(TP8, 1024, 1980)).isCloseTo(30.264 + 160 * 0.111, within(1e-6));
    // TP2 decode of batch 64 at context 1024: 31.783 ms + 160 × all-reduce of 1 MiB (0.041 ms on 2 GPUs)
    assertThat(PROFILE.decodeStepMs(TP2, 64, 1024, 1980)).isCloseTo(31.783 + 160 * 0.041, within(1e-6));
    // power at the measured clock is the measured power
    assertThat(PROFILE.decodePowerW(TP4, 128, 1980)).isCloseTo(538.2, within(1e-9));
    assertThat(PROFILE.prefillPowerW(TP8, 2048, 1980)).isCloseTo(669.4, within(1e-9));
  }

  @Test
  void interpolatesBetweenMeasuredPointsAndRefusesToExtrapolate() {
    double b64 = PROFILE.decodeStepMs(TP8, 64, 1024, 1980);
    double b128 = PROFILE.decodeStepMs(TP8, 128, 1024, 1980);
    double b96 = PROFILE.decodeStepMs(TP8, 96, 1024, 1980);
    assertThat(b96).isBetween(b64, b128);
    assertThatThrownBy(() -> PROFILE.decodeStepMs(TP8, 300, 1024, 1980))
        .isInstanceOf(ProfileRangeException.class).hasMessageContaining("batches of 1 to 256");
    assertThatThrownBy(() -> PROFILE.prefillMs(TP8, 9000, 1980)).isInstanceOf(ProfileRangeException.class);
    assertThatThrownBy(() -> PROFILE.prefillMs(TP8, 1000, 700)).isInstanceOf(ProfileRangeException.class)
        .hasMessageContaining("800 to 1980 MHz");
    assertThatThrownBy(() -> PROFILE.prefillMs(TensorParallelism.of(1), 1000, 1980)).isInstanceOf(ProfileRangeException.class);
  }

  @Test
  void lowerClocksDrawLessPowerAndIdleStaysIdle() {
    assertThat(PROFILE.decodePowerW(TP8, 32, 1200)).isLessThan(PROFILE.decodePowerW(TP8, 32, 1980));
    assertThat(PROFILE.prefillPowerW(TP8, 4096, 1200)).isLessThan(PROFILE.prefillPowerW(TP8, 4096, 1980));
    assertThat(PROFILE.decodePowerW(TP8, 32, 810)).isGreaterThan(PROFILE.idlePowerW());
    assertThat(PROFILE.idlePowerW()).isEqualTo(77.7);
  }

  @Test
  void latencyAndEnergyBehaveWithLoad() {
    LoadPoint light = PROFILE.estimate(RequestType.MM, TP4, 1605, 1.0);
    LoadPoint heavy = PROFILE.estimate(RequestType.MM, TP4, 1605, 5.0);
    assertThat(heavy.ttftP99Ms()).isGreaterThan(light.ttftP99Ms());
    assertThat(heavy.tbtP99Ms()).isGreaterThan(light.tbtP99Ms());
    assertThat(heavy.meanDecodeBatch()).isGreaterThan(light.meanDecodeBatch());
    // idle power is not proportional to load: consolidating load lowers energy per request
    assertThat(heavy.energyPerRequestWh()).isLessThan(light.energyPerRequestWh());
    assertThat(PROFILE.estimate(RequestType.MM, TP4, 1605, 1000).stable()).isFalse();
    assertThatThrownBy(() -> PROFILE.estimate(RequestType.MM, TP4, 1605, 0)).hasMessageContaining("positive");
  }

  @Test
  void kvCacheFollowsMemoryLeftAfterWeights() {
    // (81,559 MiB × 0.9 − 2 GB − 137.96 GB / tp) × tp / 327,680 bytes per token
    assertThat(PROFILE.kvCacheTokens(TP2)).isBetween(36_000L, 37_000L);
    assertThat(PROFILE.kvCacheTokens(TP8)).isGreaterThan(PROFILE.kvCacheTokens(TP4) * 2);
  }

  private static double energyAtCapacity(RequestType type, TensorParallelism tp, int mhz, Slo slo) {
    double cap = PROFILE.capacityRps(type, tp, mhz, slo);
    assertThat(cap).as("capacity at %d MHz", mhz).isPositive();
    return PROFILE.estimate(type, tp, mhz, cap).energyPerRequestWh();
  }
}
