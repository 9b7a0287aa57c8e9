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
import io.dynamollm.protocol.profile.Llama2H100Profile;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class FrequencyGovernorTest {
  static final Profile PROFILE = MemoizedProfile.of(new Llama2H100Profile());
  static final SloTable SLOS = PROFILE.defaultSlos(5);
  static final Slo LL = SLOS.of(RequestType.LL);
  final FrequencyGovernor governor = new FrequencyGovernor(PROFILE, DecisionSettings.defaults().governor());

  /** Observed TTFT and TBT given as shares of the SLO (each completion judged against its own type's SLO). */
  Input input(long now, double rps, Double ttftRatio, Double tbtRatio) {
    return new Input(now, RequestType.LL, TensorParallelism.TP8, rps, LL, FrequencyBounds.H100_DEFAULT,
        Optional.ofNullable(ttftRatio), Optional.ofNullable(tbtRatio));
  }

  @Test
  void lowLoadRunsSlowAndHighLoadRunsFast() {
    var low = governor.decide(State.initial(1980), input(0, 1.0, null, null));
    var high = governor.decide(State.initial(1980), input(0, 8.5, null, null));
    assertThat(low.reason()).isEqualTo(Reason.PROFILE_OPTIMUM);
    assertThat(low.state().clockMhz()).isLessThan(high.state().clockMhz());
    assertThat(low.predictedSavingW()).as("8 GPUs below 1980 MHz").isPositive();
    assertThat(high.predictedSavingW()).isLessThan(low.predictedSavingW());
    // the chosen clock is the cheapest the profile says meets 90 % of the SLO at that load
    var capacity = PROFILE.capacityRps(RequestType.LL, TensorParallelism.TP8, high.state().clockMhz(),
        new Slo(LL.ttftP99Ms() * 0.9, LL.tbtP99Ms() * 0.9));
    assertThat(capacity).isGreaterThanOrEqualTo(8.5 * 0.99);
  }

  @Test
  void noFeasibleClockMeansMaximum() {
    var d = governor.decide(State.initial(1200), input(0, 50, null, null));
    assertThat(d.reason()).isEqualTo(Reason.NO_FEASIBLE_CLOCK);
    assertThat(d.state().clockMhz()).isEqualTo(1980);
  }

  @Test
  void guardrailStepsUpNearTheSloAndHoldsUntilWellBelow() {
    var calm = governor.decide(State.initial(1980), input(0, 1.0, null, null));
    int low = calm.state().clockMhz();
    // observed TBT at 88 % of the SLO: one level above what the profile says, whatever it says
    var near = governor.decide(calm.state(), input(10_000, 1.0, null, 0.88));
    assertThat(near.reason()).isEqualTo(Reason.GUARDRAIL_STEP_UP);
    assertThat(near.state().clockMhz()).isGreaterThan(low);
    // at 70 % (between exit 60 % and enter 85 %) the guard holds
    var hold = governor.decide(near.state(), input(20_000, 1.0, null, 0.70));
    assertThat(hold.reason()).isEqualTo(Reason.GUARDRAIL_HOLD);
    assertThat(hold.state().clockMhz()).isEqualTo(near.state().clockMhz());
    // at 50 % it releases; the profile's choice returns once wanted three epochs in a row (no flapping)
    var released = governor.decide(hold.state(), input(30_000, 1.0, null, 0.5));
    assertThat(released.state().guardFloorMhz()).isZero();
    assertThat(released.reason()).isEqualTo(Reason.STEP_DOWN_PENDING);
    assertThat(released.state().clockMhz()).isEqualTo(near.state().clockMhz());
    var second = governor.decide(released.state(), input(35_000, 1.0, null, 0.5));
    assertThat(second.state().clockMhz()).isEqualTo(near.state().clockMhz());
    var third = governor.decide(second.state(), input(40_000, 1.0, null, 0.5));
    assertThat(third.changed()).isTrue();
    assertThat(third.state().clockMhz()).isEqualTo(low);
  }

  @Test
  void missingTheSloJumpsToMaximumAtOnceDespiteTheRateLimit() {
    var calm = governor.decide(State.initial(1980), input(0, 1.0, null, null));
    var miss = governor.decide(calm.state(), input(100, 1.0, 1.2, null));
    assertThat(miss.changed()).isTrue();
    assertThat(miss.state().clockMhz()).isEqualTo(1980);
  }

  @Test
  void aSteadyLoadDoesNotFlapBetweenTwoClocks() {
    // the load sways around the point where the cheapest feasible clock changes: every epoch alternates
    var s = governor.decide(State.initial(1980), input(0, 8.5, null, null)).state();
    int changes = 0;
    for (int k = 1; k <= 40; k++) {
      var d = governor.decide(s, input(k * 5_000L, k % 2 == 0 ? 8.5 : 1.0, null, null));
      changes += d.changed() ? 1 : 0;
      s = d.state();
    }
    // raising is immediate, lowering waits three epochs in a row: alternation never lowers after the first rise
    assertThat(changes).isLessThanOrEqualTo(1);
  }

  @Test
  void changesAreRateLimited() {
    var first = governor.decide(State.initial(1980), input(0, 1.0, null, null));
    assertThat(first.changed()).isTrue();
    var soon = governor.decide(first.state(), input(1_000, 8.5, null, null));
    assertThat(soon.reason()).isEqualTo(Reason.RATE_LIMITED);
    assertThat(soon.state().clockMhz()).isEqualTo(first.state().clockMhz());
    var later = governor.decide(first.state(), input(6_000, 8.5, null, null));
    assertThat(later.changed()).isTrue();
  }

  @Test
  void staysInsideTheBounds() {
    var d = governor.decide(State.initial(1980), new Input(0, RequestType.LL, TensorParallelism.TP8, 1.0, LL,
        new FrequencyBounds(1300, 1980), Optional.empty(), Optional.empty()));
    assertThat(d.state().clockMhz()).isGreaterThanOrEqualTo(1300);
  }
}
