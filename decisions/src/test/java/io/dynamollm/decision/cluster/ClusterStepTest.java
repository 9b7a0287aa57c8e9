package io.dynamollm.decision.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.EnumSet;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The cluster level's epoch logic as the live cluster manager and the simulator both drive it. */
class ClusterStepTest {
  private static final Profile P = MemoizedProfile.of(Profiles.h100());
  private static final DecisionSettings D = DecisionSettings.defaults();
  private static final PoolPlanner.Transitions T = new PoolPlanner.Transitions(ReshardCost.IN_PLACE_NVLINK, 420_000,
      230);
  private static final SloTable SLOS = P.defaultSlos(5);
  private static final FrequencyBounds B = FrequencyBounds.H100_DEFAULT;
  private static final long MIN = 60_000;

  /** {@code minutes} minutes of mostly medium prompts, each minute's arrivals spread over it. */
  private static void traffic(ClusterStep step, int from, int minutes) {
    Map<RequestType, Integer> perMinute = Map.of(RequestType.MS, 300, RequestType.MM, 200, RequestType.LL, 60,
        RequestType.SS, 6);
    for (int m = from; m < from + minutes; m++) {
      for (int s = 0; s < 60; s++) {
        final long at = m * MIN + s * 1000L;
        perMinute.forEach((t, n) -> step.observe(at, t, n / 60, (long) (n / 60) * P.shape(t).meanInputTokens()));
      }
    }
  }

  @Test
  void startsAsOnePoolOfEveryTypeAndSplitsOnceTheForecasterHasItsMinimumHistory() {
    ClusterStep step = new ClusterStep(P, D, T, 0);
    assertThat(step.nextDueMs()).isEqualTo(D.rebudgetDelayMs());
    var boot = step.epoch(30_000, SLOS, 64, B);
    assertThat(boot.bootstrap()).isTrue();
    assertThat(boot.assign()).singleElement().satisfies(b -> {
      assertThat(b.pool()).isEqualTo("LL");
      assertThat(b.gpus()).isEqualTo(64);
      assertThat(b.types()).isEqualTo(EnumSet.allOf(RequestType.class));
      assertThat(b.shapes().keySet()).isEqualTo(EnumSet.allOf(RequestType.class));
    });
    // in the bootstrap layout the step looks again after a pool epoch, not a cluster epoch
    assertThat(step.nextDueMs()).isEqualTo(30_000 + D.poolEpochMs());
    traffic(step, 0, 40);
    var split = step.epoch(40 * MIN, SLOS, 64, B);
    assertThat(split.bootstrap()).isFalse();
    assertThat(split.layout().epoch()).isEqualTo(2);
    assertThat(step.nextDueMs()).isEqualTo(40 * MIN + D.clusterEpochMs());
    assertThat(split.assign().stream().mapToInt(PoolBudget::gpus).sum()).isLessThanOrEqualTo(64);
    // each pool epoch every funded pool that serves types gets a forecast: its load and its types' shares
    assertThat(step.poolForecasts(40 * MIN)).isNotEmpty().allSatisfy((pool, f) -> {
      assertThat(f.loadRps()).isPositive();
      assertThat(f.typeRps()).isNotEmpty();
    });
  }

  @Test
  void aLayoutChangeHandsOverWhenTheClusterHasRoomAndThenDropsTheOldPools() {
    ClusterStep step = new ClusterStep(P, D, T, 0);
    step.epoch(30_000, SLOS, 128, B);
    traffic(step, 0, 20);
    var boot = step.epoch(20 * MIN, SLOS, 128, B); // a first real layout next to nothing: no handover needed
    assertThat(step.budgets()).isNotEmpty();
    // a mix that changes: almost only short prompts now
    for (int m = 20; m < 60; m++) {
      for (int s = 0; s < 60; s++) {
        step.observe(m * MIN + s * 1000L, RequestType.SS, 20, 20L * 180);
      }
    }
    var e = step.epoch(60 * MIN, SLOS, 128, B);
    if (step.handover(60 * MIN).isEmpty() && e.decision().reason().contains("hands over")) {
      // the pools of the old layout still hold GPUs beside the new ones until a start-up has passed
      int held = e.assign().stream().mapToInt(PoolBudget::gpus).sum();
      assertThat(held).isLessThanOrEqualTo(128);
      assertThat(e.retire()).isEmpty();
      var done = step.handover(60 * MIN + T.startupMs() + D.poolKeepAliveMs()).orElseThrow();
      assertThat(done.decision().action()).startsWith("handover done");
      assertThat(step.handover(61 * MIN + T.startupMs() + D.poolKeepAliveMs())).isEmpty();
    }
    assertThat(boot.epoch()).isLessThan(e.epoch());
  }

  /** Short prompts with tight first-token SLOs beside long prompts: one pool of them needs more than pools apart. */
  private static void mixed(ClusterStep step, int minutes) {
    Map<RequestType, Integer> perSecond = Map.of(RequestType.SS, 1, RequestType.MS, 1, RequestType.LS, 1,
        RequestType.LM, 1);
    for (int s = 0; s < minutes * 60; s++) {
      final long at = s * 1000L;
      perSecond.forEach((t, n) -> step.observe(at, t, n, (long) n * P.shape(t).meanInputTokens()));
    }
  }

  /** The same settings with another handover slack. */
  private static DecisionSettings slack(double share) {
    return DecisionSettings.fromConfig(com.typesafe.config.ConfigFactory.parseString(
        "dynamollm.decisions.budgeter.handover-slack = " + share).withFallback(
        com.typesafe.config.ConfigFactory.defaultReference()));
  }

  @Test
  void aLayoutInForceThatNeedsEveryGpuIsLeftWithoutRoomOnlyWhereTheNewLayoutLeavesTheSlackFree() {
    for (double share : new double[] {0, 0.99}) {
      ClusterStep step = new ClusterStep(P, slack(share), T, 0);
      var boot = step.epoch(30_000, SLOS, 16, B); // the bootstrap pool holds every GPU
      assertThat(boot.assign()).singleElement().satisfies(b -> assertThat(b.gpus()).isEqualTo(16));
      mixed(step, 20);
      var e = step.epoch(20 * MIN, SLOS, 16, B);
      if (share == 0) {
        // it gives no GPU back, so waiting would never make room: the change goes ahead, handed over
        assertThat(e.assign()).as(e.decision().reason()).hasSizeGreaterThan(1);
        assertThat(e.decision().reason()).contains("hands over");
      } else {
        assertThat(e.assign()).as(e.decision().reason()).singleElement()
            .satisfies(b -> assertThat(b.types()).isEqualTo(EnumSet.allOf(RequestType.class)));
        assertThat(e.decision().reason()).contains("once there is room to hand it over");
      }
    }
  }

  @Test
  void changesBringTheNextEpochWithinTheRebudgetDelayAndLaterOnesNeverPostponeIt() {
    ClusterStep step = new ClusterStep(P, D, T, 0);
    step.epoch(D.rebudgetDelayMs(), SLOS, 16, B);
    traffic(step, 0, 40);
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
  void aShortPoolGetsFreeGpusAtMostOnceAPoolEpochWithItsLatestForecast() {
    ClusterStep step = new ClusterStep(P, D, T, 0);
    traffic(step, 0, 40);
    var e = step.epoch(40 * MIN, SLOS, 256, B); // more GPUs than the pools need: some stay free
    PoolBudget pool = e.assign().stream().max(java.util.Comparator.comparingDouble(PoolBudget::loadRps))
        .orElseThrow();
    int held = e.assign().stream().mapToInt(PoolBudget::gpus).sum();
    assertThat(held).isLessThan(256);
    int free = 256 - held;
    // a pool that plans for three times its forecast (the latest one) needs more than it holds
    double forecast = pool.loadRps() * 3;
    var shortReport = new PoolTelemetry(pool.pool(), 40 * MIN, Map.of(), 0.9, 1000, 1e6, 1, pool.gpus(), forecast,
        forecast * 1.2, pool.loadRps(), 1.2);
    var topUp = step.poolReport(40 * MIN, shortReport).orElseThrow();
    assertThat(topUp.budget().gpus()).isGreaterThan(pool.gpus()).isLessThanOrEqualTo(pool.gpus() + free);
    assertThat(topUp.budget().epoch()).isEqualTo(e.epoch());
    // the correction is the pool's own: the budget carries the forecast, never the corrected load (no compounding)
    assertThat(topUp.budget().loadRps()).isEqualTo(forecast);
    assertThat(topUp.decision().action()).startsWith("top up " + pool.pool());
    assertThat(topUp.layout().pools()).contains(topUp.budget());
    // short again: not within the same pool epoch
    var shorter = new PoolTelemetry(pool.pool(), 40 * MIN, Map.of(), 0.9, 1000, 1e6, 1, topUp.budget().gpus(),
        forecast * 4, forecast * 4.8, pool.loadRps(), 1.2);
    assertThat(step.poolReport(40 * MIN + 1000, shorter)).isEmpty();
  }

  @Test
  void aManagerThatTakesOverResumesTheStoredLayout() {
    ClusterStep first = new ClusterStep(P, D, T, 0);
    traffic(first, 0, 40);
    var e = first.epoch(40 * MIN, SLOS, 16, B);
    ClusterStep next = new ClusterStep(P, D, T, 41 * MIN);
    assertThat(next.resume(e.layout(), 41 * MIN)).hasValueSatisfying(n ->
        assertThat(n.action()).startsWith("resumed epoch " + e.epoch()));
    assertThat(next.budgets()).containsExactlyInAnyOrderElementsOf(e.layout().pools());
    assertThat(next.epochNumber()).isEqualTo(e.epoch());
  }

  @Test
  void withoutGpusThereIsNoBudgetAndTheNextLookComesSoon() {
    ClusterStep step = new ClusterStep(P, D, T, 0);
    var e = step.epoch(30_000, SLOS, 0, B);
    assertThat(e.assign()).isEmpty();
    assertThat(e.decision().action()).isEqualTo("no budget");
    assertThat(step.nextDueMs()).isEqualTo(30_000 + D.rebudgetDelayMs());
  }

  @Test
  void completedRequestsTeachThePoolsTheirLengths() {
    ClusterStep step = new ClusterStep(P, D, T, 0);
    for (int i = 0; i < 2000; i++) {
      step.completed(i * 100.0, RequestType.LS, 6000 + i % 500, 15);
    }
    var shape = step.shapes(200_000).get(RequestType.LS);
    assertThat(shape.meanInputTokens()).isGreaterThan(5500);
    assertThat(shape.meanOutputTokens()).isLessThan(25);
    assertThat(step.shapes(200_000).get(RequestType.SS)).isEqualTo(P.shape(RequestType.SS));
  }
}
