package io.dynamollm.decision.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.decision.engine.ContinuousBatching.Decode;
import io.dynamollm.decision.engine.ContinuousBatching.Prefill;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The one engine model, stepped by hand: what the live engine does step by step and the simulator run by run. */
class ContinuousBatchingTest {
  private static final Profile P = MemoizedProfile.of(Profiles.h100());
  private static final TensorParallelism TP4 = TensorParallelism.TP4;

  @Test
  void aLoneRequestIsOnePrefillThenOneDecodeStepPerFurtherToken() {
    var e = new ContinuousBatching<String>(P, TP4);
    e.submit("a", 1000, 5, 0);
    var pre = (Prefill<String>) e.next(1980, Long.MAX_VALUE);
    assertThat(pre.tokens()).isEqualTo(1000);
    assertThat(pre.durationMs()).isEqualTo(P.prefillMs(TP4, 1000, 1980));
    assertThat(pre.powerPerGpuW()).isEqualTo(P.prefillPowerW(TP4, 1000, 1980));
    assertThat(e.endPrefill(pre.durationMs())).isEmpty(); // first token out, four to go
    var run = (Decode<String>) e.next(1980, Long.MAX_VALUE);
    assertThat(run.batchSize()).isEqualTo(1);
    assertThat(run.steps()).isEqualTo(4); // the whole run up to its completion
    assertThat(run.contextTokens()).isEqualTo(1001); // the prompt plus the first token
    var done = e.endDecode(run.steps(), pre.durationMs(), run.stepMs());
    assertThat(done).singleElement().satisfies(j -> {
      assertThat(j.ttftMs()).isEqualTo(pre.durationMs());
      assertThat(j.tbtMs()).isCloseTo(run.stepMs(), within(1e-9));
      assertThat(j.finishMs()).isCloseTo(pre.durationMs() + 4 * run.stepMs(), within(1e-9));
    });
    assertThat(e.isEmpty()).isTrue();
    assertThat(e.next(1980, Long.MAX_VALUE)).isNull();
  }

  @Test
  void promptsArePrefilledTogetherUpToTheTokenLimitAndShareDecodeSteps() {
    var e = new ContinuousBatching<String>(P, TP4);
    e.submit("a", 5000, 3, 0);
    e.submit("b", 3000, 10, 0);
    e.submit("c", 1000, 10, 0); // 5000 + 3000 + 1000 > 8192: waits for the next prefill
    var first = (Prefill<String>) e.next(1980, 1);
    assertThat(first.batch()).extracting(ContinuousBatching.Job::payload).containsExactly("a", "b");
    e.endPrefill(100);
    // prefill first: c's prompt goes before the decode of a and b
    var second = (Prefill<String>) e.next(1980, 1);
    assertThat(second.batch()).extracting(ContinuousBatching.Job::payload).containsExactly("c");
    e.endPrefill(200);
    // one step at a time (as the live engine steps it): a batch of three
    var step = (Decode<String>) e.next(1980, 1);
    assertThat(step.batchSize()).isEqualTo(3);
    assertThat(step.steps()).isEqualTo(1);
    assertThat(e.endDecode(1, 200, step.stepMs())).isEmpty();
    var step2 = (Decode<String>) e.next(1980, 1);
    List<ContinuousBatching.Job<String>> done = e.endDecode(1, 200 + step.stepMs(), step2.stepMs());
    assertThat(done).extracting(ContinuousBatching.Job::payload).containsExactly("a"); // its three tokens are out
    assertThat(e.runningCount()).isEqualTo(2);
  }

  @Test
  void aCancelledRequestLeavesWhereverItIsAndFreesItsPlace() {
    var e = new ContinuousBatching<String>(P, TP4);
    var a = e.submit("a", 1000, 50, 0);
    var b = e.submit("b", 1000, 50, 0);
    e.endPrefill(((Prefill<String>) e.next(1980, 1)).durationMs());
    var c = e.submit("c", 200, 50, 0);
    var d = e.submit("d", 200, 50, 0);
    // in the prefill in progress: dropped when it ends
    var p = (Prefill<String>) e.next(1980, 1);
    assertThat(p.batch()).extracting(ContinuousBatching.Job::payload).containsExactly("c", "d");
    assertThat(e.cancel(c.seq())).isSameAs(c);
    e.endPrefill(p.durationMs());
    assertThat(e.running()).extracting(ContinuousBatching.Job::payload).containsExactlyInAnyOrder("a", "b", "d");
    // in the decode batch
    assertThat(e.cancel(a.seq())).isSameAs(a);
    assertThat(e.running()).extracting(ContinuousBatching.Job::payload).containsExactlyInAnyOrder("b", "d");
    var step = (Decode<String>) e.next(1980, 1);
    assertThat(step.batchSize()).isEqualTo(2);
    e.endDecode(1, 0, step.stepMs());
    // waiting; and one it no longer holds
    var w = e.submit("w", 100, 5, 0);
    assertThat(e.cancel(w.seq())).isSameAs(w);
    assertThat(e.cancel(w.seq())).isNull();
    assertThat(e.outstanding()).isEqualTo(2);
    // the KV cache of those cancelled is free again: everything drains to empty
    while (!e.isEmpty()) {
      var it = e.next(1980, 100);
      if (it instanceof Decode<String> x) {
        e.endDecode(x.steps(), 0, x.stepMs());
      } else {
        e.endPrefill(((Prefill<String>) it).durationMs());
      }
    }
    assertThat(b.finishMs()).isPositive();
  }

  @Test
  void theLadderReordersAndWithdrawsWaitingRequests() {
    var e = new ContinuousBatching<String>(P, TP4);
    long a = e.submit("a", 100, 5, 0).seq();
    long b = e.submit("b", 100, 5, 1).seq();
    long c = e.submit("c", 100, 5, 2).seq();
    e.reorder(List.of(c, a));
    assertThat(e.waiting()).extracting(ContinuousBatching.Job::payload).containsExactly("c", "a", "b");
    assertThat(e.withdraw(a).payload()).isEqualTo("a");
    assertThat(e.withdraw(a)).isNull();
    assertThat(e.waiting()).extracting(ContinuousBatching.Job::payload).containsExactly("c", "b");
    assertThat(b).isNotEqualTo(c);
  }

  @Test
  void anInPlaceReshardMovesRunningRequestsWithTheStepsTheyHaveLeft() {
    var old = new ContinuousBatching<String>(P, TP4);
    old.submit("a", 500, 11, 0);
    old.endPrefill(((Prefill<String>) old.next(1980, 1)).durationMs());
    var run = (Decode<String>) old.next(1980, 3);
    old.endDecode(3, 50, run.stepMs()); // 1 + 3 tokens out, 7 to go
    var wide = new ContinuousBatching<String>(P, TensorParallelism.TP8);
    old.moveRunningTo(wide);
    assertThat(old.isEmpty()).isTrue();
    var next = (Decode<String>) wide.next(1980, Long.MAX_VALUE);
    assertThat(next.steps()).isEqualTo(7);
    assertThat(next.contextTokens()).isEqualTo(504); // its prompt and the four tokens it has
  }

  @Test
  void theKvCacheLimitsWhatIsAdmitted() {
    var e = new ContinuousBatching<String>(P, TensorParallelism.TP2);
    long cap = P.kvCacheTokens(TensorParallelism.TP2);
    // two short prompts with outputs of half the cache each: both would fit one prefill, not the KV cache together
    e.submit("a", 100, (int) (cap / 2), 0);
    e.submit("b", 100, (int) (cap / 2), 0);
    var p = (Prefill<String>) e.next(1980, 1);
    assertThat(p.batch()).extracting(ContinuousBatching.Job::payload).containsExactly("a");
  }
}
