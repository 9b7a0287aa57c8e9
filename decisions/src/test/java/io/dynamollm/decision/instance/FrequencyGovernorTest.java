package io.dynamollm.decision.instance;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.instance.FrequencyGovernor.Input;
import io.dynamollm.decision.instance.FrequencyGovernor.Reason;
import io.dynamollm.decision.instance.FrequencyGovernor.State;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.Profile;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class FrequencyGovernorTest {
  static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  static final SloTable SLOS = PROFILE.defaultSlos(5);
  static final Slo LL = SLOS.of(RequestType.LL);
  static final Mix LL_ONLY = Mix.single(RequestType.LL, PROFILE.shape(RequestType.LL), LL);
  final FrequencyGovernor governor = new FrequencyGovernor(PROFILE, DecisionSettings.defaults().governor());

  /** Without enough completions to judge. */
  Input input(long now, double rps) {
    return new Input(now, LL_ONLY, TensorParallelism.TP8, rps, FrequencyBounds.H100_DEFAULT, Optional.empty());
  }

  /** The window's p99 of latency over SLO known to lie within [lower, upper]. */
  Input input(long now, double rps, double lower, double upper) {
    return new Input(now, LL_ONLY, TensorParallelism.TP8, rps, FrequencyBounds.H100_DEFAULT,
        Optional.of(new FrequencyGovernor.Observed(lower, upper, 200)));
  }

  @Test
  void lowLoadRunsSlowAndHighLoadRunsFast() {
    var low = governor.decide(State.initial(1980), input(0, 1.0));
    var high = governor.decide(State.initial(1980), input(0, 8.5));
    assertThat(low.reason()).isEqualTo(Reason.PROFILE_OPTIMUM);
    assertThat(low.state().clockMhz()).isLessThan(high.state().clockMhz());
    assertThat(low.predictedSavingW()).as("8 GPUs below 1980 MHz").isPositive();
    // the chosen clock is the cheapest the profile says holds the SLOs at that load: TBT within 90 %, TTFT misses
    // within the miss budget
    var s = DecisionSettings.defaults().governor();
    var capacity = PROFILE.capacityRps(LL_ONLY.withSloScaled(1, s.profileMargin()).withMissBudget(s.missBudget()),
        TensorParallelism.TP8, high.state().clockMhz());
    assertThat(capacity).isGreaterThanOrEqualTo(8.5 * 0.99);
  }

  @Test
  void noFeasibleClockMeansMaximum() {
    var d = governor.decide(State.initial(1200), input(0, 50));
    assertThat(d.reason()).isEqualTo(Reason.NO_FEASIBLE_CLOCK);
    assertThat(d.state().clockMhz()).isEqualTo(1980);
  }

  @Test
  void guardrailRaisesByTheMarginItSeesHoldsWhileUnsureAndReleasesWellBelow() {
    var calm = governor.decide(State.initial(1980), input(0, 1.0));
    int low = calm.state().clockMhz();
    var levels = PROFILE.clockLevelsMhz();
    int at = levels.indexOf(low);
    // the p99 is surely at least 0.96 of the SLO (enter 0.95): one level above what the profile says
    var near = governor.decide(calm.state(), input(10_000, 1.0, 0.96, 1.02));
    assertThat(near.reason()).isEqualTo(Reason.GUARDRAIL_STEP_UP);
    assertThat(near.state().clockMhz()).isEqualTo(levels.get(at + 1));
    // the same window again a moment later: no second raise on the same slow requests (no ratchet)
    var again = governor.decide(near.state(), input(15_000, 1.0, 0.96, 1.02));
    assertThat(again.state().clockMhz()).isEqualTo(near.state().clockMhz());
    assertThat(again.reason()).isEqualTo(Reason.GUARDRAIL_HOLD);
    // half a window later still near: one more level; further above enter, more levels at once
    var more = governor.decide(again.state(), input(45_000, 1.0, 0.96, 1.02));
    assertThat(more.state().clockMhz()).isEqualTo(levels.get(Math.min(levels.size() - 1, at + 2)));
    // 0.98 stands 0.03 above enter: 1 + 0.03 / guard-step (0.02) = 2 levels at once
    var far = governor.decide(calm.state(), input(10_000, 1.0, 0.98, 1.05));
    assertThat(far.state().clockMhz()).isEqualTo(levels.get(Math.min(levels.size() - 1, at + 2)));
    // unsure (the band straddles enter and exit): the guard holds
    var hold = governor.decide(near.state(), input(80_000, 1.0, 0.70, 0.90));
    assertThat(hold.reason()).isEqualTo(Reason.GUARDRAIL_HOLD);
    assertThat(hold.state().clockMhz()).isEqualTo(near.state().clockMhz());
    // surely below exit (0.75): it releases; the profile's choice returns once wanted three epochs in a row
    var released = governor.decide(hold.state(), input(90_000, 1.0, 0.4, 0.7));
    assertThat(released.state().guardFloorMhz()).isZero();
    assertThat(released.reason()).isEqualTo(Reason.STEP_DOWN_PENDING);
    var second = governor.decide(released.state(), input(95_000, 1.0, 0.4, 0.7));
    assertThat(second.state().clockMhz()).isEqualTo(near.state().clockMhz());
    var third = governor.decide(second.state(), input(100_000, 1.0, 0.4, 0.7));
    assertThat(third.changed()).isTrue();
    assertThat(third.state().clockMhz()).isEqualTo(low);
  }

  @Test
  void theBandOfTheWindowsP99NarrowsWithMoreCompletions() {
    double[] few = new double[50];
    double[] many = new double[5000];
    var r = new java.util.SplittableRandom(3);
    for (int i = 0; i < many.length; i++) {
      double x = -Math.log(1 - r.nextDouble()) * 0.2; // p99 = 0.2 ln 100 = 0.92
      many[i] = x;
      if (i < few.length) {
        few[i] = x;
      }
    }
    var wide = FrequencyGovernor.Observed.of(few);
    var narrow = FrequencyGovernor.Observed.of(many);
    assertThat(narrow.lower()).isLessThanOrEqualTo(0.92).isGreaterThan(0.8);
    assertThat(narrow.upper()).isGreaterThanOrEqualTo(0.92).isLessThan(1.05);
    assertThat(wide.upper() - wide.lower()).isGreaterThan(narrow.upper() - narrow.lower());
    assertThat(narrow.completions()).isEqualTo(5000);
  }

  @Test
  void missingTheSloJumpsToMaximumAtOnceDespiteTheRateLimit() {
    var calm = governor.decide(State.initial(1980), input(0, 1.0));
    var miss = governor.decide(calm.state(), input(100, 1.0, 1.2, 1.4));
    assertThat(miss.changed()).isTrue();
    assertThat(miss.state().clockMhz()).isEqualTo(1980);
  }

  @Test
  void aSteadyLoadDoesNotFlapBetweenTwoClocks() {
    // the load sways around the point where the cheapest feasible clock changes: every epoch alternates
    var s = governor.decide(State.initial(1980), input(0, 8.5)).state();
    int changes = 0;
    for (int k = 1; k <= 40; k++) {
      var d = governor.decide(s, input(k * 5_000L, k % 2 == 0 ? 8.5 : 1.0));
      changes += d.changed() ? 1 : 0;
      s = d.state();
    }
    // raising is immediate, lowering waits three epochs in a row: alternation never lowers after the first rise
    assertThat(changes).isLessThanOrEqualTo(1);
  }

  @Test
  void changesAreRateLimited() {
    var first = governor.decide(State.initial(1980), input(0, 1.0));
    assertThat(first.changed()).isTrue();
    var soon = governor.decide(first.state(), input(1_000, 8.5));
    assertThat(soon.reason()).isEqualTo(Reason.RATE_LIMITED);
    assertThat(soon.state().clockMhz()).isEqualTo(first.state().clockMhz());
    var later = governor.decide(first.state(), input(6_000, 8.5));
    assertThat(later.changed()).isTrue();
  }

  @Test
  void staysInsideTheBounds() {
    var d = governor.decide(State.initial(1980), new Input(0, LL_ONLY, TensorParallelism.TP8, 1.0,
        new FrequencyBounds(1300, 1980), Optional.empty()));
    assertThat(d.state().clockMhz()).isGreaterThanOrEqualTo(1300);
  }
}
