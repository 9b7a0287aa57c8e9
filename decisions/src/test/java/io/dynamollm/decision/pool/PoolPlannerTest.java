package io.dynamollm.decision.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.pool.PoolPlanner.Outcome;
import io.dynamollm.decision.pool.PoolPlanner.Request;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.Profile;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class PoolPlannerTest {
  static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  static final SloTable SLOS = PROFILE.defaultSlos(5);
  static final PoolPlanner.Settings SETTINGS = DecisionSettings.defaults().planner();
  /** The paper's transitions: in-place re-shards, 7-minute cold starts, 230 W per GPU meanwhile. */
  static final PoolPlanner.Transitions PAPER = new PoolPlanner.Transitions(ReshardCost.IN_PLACE_NVLINK, 7 * 60_000, 230);
  final PoolPlanner planner = new PoolPlanner(PROFILE, SETTINGS.withTimeLimitMs(2_000), PAPER);

  static Mix alone(RequestType type) {
    return Mix.single(type, PROFILE.shape(type), SLOS.of(type));
  }

  static Request request(RequestType type, double rps, int gpus, List<TensorParallelism> tps, Optional<PoolPlan> current) {
    return new Request(type.name(), alone(type), rps, gpus, FrequencyBounds.H100_DEFAULT, tps, current, 300, false);
  }

  @ParameterizedTest(name = "{0} at {1} req/s on {2} GPUs")
  @CsvSource({"SS, 5, 16", "SS, 30, 32", "LL, 5, 16", "LL, 30, 64", "MM, 120, 64", "LS, 10, 32"})
  void coversTheLoadWithinTheBudgetAtLeastAsCheaplyAsAnySingleConfiguration(RequestType type, double rps, int gpus) {
    var r = planner.plan(request(type, rps, gpus, TensorParallelism.PAPER_DEGREES, Optional.empty()));
    assertThat(r.outcome()).isEqualTo(Outcome.OPTIMAL);
    assertThat(r.plan().gpus()).isLessThanOrEqualTo(gpus);
    assertThat(r.plan().capacityRps()).isGreaterThanOrEqualTo(rps);
    assertThat(r.plan().groups()).hasSizeLessThanOrEqualTo(2);
    // brute force over single-group plans: n instances of one (TP, clock) at the load / n each, held to what the
    // planner holds a mix to (TBT times the margin, TTFT within the miss budget)
    Mix target = alone(type).withSloScaled(1, SETTINGS.sloMargin()).withMissBudget(SETTINGS.missBudget());
    double bestSingle = Double.POSITIVE_INFINITY;
    for (TensorParallelism tp : TensorParallelism.PAPER_DEGREES) {
      for (int mhz : PROFILE.clockLevelsMhz()) {
        double cap = PROFILE.capacityRps(target, tp, mhz);
        if (cap <= 0) {
          continue;
        }
        int n = (int) Math.ceil(rps / cap - 1e-9);
        if (n * tp.degree() > gpus) {
          continue;
        }
        double power = n * tp.degree() * PROFILE.estimate(target, tp, mhz, rps / n).powerPerGpuW()
            + (gpus - n * tp.degree()) * PROFILE.idlePowerW();
        bestSingle = Math.min(bestSingle, power);
      }
    }
    // the solver works on a ladder of load levels, so allow a little slack against the exact single-group optimum
    assertThat(r.plan().predictedPowerW()).isLessThanOrEqualTo(bestSingle * 1.03);
  }

  @Test
  void tooSmallABudgetIsInfeasibleButStillGetsAPlan() {
    var r = planner.plan(request(RequestType.LL, 200, 16, TensorParallelism.PAPER_DEGREES, Optional.empty()));
    assertThat(r.outcome()).isEqualTo(Outcome.INFEASIBLE);
    assertThat(r.plan().gpus()).isEqualTo(16);
    assertThat(r.plan().groups()).allSatisfy(g -> assertThat(g.clockMhz()).isEqualTo(1980));
  }

  @Test
  void aTinyTimeLimitStillYieldsAPlan() {
    PoolPlanner hurried = new PoolPlanner(PROFILE, SETTINGS.withTimeLimitMs(1), PAPER);
    var r = hurried.plan(request(RequestType.MM, 120, 256, TensorParallelism.PAPER_DEGREES, Optional.empty()));
    assertThat(r.outcome()).isIn(Outcome.OPTIMAL, Outcome.FEASIBLE, Outcome.FALLBACK);
    assertThat(r.plan().capacityRps()).isGreaterThanOrEqualTo(120);
  }

  @Test
  void restrictedTpsAndBoundsAreRespected() {
    var r = planner.plan(new Request("LL", alone(RequestType.LL), 20, 64, new FrequencyBounds(1980, 1980),
        List.of(TensorParallelism.TP8), Optional.empty(), 300, false));
    assertThat(r.plan().groups()).allSatisfy(g -> {
      assertThat(g.tp()).isEqualTo(TensorParallelism.TP8);
      assertThat(g.clockMhz()).isEqualTo(1980);
    });
  }

  @Test
  void noLoadNeedsNoInstance() {
    var r = planner.plan(request(RequestType.SS, 0, 16, TensorParallelism.PAPER_DEGREES, Optional.empty()));
    assertThat(r.plan().instances()).isZero();
    assertThat(r.plan().predictedPowerW()).isCloseTo(16 * 77.7, within(1e-6));
  }

  @Test
  void keepsTheCurrentPlanWhenTheSavingDoesNotPayForTheTransition() {
    var first = planner.plan(request(RequestType.LL, 20, 64, TensorParallelism.PAPER_DEGREES, Optional.empty()));
    // a slightly lower load: the solver may prefer a slightly different layout, but starting or re-sharding is dearer
    var next = planner.plan(request(RequestType.LL, 18, 64, TensorParallelism.PAPER_DEGREES, Optional.of(first.plan())));
    if (next.changed()) {
      assertThat(next.predictedSavingW() * 300).isGreaterThan(next.transitionEnergyJ() * 1.5);
    } else {
      assertThat(next.plan().describe()).isEqualTo(first.plan().describe());
    }
    // a load the current plan cannot carry always switches
    var surge = planner.plan(request(RequestType.LL, 45, 64, TensorParallelism.PAPER_DEGREES, Optional.of(first.plan())));
    assertThat(surge.changed()).isTrue();
    assertThat(surge.reason()).startsWith("capacity short");
    assertThat(surge.plan().capacityRps()).isGreaterThanOrEqualTo(45);
  }

  @Test
  void aNearlyEqualPlanIsKeptWithItsReason() {
    var current = planner.plan(request(RequestType.MM, 30, 32, TensorParallelism.PAPER_DEGREES, Optional.empty()));
    // the same load again: the layout is unchanged
    var again = planner.plan(request(RequestType.MM, 30, 32, TensorParallelism.PAPER_DEGREES, Optional.of(current.plan())));
    assertThat(again.reason()).startsWith("layout unchanged");
    assertThat(again.transitionEnergyJ()).isZero();
  }

  @Test
  void aWholeBudgetPlanPutsEveryGpuToWork() {
    var r = planner.plan(new Request("all", alone(RequestType.LL), 5, 32, new FrequencyBounds(1980, 1980),
        TensorParallelism.PAPER_DEGREES, Optional.empty(), 300, true));
    assertThat(r.plan().gpus()).isEqualTo(32);
  }

  @Test
  void reshardPresetsMatchThePapersFigures() {
    var inPlace = ReshardCost.IN_PLACE_NVLINK;
    // TP4 -> TP8: each new GPU receives 1/8 of 137.96 GB over 400 GB/s = 43.1 ms, + 10 ms
    assertThat(inPlace.millis(TensorParallelism.TP4, TensorParallelism.TP8)).isCloseTo(53.1, within(0.1));
    // TP4 -> TP2: each GPU has 1/4 and needs 1/2: receives 1/4 = 34.49 GB = 86.2 ms, + 10 ms
    assertThat(inPlace.millis(TensorParallelism.TP4, TensorParallelism.TP2)).isCloseTo(96.2, within(0.1));
    assertThat(inPlace.millis(TensorParallelism.TP8, TensorParallelism.TP8)).isZero();
    assertThat(ReshardCost.ENGINE_RESTART.millis(TensorParallelism.TP4, TensorParallelism.TP8)).isEqualTo(90_000);
    assertThat(ReshardCost.preset("restart")).isEqualTo(ReshardCost.ENGINE_RESTART);
    assertThat(ReshardCost.preset("5s").millis(TensorParallelism.TP2, TensorParallelism.TP8)).isEqualTo(5000);
    assertThat(ReshardCost.preset("50ms").millis(TensorParallelism.TP8, TensorParallelism.TP4)).isEqualTo(50);
    assertThatThrownBy(() -> ReshardCost.preset("fast")).hasMessageContaining("'fast'").hasMessageContaining("90s");
  }

  @Test
  void whenTpChangesAreRestartsAShortPoolGrowsRatherThanReshardingItsServingInstances() {
    PoolPlan current = new PoolPlan(List.of(new PoolPlan.Group(TensorParallelism.TP4, 1980, 1, 2.79, 2.79)), 0, 2.79);
    Request req = request(RequestType.LM, 2.97, 8, TensorParallelism.PAPER_DEGREES, Optional.of(current));
    // in place, a re-shard costs milliseconds: the least-power layout, whatever its TP
    var inPlace = planner.plan(req);
    // by restart: the TP4 keeps serving and new instances join it
    var restart = new PoolPlanner(PROFILE, SETTINGS.withTimeLimitMs(2_000),
        new PoolPlanner.Transitions(ReshardCost.restart(60_000), 60_000, 230)).plan(req);
    System.out.println("in place: " + inPlace.reason() + "\nrestart: " + restart.reason());
    assertThat(restart.changed()).isTrue();
    assertThat(restart.plan().capacityRps()).isGreaterThanOrEqualTo(2.97);
    assertThat(restart.plan().groups().get(0).tp()).isEqualTo(TensorParallelism.TP4);
    assertThat(restart.plan().groups().stream().filter(g -> g.tp() == TensorParallelism.TP4)
        .mapToInt(PoolPlan.Group::instances).sum()).isGreaterThanOrEqualTo(1);
    assertThat(restart.plan().gpus()).isLessThanOrEqualTo(8);
    if (!inPlace.plan().groups().get(0).tp().equals(TensorParallelism.TP4)) {
      assertThat(restart.reason()).contains("keeping its instances");
    }
  }

  @Test
  void theOneGroupCutIsTheCheapestPlanOfOneRowThatServesTheDemandWithinTheBudget() {
    // rows: TP2 carrying 1,000 at 300, TP4 carrying 3,000 at 500, TP8 carrying 7,000 at 1,000 (solver units)
    int[] tp = {2, 4, 8};
    int[] load = {1_000, 3_000, 7_000};
    int[] power = {300, 500, 1_000};
    // 6,000: 6 x TP2 (12 GPUs, 1,800), 2 x TP4 (8 GPUs, 1,000), 1 x TP8 (1,000)
    assertThat(PoolPlanner.bestOneGroup(tp, load, power, 6_000, 16, false)).hasValue(1_000);
    // within 6 GPUs only TP2 fits, and 3 of them carry 3,000 of 6,000: no plan of one row
    assertThat(PoolPlanner.bestOneGroup(tp, load, power, 6_000, 6, false)).isEmpty();
    // the whole budget of 16 GPUs: 8 x TP2 (2,400), 4 x TP4 (2,000) or 2 x TP8 (2,000)
    assertThat(PoolPlanner.bestOneGroup(tp, load, power, 6_000, 16, true)).hasValue(2_000);
    // a budget no count of a row fills exactly (10 GPUs): only TP2 x 5 (5,000 carried, short of 6,000)
    assertThat(PoolPlanner.bestOneGroup(tp, load, power, 6_000, 10, true)).isEmpty();
    assertThat(PoolPlanner.bestOneGroup(tp, load, power, 4_000, 10, true)).hasValue(1_500);
  }

  @Test
  void aWarmSpareOfTheTpANewInstanceNeedsSavesItsStartUp() {
    PoolPlan tp8 = new PoolPlan(List.of(new PoolPlan.Group(TensorParallelism.TP8, 1605, 1, 5, 4)), 0, 0);
    PoolPlan tp8AndTwoTp4 = new PoolPlan(List.of(new PoolPlan.Group(TensorParallelism.TP8, 1605, 1, 5, 4),
        new PoolPlan.Group(TensorParallelism.TP4, 1605, 2, 3, 2)), 0, 0);
    // 8 new GPUs start for 7 minutes at 230 W: 772.8 kJ
    assertThat(planner.transitionEnergyJ(tp8, tp8AndTwoTp4, Map.of())).isCloseTo(772_800, within(1.0));
    // one TP4 spare: half of it; a TP2 spare: nothing (its TP is not wanted)
    assertThat(planner.transitionEnergyJ(tp8, tp8AndTwoTp4, Map.of(TensorParallelism.TP4, 1)))
        .isCloseTo(386_400, within(1.0));
    assertThat(planner.transitionEnergyJ(tp8, tp8AndTwoTp4, Map.of(TensorParallelism.TP2, 4)))
        .isCloseTo(772_800, within(1.0));
    assertThat(planner.transitionEnergyJ(tp8, tp8AndTwoTp4, Map.of(TensorParallelism.TP4, 3))).isZero();
  }
}
