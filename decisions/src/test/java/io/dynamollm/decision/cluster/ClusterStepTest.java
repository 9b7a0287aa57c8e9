package io.dynamollm.decision.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Llama2H100Profile;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.EnumSet;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The cluster level's epoch logic as the live cluster manager and the simulator both drive it. */
class ClusterStepTest {
  private static final Profile P = MemoizedProfile.of(new Llama2H100Profile());
  private static final DecisionSettings D = DecisionSettings.defaults();
  private static final SloTable SLOS = P.defaultSlos(5);
  private static final FrequencyBounds B = FrequencyBounds.H100_DEFAULT;
  private static final long MIN = 60_000;

  /** Forty minutes of mostly medium prompts. */
  private static void traffic(ClusterStep step) {
    for (int m = 0; m < 40; m++) {
      step.observe(m * MIN, Map.of(RequestType.MS, 300, RequestType.MM, 200, RequestType.LL, 60, RequestType.SS, 5));
    }
  }

  @Test
  void startsAsOneMaxClockPoolAndSplitsByTypeOnceAForecastWindowOfHistoryExists() {
    ClusterStep step = new ClusterStep(P, D, 0);
    assertThat(step.nextDueMs()).isEqualTo(D.rebudgetDelayMs());
    var boot = step.epoch(30_000, SLOS, 16, B);
    assertThat(boot.bootstrap()).isTrue();
    assertThat(boot.assign()).singleElement().satisfies(b -> {
      assertThat(b.pool()).isEqualTo("LL");
      assertThat(b.gpus()).isEqualTo(16);
      assertThat(b.types()).isEqualTo(EnumSet.allOf(RequestType.class));
      assertThat(b.frequencyBounds()).isEqualTo(new FrequencyBounds(1980, 1980));
    });
    // in the bootstrap layout the step looks again after a pool epoch, not a cluster epoch
    assertThat(step.nextDueMs()).isEqualTo(30_000 + D.poolEpochMs());
    traffic(step);
    var split = step.epoch(40 * MIN, SLOS, 16, B);
    assertThat(split.bootstrap()).isFalse();
    assertThat(split.assign()).hasSizeGreaterThan(1);
    assertThat(split.assign().stream().mapToInt(PoolBudget::gpus).sum()).isLessThanOrEqualTo(16);
    assertThat(split.layout().epoch()).isEqualTo(2);
    assertThat(step.nextDueMs()).isEqualTo(40 * MIN + D.clusterEpochMs());
    // the bootstrap LL pool either stays (it serves LL now) or drains with a budget of zero
    boolean llStays = split.assign().stream().anyMatch(b -> b.pool().equals("LL"));
    assertThat(split.retire().stream().anyMatch(b -> b.pool().equals("LL"))).isEqualTo(!llStays);
    // each pool epoch every funded pool gets a forecast for its next pool epoch
    assertThat(step.poolForecasts(40 * MIN)).isNotEmpty().allSatisfy((pool, load) -> assertThat(load).isPositive());
  }

  @Test
  void changesBringTheNextEpochWithinTheRebudgetDelayAndLaterOnesNeverPostponeIt() {
    ClusterStep step = new ClusterStep(P, D, 0);
    step.epoch(D.rebudgetDelayMs(), SLOS, 16, B);
    traffic(step);
    step.epoch(40 * MIN, SLOS, 16, B); // the next one is due a cluster epoch later
    double t0 = 41 * MIN;
    // sixty changes, one per second: the first one sets the time; the others leave it
    for (int k = 0; k < 60; k++) {
      step.requestRebudget(t0 + k * 1000);
      assertThat(step.nextDueMs()).isEqualTo(t0 + D.rebudgetDelayMs());
    }
    assertThat(step.due(t0 + D.rebudgetDelayMs())).isTrue();
  }

  @Test
  void aShortPoolGetsFreeGpusAtMostOnceAPoolEpoch() {
    ClusterStep step = new ClusterStep(P, D, 0);
    traffic(step);
    var e = step.epoch(40 * MIN, SLOS, 64, B); // more GPUs than the pools need: some stay free
    PoolBudget pool = e.assign().stream().max(java.util.Comparator.comparingDouble(PoolBudget::nativeLoadRps))
        .orElseThrow();
    int held = e.assign().stream().mapToInt(PoolBudget::gpus).sum();
    assertThat(held).isLessThan(64);
    int free = 64 - held;
    // a shortfall the free GPUs cover in part: the pool plans for m times its load, which needs more than it holds
    double m = 2;
    while (step.layouts().topUp(pool.nativeType(), pool.nativeSlo(), pool.nativeLoadRps() * m, pool.gpus(), free,
        pool.frequencyBounds()) < 2) {
      m += 1;
    }
    var shortReport = new PoolTelemetry(pool.pool(), 40 * MIN, Map.of(), 0.9, 1000, 1e6, 1, pool.gpus(),
        pool.nativeLoadRps() * m, pool.nativeLoadRps(), 1.5);
    var topUp = step.poolReport(40 * MIN, shortReport).orElseThrow();
    assertThat(topUp.budget().gpus()).isGreaterThan(pool.gpus()).isLessThanOrEqualTo(pool.gpus() + free);
    assertThat(topUp.budget().epoch()).isEqualTo(e.epoch());
    assertThat(topUp.decision().action()).startsWith("top up " + pool.pool());
    assertThat(topUp.layout().pools()).contains(topUp.budget());
    // short again (the load rose further): not within the same pool epoch
    var shorter = new PoolTelemetry(pool.pool(), 40 * MIN, Map.of(), 0.9, 1000, 1e6, 1, topUp.budget().gpus(),
        pool.nativeLoadRps() * m * 4, pool.nativeLoadRps(), 1.5);
    assertThat(step.poolReport(40 * MIN + 1000, shorter)).isEmpty();
    if (topUp.budget().gpus() < pool.gpus() + free) {
      assertThat(step.poolReport(40 * MIN + D.poolEpochMs(), shorter)).isPresent();
    }
  }

  @Test
  void aManagerThatTakesOverResumesTheStoredLayout() {
    ClusterStep first = new ClusterStep(P, D, 0);
    traffic(first);
    var e = first.epoch(40 * MIN, SLOS, 16, B);
    ClusterStep next = new ClusterStep(P, D, 41 * MIN);
    assertThat(next.resume(e.layout(), 41 * MIN)).hasValueSatisfying(n ->
        assertThat(n.action()).startsWith("resumed epoch " + e.epoch()));
    assertThat(next.budgets()).containsExactlyInAnyOrderElementsOf(e.assign());
    assertThat(next.epochNumber()).isEqualTo(e.epoch());
  }

  @Test
  void withoutGpusThereIsNoBudgetAndTheNextLookComesSoon() {
    ClusterStep step = new ClusterStep(P, D, 0);
    var e = step.epoch(30_000, SLOS, 0, B);
    assertThat(e.assign()).isEmpty();
    assertThat(e.decision().action()).isEqualTo("no budget");
    assertThat(step.nextDueMs()).isEqualTo(30_000 + D.rebudgetDelayMs());
  }
}
