package io.dynamollm.decision.pool;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.decision.pool.PoolReconciler.Live;
import io.dynamollm.decision.pool.PoolReconciler.Reshards;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.TensorParallelism;
import java.util.List;
import org.junit.jupiter.api.Test;

class PoolReconcilerTest {
  private static final TensorParallelism TP2 = TensorParallelism.TP2;
  private static final TensorParallelism TP4 = TensorParallelism.TP4;
  private static final TensorParallelism TP8 = TensorParallelism.TP8;
  private static final Reshards RESTART = Reshards.byRestart(ReshardCost.restart(60_000));
  /** In place over NVLink; at most half the pool's capacity offline at once. */
  private static final Reshards IN_PLACE = new Reshards(true, ReshardCost.IN_PLACE_NVLINK, 0.5);

  private static PoolPlan plan(PoolPlan.Group... g) {
    return new PoolPlan(List.of(g), 0, 0);
  }

  private static Live ready(String id, TensorParallelism tp) {
    return new Live(id, tp, InstanceState.READY, 5);
  }

  @Test
  void startsWhatIsMissingAndKeepsWhatStays() {
    var a = PoolReconciler.reconcile(plan(new PoolPlan.Group(TP4, 1395, 3, 5, 4)), List.of(ready("i1", TP4)), RESTART);
    assertThat(a.start()).hasSize(2).allSatisfy(g -> {
      assertThat(g.tp()).isEqualTo(TP4);
      assertThat(g.clockMhz()).isEqualTo(1395);
    });
    assertThat(a.drain()).isEmpty();
    assertThat(a.reshard()).isEmpty();
  }

  @Test
  void anInstanceOfALeavingHostIsReplacedFirstAndDrainedOnlyOnceTheReplacementServes() {
    PoolPlan twoTp4 = plan(new PoolPlan.Group(TP4, 1605, 2, 5, 4));
    Live leaving = new Live("old", TP4, InstanceState.READY, 5, true);
    // its host leaves (a rolling restart): the plan is met without it, so a replacement starts while it serves
    var s1 = PoolReconciler.reconcile(twoTp4, List.of(ready("stays", TP4), leaving), RESTART);
    assertThat(s1.start()).hasSize(1);
    assertThat(s1.drain()).isEmpty();
    // while the replacement starts it still serves; once that is ready it drains
    var s2 = PoolReconciler.reconcile(twoTp4, List.of(ready("stays", TP4), leaving,
        new Live("new", TP4, InstanceState.STARTING, 5)), RESTART);
    assertThat(s2.start()).isEmpty();
    assertThat(s2.drain()).isEmpty();
    var s3 = PoolReconciler.reconcile(twoTp4, List.of(ready("stays", TP4), leaving, ready("new", TP4)), RESTART);
    assertThat(s3.drain()).containsExactly("old");
    // never kept as a warm spare on the leaving host, room or not
    var s4 = PoolReconciler.reconcile(twoTp4, List.of(ready("stays", TP4), leaving, ready("new", TP4)), RESTART, false,
        List.of(), new PoolReconciler.Spares(600_000, 16, 0));
    assertThat(s4.park()).isEmpty();
    assertThat(s4.drain()).containsExactly("old");
    // a pool over its budget that must break first: the leaving instance frees no GPU anyone can use (they leave with
    // its host), so it serves on; the starting one, which serves nothing yet, goes
    var s5 = PoolReconciler.reconcile(plan(new PoolPlan.Group(TP8, 1605, 1, 5, 4)), List.of(leaving,
        new Live("starting", TP4, InstanceState.STARTING, 5)), RESTART, true, List.of(), PoolReconciler.Spares.NONE);
    assertThat(s5.drain()).containsExactly("starting");
  }

  @Test
  void aPoolBreakingFirstThroughARollingRestartKeepsServing() {
    // measured in the rolling restart: host a leaves, the pool's budget falls to 2 GPUs while it holds a TP8 on the
    // leaving host, a ready TP8 and a starting TP8 on staying hosts; its TP2 finds no room. It used to drain the
    // leaving one and the ready one: nothing of the pool served until the TP2 started
    PoolPlan oneTp2 = plan(new PoolPlan.Group(TP2, 810, 1, 5, 4));
    List<Live> live = List.of(new Live("a~leaving", TP8, InstanceState.READY, 5, true), ready("b~ready", TP8),
        new Live("c~starting", TP8, InstanceState.STARTING, 5));
    var a = PoolReconciler.reconcile(oneTp2, live, RESTART, true, List.of(), PoolReconciler.Spares.NONE);
    assertThat(a.drain()).as("the starting TP8 frees the TP2's GPUs; the ready ones serve until the TP2 does")
        .containsExactly("c~starting");
    assertThat(a.start()).hasSize(1);
    // two ready TP8 on staying hosts for four TP4: one goes now, the last ready one serves until the first TP4s do
    PoolPlan fourTp4 = plan(new PoolPlan.Group(TP4, 1980, 4, 5, 4));
    var b = PoolReconciler.reconcile(fourTp4, List.of(ready("x", TP8), ready("y", TP8)), RESTART, true, List.of(),
        PoolReconciler.Spares.NONE);
    assertThat(b.drain()).hasSize(1);
    // a lone ready instance whose own GPUs are the only room goes (a TP change by restart cannot avoid that gap)
    var c = PoolReconciler.reconcile(oneTp2, List.of(ready("only", TP8)), RESTART, true, List.of(),
        PoolReconciler.Spares.NONE);
    assertThat(c.drain()).containsExactly("only");
  }

  @Test
  void aPoolOverItsBudgetWhoseNewInstancesFindNoRoomLetsGoOfAsFewAsFreeTheirGpus() {
    // the cluster gave the pool 4 GPUs; it still runs two TP8 instances and its TP4 finds no host with room
    PoolPlan oneTp4 = plan(new PoolPlan.Group(TP4, 1605, 1, 5, 4));
    List<Live> two = List.of(ready("a", TP8), ready("b", TP8));
    assertThat(PoolReconciler.reconcile(oneTp4, two, RESTART).drain()).as("make-before-break as usual").isEmpty();
    var a = PoolReconciler.reconcile(oneTp4, two, RESTART, true, List.of(), PoolReconciler.Spares.NONE);
    assertThat(a.drain()).as("one TP8 frees the 4 GPUs the TP4 needs; the other serves until it does").hasSize(1);
    assertThat(a.start()).hasSize(1);
    // nothing missing: nothing drains before its time
    assertThat(PoolReconciler.reconcile(plan(new PoolPlan.Group(TP8, 1605, 2, 5, 4)), two, RESTART, true, List.of(),
        PoolReconciler.Spares.NONE).none()).isTrue();
  }

  @Test
  void byRestartATpChangeStartsTheNewInstancesAndDrainsTheOldOnesOnlyOnceTheNewOnesServe() {
    PoolPlan toTp4 = plan(new PoolPlan.Group(TP4, 1605, 2, 5, 4));
    // step 1: the TP8 instance keeps serving while two TP4 instances start
    var s1 = PoolReconciler.reconcile(toTp4, List.of(ready("old", TP8)), RESTART);
    assertThat(s1.start()).hasSize(2);
    assertThat(s1.drain()).isEmpty();
    assertThat(s1.summary()).contains("1 to drain once the new ones serve");
    // step 2: the new ones are still starting: still no drain
    var s2 = PoolReconciler.reconcile(toTp4, List.of(ready("old", TP8),
        new Live("n1", TP4, InstanceState.STARTING, 5), ready("n2", TP4)), RESTART);
    assertThat(s2.start()).isEmpty();
    assertThat(s2.drain()).isEmpty();
    // step 3: both serve: the old one drains
    var s3 = PoolReconciler.reconcile(toTp4, List.of(ready("old", TP8), ready("n1", TP4), ready("n2", TP4)), RESTART);
    assertThat(s3.drain()).containsExactly("old");
    assertThat(s3.none()).isFalse();
    // draining or stopped instances are not counted as serving
    var s4 = PoolReconciler.reconcile(toTp4, List.of(new Live("old", TP8, InstanceState.DRAINING, 5),
        ready("n1", TP4), ready("n2", TP4)), RESTART);
    assertThat(s4.none()).isTrue();
  }

  @Test
  void inPlaceAnInstanceBecomesTheMissingOnesOnItsOwnGpus() {
    // TP8 -> 2 x TP4: the TP8 instance's 8 GPUs hold both; nothing starts new, nothing drains
    var a = PoolReconciler.reconcile(plan(new PoolPlan.Group(TP4, 1605, 2, 5, 4)), List.of(ready("old", TP8)),
        IN_PLACE);
    assertThat(a.start()).isEmpty();
    assertThat(a.drain()).isEmpty();
    assertThat(a.reshard()).singleElement().satisfies(r -> {
      assertThat(r.id()).isEqualTo("old");
      assertThat(r.partners()).isEmpty();
      assertThat(r.into()).extracting(PoolPlan.Group::tp).containsExactly(TP4, TP4);
      assertThat(r.delayMs()).isZero();
    });
  }

  @Test
  void inPlaceNarrowInstancesJoinToMakeAWideOne() {
    // 2 x TP2 -> 1 x TP4: one TP2 instance re-shards into the TP4, taking the other's GPUs
    var a = PoolReconciler.reconcile(plan(new PoolPlan.Group(TP4, 1980, 1, 5, 4)),
        List.of(ready("a", TP2), ready("b", TP2)), IN_PLACE);
    assertThat(a.reshard()).singleElement().satisfies(r -> {
      assertThat(r.id()).isEqualTo("a");
      assertThat(r.partners()).containsExactly("b");
      assertThat(r.into()).extracting(PoolPlan.Group::tp).containsExactly(TP4);
    });
    assertThat(a.start()).isEmpty();
    assertThat(a.drain()).isEmpty();
  }

  @Test
  void inPlaceReshardsAreStaggeredSoThePoolKeepsServing() {
    // four TP8 instances (5 req/s each) -> eight TP4: at most half the capacity (10 req/s) offline at once
    var a = PoolReconciler.reconcile(plan(new PoolPlan.Group(TP4, 1605, 8, 3, 2)),
        List.of(ready("a", TP8), ready("b", TP8), ready("c", TP8), ready("d", TP8)), IN_PLACE);
    assertThat(a.reshard()).hasSize(4);
    long waveMs = (long) Math.ceil(ReshardCost.IN_PLACE_NVLINK.millis(TP4, TP2)) + 1;
    // a and b take 10 req/s offline (half); c and d wait one wave, until a and b serve again
    assertThat(a.reshard()).extracting(PoolReconciler.Reshard::delayMs).containsExactly(0L, 0L, waveMs, waveMs);
  }

  @Test
  void anEmptyPlanDrainsEverything() {
    var a = PoolReconciler.reconcile(PoolPlan.EMPTY, List.of(ready("a", TP8), ready("b", TP4)), IN_PLACE);
    assertThat(a.drain()).containsExactlyInAnyOrder("a", "b");
    assertThat(a.reshard()).isEmpty();
  }

  // ---- warm spares: kept 20 min (the keep time), within the pool's GPU budget beside the plan's instances

  private static final long KEEP = 20 * 60_000;

  private static PoolReconciler.Actions withSpares(PoolPlan plan, List<Live> live, List<PoolReconciler.Spare> spares,
      int budgetGpus, double nowMs) {
    return PoolReconciler.reconcile(plan, live, RESTART, false, spares,
        new PoolReconciler.Spares(KEEP, budgetGpus, nowMs));
  }

  @Test
  void anInstanceThePlanNoLongerNeedsIsParkedAsASpareWhileItFitsTheBudget() {
    PoolPlan oneTp4 = plan(new PoolPlan.Group(TP4, 1605, 1, 5, 4));
    List<Live> three = List.of(ready("a", TP4), ready("b", TP4), ready("c", TP4));
    // budget 12: the plan's 4 GPUs and two spares of 4
    var roomy = withSpares(oneTp4, three, List.of(), 12, 0);
    assertThat(roomy.park()).containsExactly("b", "c");
    assertThat(roomy.drain()).isEmpty();
    assertThat(roomy.summary()).contains("0 to drain").contains("2 to park as spares");
    // budget 8: room for one spare; the other drains
    var tight = withSpares(oneTp4, three, List.of(), 8, 0);
    assertThat(tight.park()).containsExactly("b");
    assertThat(tight.drain()).containsExactly("c");
    // keep time 0 (no spares) and a pool breaking first keep none
    assertThat(PoolReconciler.reconcile(oneTp4, three, RESTART, false, List.of(),
        new PoolReconciler.Spares(0, 12, 0)).drain()).containsExactly("b", "c");
    assertThat(PoolReconciler.reconcile(oneTp4, three, RESTART, true, List.of(),
        new PoolReconciler.Spares(KEEP, 12, 0)).park()).isEmpty();
    // while one still starts, nothing extra goes (make-before-break), and nothing parks
    var starting = withSpares(oneTp4, List.of(ready("a", TP4), new Live("s", TP4, InstanceState.STARTING, 5)),
        List.of(), 12, 0);
    assertThat(starting.park()).isEmpty();
    assertThat(starting.drain()).isEmpty();
  }

  @Test
  void aMissingInstanceWakesTheNewestSpareOfItsTpInsteadOfAStart() {
    PoolPlan twoTp4 = plan(new PoolPlan.Group(TP4, 1605, 2, 5, 4));
    var spares = List.of(new PoolReconciler.Spare("old", TP4, 0), new PoolReconciler.Spare("new", TP4, 60_000),
        new PoolReconciler.Spare("wide", TP8, 90_000));
    var a = withSpares(twoTp4, List.of(ready("a", TP4)), spares, 32, 120_000);
    assertThat(a.wake()).containsExactly("new");
    assertThat(a.start()).isEmpty();
    assertThat(a.drain()).isEmpty(); // the others stay spares: young enough, within 32 GPUs
    // a spare of another TP wakes nothing: the missing TP4 instances start
    var b = withSpares(plan(new PoolPlan.Group(TP4, 1605, 3, 5, 4)), List.of(),
        List.of(new PoolReconciler.Spare("wide", TP8, 0)), 32, 60_000);
    assertThat(b.wake()).isEmpty();
    assertThat(b.start()).hasSize(3);
  }

  @Test
  void aSpareDrainsAtItsKeepTimeOrWhenTheBudgetNoLongerHoldsItOldestFirst() {
    PoolPlan oneTp8 = plan(new PoolPlan.Group(TP8, 1605, 1, 5, 4));
    var spares = List.of(new PoolReconciler.Spare("old", TP4, 0), new PoolReconciler.Spare("new", TP4, 10 * 60_000));
    assertThat(withSpares(oneTp8, List.of(ready("a", TP8)), spares, 16, KEEP - 1).none()).isTrue();
    assertThat(withSpares(oneTp8, List.of(ready("a", TP8)), spares, 16, KEEP).drain()).containsExactly("old");
    // the cluster cut the budget to 12: the plan's 8 and one spare, the newest
    assertThat(withSpares(oneTp8, List.of(ready("a", TP8)), spares, 12, 60_000).drain()).containsExactly("old");
    // a pool that retires (no plan, no GPUs) keeps none
    assertThat(withSpares(PoolPlan.EMPTY, List.of(), spares, 0, 60_000).drain()).containsExactlyInAnyOrder("old",
        "new");
  }
}
