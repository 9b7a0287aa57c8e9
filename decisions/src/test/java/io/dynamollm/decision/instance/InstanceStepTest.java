package io.dynamollm.decision.instance;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.MixSpec;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The instance level's epoch logic as the live instance manager and the simulator both drive it. */
class InstanceStepTest {
  private static final Profile P = MemoizedProfile.of(Profiles.h100());
  private static final DecisionSettings D = DecisionSettings.defaults();
  private static final SloTable SLOS = P.defaultSlos(5);
  private static final Slo LL = SLOS.of(RequestType.LL);
  /** The H100's supported clocks: 1980 down to 345 MHz in 15 MHz steps. */
  private static final List<Integer> H100 = h100();

  private static List<Integer> h100() {
    List<Integer> c = new ArrayList<>();
    for (int mhz = 1980; mhz >= 345; mhz -= 15) {
      c.add(mhz);
    }
    return c;
  }

  /** A pool of LL requests alone. */
  static final MixSpec LL_ONLY = new MixSpec(java.util.Map.of(RequestType.LL, 1.0),
      java.util.Map.of(RequestType.LL, P.shape(RequestType.LL)), java.util.Map.of(RequestType.LL, LL));

  private static InstanceStep step(long poolSilenceMs, MixSpec mix) {
    return new InstanceStep(P, new FrequencyGovernor(P, D.governor()),
        new InstanceStep.Instance("i", RequestType.LL, TensorParallelism.TP8, H100), FrequencyBounds.H100_DEFAULT, mix,
        5_000, poolSilenceMs, 0);
  }

  private static InstanceStep step(long poolSilenceMs) {
    return step(poolSilenceMs, LL_ONLY);
  }

  /** {@code rps} LL requests a second over one 5 s epoch. */
  private static void arrive(InstanceStep s, double rps) {
    for (int k = 0; k < (int) Math.round(rps * 5); k++) {
      s.arrived(RequestType.LL);
    }
  }

  @Test
  void startsAtTheMaximumAndLowersTheClockAtALowLoad() {
    InstanceStep s = step(60_000);
    assertThat(s.clockMhz()).isEqualTo(1980);
    arrive(s, 1.0);
    var c = s.govern(5_000).orElseThrow();
    assertThat(c.fromMhz()).isEqualTo(1980);
    assertThat(c.toMhz()).isLessThan(1980).isEqualTo(s.clockMhz());
    assertThat(c.predictedSavingW()).as("8 GPUs drawing less at the same load").isPositive();
    assertThat(c.reason()).isEqualTo(FrequencyGovernor.Reason.PROFILE_OPTIMUM.words());
  }

  @Test
  void theGovernorPlansForThePoolsMixNotItsLargestType() {
    // 40 requests in an epoch of a pool of short prompts take a lower clock than of a pool of LL requests
    MixSpec shortOnes = new MixSpec(java.util.Map.of(RequestType.SS, 1.0),
        java.util.Map.of(RequestType.SS, P.shape(RequestType.SS)), java.util.Map.of(RequestType.SS,
        SLOS.of(RequestType.SS)));
    InstanceStep light = step(60_000, shortOnes);
    InstanceStep heavy = step(60_000);
    for (int k = 0; k < 40; k++) {
      light.arrived(RequestType.SS);
      heavy.arrived(RequestType.LL);
    }
    int lightClock = light.govern(5_000).map(InstanceStep.ClockChange::toMhz).orElse(light.clockMhz());
    int heavyClock = heavy.govern(5_000).map(InstanceStep.ClockChange::toMhz).orElse(heavy.clockMhz());
    assertThat(lightClock).isLessThanOrEqualTo(heavyClock);
  }

  @Test
  void anInstanceThatHearsNothingFromItsPoolReturnsToTheMaximumClock() {
    InstanceStep s = step(60_000);
    arrive(s, 1.0);
    s.govern(5_000);
    assertThat(s.clockMhz()).isLessThan(1980);
    s.retarget(FrequencyBounds.H100_DEFAULT, LL_ONLY, 30_000); // the pool's keep-alive
    assertThat(s.govern(80_000)).isEmpty(); // 50 s since: still within the silence allowed
    var back = s.govern(95_000).orElseThrow(); // 65 s since
    assertThat(back.toMhz()).isEqualTo(1980);
    assertThat(back.reason()).contains("nothing from the pool");
  }

  @Test
  void theLadderRaisesTheClockAndHoldsItAgainstTheGovernor() {
    InstanceStep s = step(60_000);
    arrive(s, 1.0);
    s.govern(5_000);
    int low = s.clockMhz();
    assertThat(low).isLessThan(1980);
    // ten 4,000-token prompts waiting, due halfway between what their prefills take at the low clock and at 1980:
    // at the low clock the tail misses, at 1980 they all fit
    double atLow = 10 * P.prefillMs(TensorParallelism.TP8, 4000, low);
    double atMax = 10 * P.prefillMs(TensorParallelism.TP8, 4000, 1980);
    assertThat(atLow).isGreaterThan(atMax);
    List<InstanceStep.Queued> q = new ArrayList<>();
    for (int k = 0; k < 10; k++) {
      q.add(new InstanceStep.Queued(k, 5_000, 4000, (atLow + atMax) / 2));
    }
    var a = s.ladder(5_000, q, 5_000, false);
    assertThat(a.raise()).hasValueSatisfying(c -> {
      assertThat(c.toMhz()).isEqualTo(1980);
      assertThat(c.emergency()).isTrue();
    });
    assertThat(a.reroute()).isEmpty();
    assertThat(s.clockMhz()).isEqualTo(1980);
    // the governor does not take it straight back down: a lower clock must be wanted three epochs in a row
    arrive(s, 1.0);
    assertThat(s.govern(10_000)).isEmpty();
    assertThat(s.clockMhz()).isEqualTo(1980);
    assertThat(s.ladderCounts().maxClockRaises()).isEqualTo(1);
  }

  @Test
  void theLadderReRoutesWhatWouldStillMissAndRejectsWhatIsAlreadyLate() {
    InstanceStep s = step(60_000);
    List<InstanceStep.Queued> q = new ArrayList<>();
    q.add(new InstanceStep.Queued(0, 0, 1000, 100)); // due at 100 ms: already late at 500 ms
    for (int k = 1; k <= 20; k++) {
      q.add(new InstanceStep.Queued(k, 400, 4000, 1_000)); // due at 1.4 s; 20 x ~110 ms prefills do not all fit
    }
    var a = s.ladder(500, q, 500, true);
    assertThat(a.reject()).containsExactly(0L);
    assertThat(a.reroute()).isNotEmpty();
    assertThat(a.order()).doesNotContainAnyElementsOf(a.reroute()).doesNotContain(0L);
    assertThat(s.ladderCounts().rerouted()).isEqualTo(a.reroute().size());
    assertThat(s.ladderCounts().rejected()).isEqualTo(1);
  }

  @Test
  void aClockTheGpusRefusedIsForgotten() {
    InstanceStep s = step(60_000);
    arrive(s, 1.0);
    var c = s.govern(5_000).orElseThrow();
    s.clockNotApplied(c.fromMhz());
    assertThat(s.clockMhz()).isEqualTo(1980);
  }
}
