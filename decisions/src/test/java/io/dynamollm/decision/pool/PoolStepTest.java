package io.dynamollm.decision.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.decision.DecisionNote;
import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.InstanceTelemetry;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The pool level's epoch logic as the live pool manager and the simulator both drive it. */
class PoolStepTest {
  private static final Profile P = MemoizedProfile.of(Profiles.h100());
  private static final DecisionSettings D = DecisionSettings.defaults();
  private static final ReshardCost RESTART = ReshardCost.restart(60_000);
  private static final PoolPlanner PLANNER = new PoolPlanner(P, D.planner().withTimeLimitMs(2_000),
      new PoolPlanner.Transitions(RESTART, 60_000, 230));

  private static PoolBudget budget(long epoch, int gpus, double rps) {
    return new PoolBudget("MS", epoch, gpus, RequestType.MS, Set.of(RequestType.MS, RequestType.SS),
        Map.of(RequestType.MS, rps), rps, Map.of(RequestType.MS, P.defaultSlos(5).of(RequestType.MS),
            RequestType.SS, P.defaultSlos(5).of(RequestType.SS)), Map.of(RequestType.MS, P.shape(RequestType.MS),
            RequestType.SS, P.shape(RequestType.SS)), FrequencyBounds.H100_DEFAULT);
  }

  private static InstanceTelemetry report(String id, InstanceState s) {
    return new InstanceTelemetry(id, "MS", 0, s, 0, 0, 0, 0, 0, 900, 1000, 1980, List.of(), null);
  }

  /** Runs the planner on the step's request, as a driver does, and hands the result back. */
  private static PoolStep.Effects plan(PoolStep step, PoolStep.Effects fx) {
    return plan(step, fx, 0);
  }

  private static PoolStep.Effects plan(PoolStep step, PoolStep.Effects fx, double nowMs) {
    return step.planned(Optional.of(PLANNER.plan(fx.plan().orElseThrow())), "", nowMs);
  }

  /** Places every instance the plan starts (h~MS-1, h~MS-2, …) and reports it ready; how many. */
  private static int serveAll(PoolStep step, PoolStep.Effects planned) {
    int n = 0;
    for (PoolStep.Start s : planned.start()) {
      String id = "h~MS-" + (++n);
      step.placed(s, Optional.of(id), "on h", 0);
      step.reported(report(id, InstanceState.READY), 0);
    }
    return n;
  }

  @Test
  void aBudgetBecomesAPlanWhoseInstancesStartServeAndArePublished() {
    PoolStep step = new PoolStep("MS", D, PoolReconciler.Reshards.byRestart(RESTART), 0, false, 0);
    PoolStep.Effects assigned = step.assign(budget(1, 8, 6.0), 0);
    assertThat(assigned.plan()).hasValueSatisfying(r -> {
      assertThat(r.loadRps()).isEqualTo(6.0); // the budget's load, no correction yet
      assertThat(r.gpuBudget()).isEqualTo(8);
      assertThat(r.mix().parts()).extracting(io.dynamollm.protocol.profile.Mix.Part::type)
          .containsExactly(RequestType.MS); // SS has no forecast: the mix is MS's
    });
    assertThat(assigned.decisions()).extracting(DecisionNote::action).anyMatch(a -> a.startsWith("budget 8 GPUs"));
    PoolStep.Effects planned = plan(step, assigned);
    assertThat(planned.start()).isNotEmpty();
    int gpus = planned.start().stream().mapToInt(s -> s.tp().degree()).sum();
    assertThat(gpus).isLessThanOrEqualTo(8);
    // the driver places them: each becomes a member, starting; once ready it is published for the routers
    int n = 0;
    for (PoolStep.Start s : planned.start()) {
      step.placed(s, Optional.of("h~MS-" + (++n)), "on h", 0);
    }
    assertThat(step.routes().orElseThrow().ready()).isEmpty();
    PoolStep.Effects ready = step.reported(report("h~MS-1", InstanceState.READY), 1);
    assertThat(ready.routes().orElseThrow().ready()).extracting(r -> r.instanceId()).containsExactly("h~MS-1");
    assertThat(ready.routes().orElseThrow().types()).containsExactlyInAnyOrder(RequestType.MS, RequestType.SS);
  }

  @Test
  void theInstancesOfAHostThatLeftTheClusterAreGoneAtOnceAndReplaced() {
    PoolStep step = new PoolStep("MS", D, PoolReconciler.Reshards.byRestart(RESTART), 0, false, 0);
    PoolStep.Effects planned = plan(step, step.assign(budget(1, 16, 12.0), 0));
    // the plan's instances: the first on host a, the rest on host b
    int n = 0;
    List<String> onA = new java.util.ArrayList<>();
    for (PoolStep.Start s : planned.start()) {
      String id = (n == 0 ? "10.0.0.1:2551" : "10.0.0.2:2551") + "~MS-" + (++n);
      if (n == 1) {
        onA.add(id);
      }
      step.placed(s, Optional.of(id), "placed", 0);
      step.reported(report(id, InstanceState.READY), 0);
    }
    int before = step.instances().size();
    PoolStep.Effects lost = step.hostLost("10.0.0.1:2551", 1_000);
    assertThat(step.instances()).doesNotContainKeys(onA.toArray(String[]::new)).hasSize(before - onA.size());
    assertThat(lost.routes()).hasValueSatisfying(r -> assertThat(r.ready())
        .noneMatch(i -> i.instanceId().startsWith("10.0.0.1:2551~")));
    assertThat(lost.start()).as("the plan is reconciled: a replacement starts").hasSize(onA.size());
    assertThat(lost.decisions()).extracting(DecisionNote::action).anyMatch(a -> a.startsWith("lost 10.0.0.1:2551~MS-1"));
    // a host of the same address but another port is another host; a host with nothing of this pool changes nothing
    assertThat(step.hostLost("10.0.0.2:2552", 2_000).start()).isEmpty();
    assertThat(step.instances()).hasSize(before - onA.size());
  }

  @Test
  void missedSlosRaiseTheLoadThePoolPlansForAndTheTelemetryCarriesIt() {
    PoolStep step = new PoolStep("MS", D, PoolReconciler.Reshards.byRestart(RESTART), 0, false, 0);
    plan(step, step.assign(budget(1, 8, 4.0), 0));
    step.outcomes(200, 10, Map.of(RequestType.MS, 215)); // 5 % missed: 1 + 10 x 5 % = 1.5
    PoolStep.Effects epoch = step.epoch(300_000);
    assertThat(epoch.decisions()).extracting(DecisionNote::action).contains("capacity correction x1.00 -> x1.50");
    assertThat(epoch.plan().orElseThrow().loadRps()).isEqualTo(6.0);
    plan(step, epoch);
    var up = step.keepAlive(310_000).up().orElseThrow();
    assertThat(up.capacityCorrection()).isEqualTo(1.5);
    assertThat(up.plannedLoadRps()).isEqualTo(6.0);
  }

  @Test
  void aBudgetOfAnOlderEpochIsIgnoredAndABudgetOfNothingDrainsEverything() {
    PoolStep step = new PoolStep("MS", D, PoolReconciler.Reshards.byRestart(RESTART), 0, false, 0);
    PoolStep.Effects planned = plan(step, step.assign(budget(3, 8, 4.0), 0));
    int n = serveAll(step, planned);
    PoolStep.Effects stale = step.assign(budget(2, 0, 0), 1);
    assertThat(stale.plan()).isEmpty();
    assertThat(stale.decisions()).singleElement().satisfies(d -> assertThat(d.action()).contains("epoch 2"));
    assertThat(step.budget().orElseThrow().epoch()).isEqualTo(3);
    // the next epoch's budget of nothing: the plan is empty, every instance drains
    PoolStep.Effects none = plan(step, step.assign(budget(4, 0, 0), 2));
    assertThat(none.drain()).hasSize(n);
    assertThat(none.start()).isEmpty();
    // telemetry an instance sent before the drain reached it does not take the drain back (nor drain it twice)
    PoolStep.Effects late = step.reported(report("h~MS-1", InstanceState.READY), 3);
    assertThat(late.drain()).isEmpty();
    assertThat(step.state("h~MS-1")).contains(InstanceState.DRAINING);
    assertThat(step.routes().orElseThrow().ready()).isEmpty();
    step.reported(report("h~MS-1", InstanceState.STOPPED), 4);
    assertThat(step.instances()).doesNotContainKey("h~MS-1");
  }

  @Test
  void aTpThatFindsNoHostWithRoomIsPlannedWithoutUntilTheNextPoolEpoch() {
    PoolStep step = new PoolStep("MS", D, PoolReconciler.Reshards.byRestart(RESTART), 0, false, 0);
    PoolStep.Effects planned = plan(step, step.assign(budget(1, 16, 12.0), 0));
    PoolStep.Start first = planned.start().get(0);
    PoolStep.Effects refused = null;
    for (PoolStep.Start s : planned.start()) {
      refused = step.placed(s, Optional.empty(), "no GPU host has " + s.tp().degree() + " free GPUs", 0);
    }
    // the last answer comes in: the pool plans again without the TPs that found no room
    assertThat(refused.plan()).hasValueSatisfying(r -> assertThat(r.allowedTps())
        .allSatisfy(tp -> assertThat(tp.degree()).isLessThan(first.tp().degree())));
    // the next pool epoch tries every TP again
    step.planned(Optional.of(PLANNER.plan(refused.plan().get())), "", 1);
    assertThat(step.epoch(300_000).plan().orElseThrow().allowedTps()).containsExactlyElementsOf(
        TensorParallelism.PAPER_DEGREES);
  }

  @Test
  void aPoolLeftWithFewerGpusThanItHoldsLetsAnInstanceGoWhenItsNewOnesFindNoRoom() {
    PoolStep step = new PoolStep("MS", D, PoolReconciler.Reshards.byRestart(RESTART), 0, false, 0);
    PoolStep.Effects planned = plan(step, step.assign(budget(1, 16, 40.0), 0));
    serveAll(step, planned);
    int held = step.instances().values().stream().mapToInt(TensorParallelism::degree).sum();
    assertThat(held).isGreaterThan(4);
    // the next epoch gives it 4 GPUs (the rest to other pools, which wait for them); its smaller instances find no
    // host with room while it holds them
    PoolStep.Effects fx = plan(step, step.assign(budget(2, 4, 1.0), 10));
    List<String> drained = new java.util.ArrayList<>(fx.drain());
    while (drained.isEmpty() && (fx.plan().isPresent() || !fx.start().isEmpty())) {
      if (fx.plan().isPresent()) {
        fx = plan(step, fx);
      } else {
        PoolStep.Effects last = fx;
        for (PoolStep.Start s : fx.start()) {
          last = step.placed(s, Optional.empty(), "no GPU host has " + s.tp().degree() + " free GPUs", 20);
        }
        fx = last;
      }
      drained.addAll(fx.drain());
    }
    assertThat(drained).as("an instance goes before its replacement serves").isNotEmpty();
    assertThat(fx.decisions()).extracting(DecisionNote::reason).anyMatch(r -> r.contains("of a 4-GPU budget"));
  }

  /** Answers the driver's work as a full cluster would: plans run, every start refused, until nothing is asked. */
  private static PoolStep.Effects refuseEverything(PoolStep step, PoolStep.Effects fx) {
    while (fx.plan().isPresent() || !fx.start().isEmpty()) {
      if (fx.plan().isPresent()) {
        fx = plan(step, fx);
      } else {
        PoolStep.Effects last = fx;
        for (PoolStep.Start s : fx.start()) {
          last = step.placed(s, Optional.empty(), "no GPU host has " + s.tp().degree() + " free GPUs", 0);
        }
        fx = last;
      }
    }
    return fx;
  }

  @Test
  void keepAlivesTryEveryTpAgainBackingOffWhileTheClusterStaysFullAndAStartResetsTheWait() {
    PoolStep step = new PoolStep("MS", D, PoolReconciler.Reshards.byRestart(RESTART), 0, false, 0);
    refuseEverything(step, plan(step, step.assign(budget(1, 16, 12.0), 0)));
    List<Integer> retries = new java.util.ArrayList<>();
    PoolStep.Effects retry = null;
    for (int k = 1; k <= 8; k++) {
      PoolStep.Effects kept = step.keepAlive(k * 10_000.0);
      if (kept.plan().isPresent()) {
        retries.add(k);
        assertThat(kept.plan().get().allowedTps()).containsExactlyElementsOf(TensorParallelism.PAPER_DEGREES);
        retry = kept;
        if (k < 7) {
          refuseEverything(step, kept);
        }
      }
    }
    // other pools' GPUs may free up at any time: tried after 1, 2, then 4 keep-alives
    assertThat(retries).containsExactly(1, 3, 7);
    // the last try finds room; the wait starts over at one keep-alive for the next TP that finds none
    PoolStep.Effects planned = plan(step, retry);
    for (PoolStep.Start s : planned.start()) {
      step.placed(s, Optional.of("h~MS-" + s.tp()), "on h", 80_000);
    }
    PoolStep.Effects more = plan(step, step.assign(budget(2, 16, 30.0), 80_000));
    assertThat(more.start()).isNotEmpty();
    refuseEverything(step, more);
    assertThat(step.keepAlive(90_000).plan()).isPresent();
  }

  @Test
  void aRestartedPoolAdoptsWhatRunsBeforeItReconciles() {
    PoolStep step = new PoolStep("MS", D, PoolReconciler.Reshards.byRestart(RESTART), 0, true, 0);
    PoolStep.Effects planned = plan(step, step.assign(budget(1, 8, 6.0), 0));
    assertThat(planned.start()).as("nothing starts while the ledgers are asked").isEmpty();
    step.adopt("h~MS-9", TensorParallelism.TP8);
    PoolStep.Effects done = step.adoptionDone(1);
    // the adopted TP8 instance is part of the pool: whatever the plan wants, it is not started twice
    assertThat(step.instances()).containsKey("h~MS-9");
    assertThat(done.routes().orElseThrow().ready()).extracting(r -> r.instanceId()).contains("h~MS-9");
  }

  @Test
  void theCorrectionMultipliesTheForecastOnceHoweverOftenItIsPlannedToppedUpAndForecast() {
    // the regression the decision-core issue found: load = max(forecast, planned) x correction, planned already
    // corrected, grew x1.1 every pool epoch until the solver gave up
    PoolStep step = new PoolStep("MS", D, PoolReconciler.Reshards.byRestart(RESTART), 0, false, 0);
    var fx = plan(step, step.assign(budget(1, 16, 6.0), 0));
    double max = D.correction().max();
    for (int epoch = 1; epoch <= 30; epoch++) {
      double now = epoch * D.poolEpochMs();
      step.outcomes(1000, 100, Map.of(RequestType.MS, 1000)); // 10 % missed: the correction rises to its cap
      step.forecast(6.0, Map.of(RequestType.MS, 6.0));
      var e = step.epoch(now);
      double planned = e.plan().orElseThrow().loadRps();
      assertThat(planned).isCloseTo(6.0 * step.correction().factor(), within(1e-9)).isLessThanOrEqualTo(6.0 * max);
      step.planned(Optional.of(PLANNER.plan(e.plan().get())), "", now);
      // the telemetry says what the pool was asked for apart from what it plans for; a top-up carries the former
      var up = step.keepAlive(now + 1).up().orElseThrow();
      assertThat(up.forecastLoadRps()).isEqualTo(6.0);
      assertThat(up.plannedLoadRps()).isCloseTo(planned, within(1e-9));
      var topUp = step.assign(step.budget().orElseThrow().withGpus(16, up.forecastLoadRps()), now + 2);
      topUp.plan().ifPresent(r -> assertThat(r.loadRps()).isCloseTo(planned, within(1e-9)));
      topUp.plan().ifPresent(r -> step.planned(Optional.of(PLANNER.plan(r)), "", now + 3));
    }
    assertThat(step.correction().factor()).isEqualTo(max);
    assertThat(fx).isNotNull();
  }

  @Test
  void anInstanceThePlanNoLongerNeedsWaitsAsAnUnroutedSpareAndServesAgainWithoutAStart() {
    PoolStep step = new PoolStep("MS", D, PoolReconciler.Reshards.byRestart(RESTART), 20 * 60_000, false, 0);
    int started = serveAll(step, plan(step, step.assign(budget(1, 32, 40.0), 0)));
    assertThat(started).as("40 req/s of MS take more than one instance").isGreaterThan(1);
    // the load falls: the plan needs less (a smaller TP, started make-before-break); the old instances stay loaded,
    // routed nothing
    step.forecast(1.0, Map.of(RequestType.MS, 1.0));
    List<DecisionNote> notes = new java.util.ArrayList<>();
    PoolStep.Effects low = plan(step, step.epoch(300_000), 300_000);
    notes.addAll(low.decisions());
    assertThat(low.drain()).isEmpty();
    int n = 0;
    for (PoolStep.Start s : low.start()) {
      String id = "h~MS-low-" + (++n);
      step.placed(s, Optional.of(id), "on h", 300_000);
      PoolStep.Effects served = step.reported(report(id, InstanceState.READY), 300_000);
      notes.addAll(served.decisions());
      assertThat(served.drain()).isEmpty();
    }
    assertThat(notes).extracting(DecisionNote::action).anyMatch(a -> a.contains("as a warm spare"));
    Set<String> spares = step.spares();
    assertThat(spares).isNotEmpty();
    assertThat(step.routes().orElseThrow().ready()).extracting(r -> r.instanceId())
        .doesNotContainAnyElementsOf(spares).isNotEmpty();
    // it rises again within the keep time: the spares serve at once, nothing of their TP starts
    step.forecast(40.0, Map.of(RequestType.MS, 40.0));
    PoolStep.Effects high = plan(step, step.epoch(600_000), 600_000);
    assertThat(high.decisions()).extracting(DecisionNote::action).anyMatch(a -> a.startsWith("wake "));
    assertThat(high.start()).as("no cold start").isEmpty();
    assertThat(step.spares()).isEmpty();
    assertThat(high.routes().orElseThrow().ready()).extracting(r -> r.instanceId()).containsAll(spares);
    // low again, and nothing wakes them: they drain at the keep time (a keep-alive notices)
    step.forecast(1.0, Map.of(RequestType.MS, 1.0));
    plan(step, step.epoch(900_000), 900_000);
    int kept = step.spares().size();
    assertThat(kept).isPositive();
    assertThat(step.keepAlive(900_000 + 20 * 60_000 - 1).drain()).isEmpty();
    assertThat(step.keepAlive(900_000 + 20 * 60_000).drain()).hasSize(kept);
    assertThat(step.spares()).isEmpty();
  }
}
