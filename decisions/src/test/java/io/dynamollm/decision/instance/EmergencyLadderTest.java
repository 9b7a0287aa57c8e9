package io.dynamollm.decision.instance;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.decision.instance.EmergencyLadder.Snapshot;
import io.dynamollm.decision.instance.EmergencyLadder.Waiting;
import java.util.List;
import org.junit.jupiter.api.Test;

class EmergencyLadderTest {
  final EmergencyLadder ladder = new EmergencyLadder();

  @Test
  void nothingThreatenedMeansNoAction() {
    // two prompts of 10 ms each, deadlines 100 and 200 ms away
    var a = ladder.evaluate(new Snapshot(0, List.of(new Waiting(1, 100, 10, 8), new Waiting(2, 200, 10, 8)), 0, false, true, 0));
    assertThat(a.any()).isFalse();
    assertThat(a.order()).containsExactly(1L, 2L);
  }

  @Test
  void reorderingByDeadlineIsTheFirstRung() {
    // FIFO: #1 (deadline 100) ends at 50, #2 (deadline 60) ends at 60+... : 50 + 20 = 70 > 60 -> late
    // EDF: #2 ends at 20 (<= 60), #1 ends at 70 (<= 100): both fit, nothing more needed
    var a = ladder.evaluate(new Snapshot(0, List.of(new Waiting(1, 100, 50, 40), new Waiting(2, 60, 20, 15)), 0, false, true, 1));
    assertThat(a.reordered()).isTrue();
    assertThat(a.order()).containsExactly(2L, 1L);
    assertThat(a.raiseToMaxClock()).isFalse();
    assertThat(a.reroute()).isEmpty();
  }

  @Test
  void maxClockWhenReorderingIsNotEnough() {
    // busy until 30; EDF order #1 (deadline 80): 30+40 = 70 ok; #2 (deadline 100): 70+40 = 110 late.
    // at max clock: 30+30 = 60, 60+30 = 90 <= 100 -> fits without re-routing
    var a = ladder.evaluate(new Snapshot(0, List.of(new Waiting(1, 80, 40, 30), new Waiting(2, 100, 40, 30)), 30, false, true, 0));
    assertThat(a.raiseToMaxClock()).isTrue();
    assertThat(a.reroute()).isEmpty();
  }

  @Test
  void reroutesWhatStillMissesAndRejectsWhatIsAlreadyLate() {
    // now 100; #9 deadline 90 already passed -> reject. At max clock: #1 100+50=150 <= 160 ok; #2 150+50=200 > 170 late
    var a = ladder.evaluate(new Snapshot(100,
        List.of(new Waiting(9, 90, 5, 5), new Waiting(1, 160, 60, 50), new Waiting(2, 170, 60, 50)), 100, true, true, 2));
    assertThat(a.reject()).containsExactly(9L);
    assertThat(a.raiseToMaxClock()).isFalse(); // already at max
    assertThat(a.reroute()).containsExactly(2L);
    assertThat(a.order()).containsExactly(1L);
  }

  @Test
  void withoutAnotherInstanceNothingIsRerouted() {
    var a = ladder.evaluate(new Snapshot(0, List.of(new Waiting(1, 10, 60, 50)), 0, true, false, 0));
    assertThat(a.reroute()).isEmpty();
    assertThat(a.order()).containsExactly(1L);
  }
}
