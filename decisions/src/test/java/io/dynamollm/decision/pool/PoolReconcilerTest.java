package io.dynamollm.decision.pool;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.decision.pool.PoolReconciler.Live;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.TensorParallelism;
import java.util.List;
import org.junit.jupiter.api.Test;

class PoolReconcilerTest {
  private static final TensorParallelism TP4 = TensorParallelism.TP4;
  private static final TensorParallelism TP8 = TensorParallelism.TP8;

  private static PoolPlan plan(PoolPlan.Group... g) {
    return new PoolPlan(List.of(g), 0, 0);
  }

  @Test
  void startsWhatIsMissingAndRetargetsClocksOfWhatStays() {
    var a = PoolReconciler.reconcile(plan(new PoolPlan.Group(TP4, 1395, 3, 5, 4)),
        List.of(new Live("i1", TP4, 1980, InstanceState.READY)));
    assertThat(a.start()).hasSize(2).allSatisfy(g -> assertThat(g.tp()).isEqualTo(TP4));
    assertThat(a.clockTargets()).containsEntry("i1", 1395);
    assertThat(a.drain()).isEmpty();
  }

  @Test
  void aTpChangeStartsTheNewInstancesAndDrainsTheOldOnesOnlyOnceTheNewOnesServe() {
    PoolPlan toTp4 = plan(new PoolPlan.Group(TP4, 1605, 2, 5, 4));
    // step 1: the TP8 instance keeps serving while two TP4 instances start
    var s1 = PoolReconciler.reconcile(toTp4, List.of(new Live("old", TP8, 1980, InstanceState.READY)));
    assertThat(s1.start()).hasSize(2);
    assertThat(s1.drain()).isEmpty();
    assertThat(s1.summary()).contains("1 to drain once the new ones serve");
    // step 2: the new ones are still starting: still no drain
    var s2 = PoolReconciler.reconcile(toTp4, List.of(new Live("old", TP8, 1980, InstanceState.READY),
        new Live("n1", TP4, 1605, InstanceState.STARTING), new Live("n2", TP4, 1605, InstanceState.READY)));
    assertThat(s2.start()).isEmpty();
    assertThat(s2.drain()).isEmpty();
    // step 3: both serve: the old one drains
    var s3 = PoolReconciler.reconcile(toTp4, List.of(new Live("old", TP8, 1980, InstanceState.READY),
        new Live("n1", TP4, 1605, InstanceState.READY), new Live("n2", TP4, 1605, InstanceState.READY)));
    assertThat(s3.drain()).containsExactly("old");
    assertThat(s3.none()).isFalse();
    // draining or stopped instances are not counted as serving
    var s4 = PoolReconciler.reconcile(toTp4, List.of(new Live("old", TP8, 1980, InstanceState.DRAINING),
        new Live("n1", TP4, 1605, InstanceState.READY), new Live("n2", TP4, 1605, InstanceState.READY)));
    assertThat(s4.none()).isTrue();
  }

  @Test
  void anEmptyPlanDrainsEverything() {
    var a = PoolReconciler.reconcile(PoolPlan.EMPTY, List.of(new Live("a", TP8, 1980, InstanceState.READY),
        new Live("b", TP4, 1980, InstanceState.READY)));
    assertThat(a.drain()).containsExactlyInAnyOrder("a", "b");
  }
}
