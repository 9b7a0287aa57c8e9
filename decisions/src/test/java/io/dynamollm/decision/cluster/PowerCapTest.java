package io.dynamollm.decision.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.Profile;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The watt budget: the epoch's caps in the degradation order, the planner under a cap, the measured governor. */
class PowerCapTest {
  private static final Profile P = MemoizedProfile.of(Profiles.h100());
  private static final DecisionSettings D = DecisionSettings.defaults();
  private static final FrequencyBounds B = FrequencyBounds.H100_DEFAULT;
  private static final SloTable SLOS = P.defaultSlos(5);
  private static final double IDLE = P.idlePowerW();

  private static PowerCap cap() {
    return new PowerCap(D.power(), IDLE, P.clockLevelsMhz());
  }

  @Test
  void withinTheBudgetNoPoolIsCappedOverItTheLongRequestsAreDegradedFirst() {
    List<PowerCap.PoolDemand> pools = List.of(
        new PowerCap.PoolDemand("SS", Set.of(RequestType.SS), 8, 3000),
        new PowerCap.PoolDemand("MM", Set.of(RequestType.MS, RequestType.MM), 16, 6000),
        new PowerCap.PoolDemand("LL", Set.of(RequestType.LL), 16, 7000));
    PowerCap c = cap();
    assertThat(c.allocate(0, pools, 40).capW()).as("no budget").isEmpty();
    var within = c.allocate(20_000, pools, 40);
    assertThat(within.capW()).isEmpty();
    assertThat(within.predictedW()).isEqualTo(16_000);
    // 4 kW short: the LL pool (degraded first) gives all of it back
    var over = c.allocate(12_000, pools, 40);
    assertThat(over.capW()).containsEntry("SS", 3000.0).containsEntry("MM", 6000.0).containsEntry("LL", 3000.0);
    assertThat(over.cappedW()).isEqualTo(12_000);
    assertThat(over.reason()).contains("LL [LL] to 3000 of 7000 W").contains("degradation order");
    // deeper: LL stays at the idle power of its GPUs, MM gives back the rest
    var deep = c.allocate(8_000, pools, 40);
    assertThat(deep.capW().get("LL")).isEqualTo(16 * IDLE);
    assertThat(deep.capW().get("SS")).isEqualTo(3000.0);
    assertThat(deep.capW().get("MM")).isEqualTo(8_000 - 3000 - 16 * IDLE);
    assertThat(deep.feasible()).isTrue();
    // below every GPU's idle power: said so, and every pool at its idle floor but the most protected, which is too
    var below = c.allocate(40 * IDLE - 1, pools, 40);
    assertThat(below.feasible()).isFalse();
    assertThat(below.reason()).contains("cannot be met");
    assertThat(below.capW().get("LL")).isEqualTo(16 * IDLE);
  }

  @Test
  void aDegradationOrderMustNameEveryTypeOnce() {
    assertThatThrownBy(() -> new PowerCap.Settings(List.of(RequestType.LL), 0.02, 0.9, 1000))
        .hasMessageContaining("each of the nine request types once");
  }

  @Test
  void thePlannerUnderACapCarriesAsMuchOfTheLoadAsFits() {
    PoolPlanner planner = new PoolPlanner(P, D.planner(), new PoolPlanner.Transitions(ReshardCost.restart(60_000),
        60_000, 230));
    Mix mix = Mix.single(RequestType.MM, P.shape(RequestType.MM), SLOS.of(RequestType.MM));
    var free = planner.plan(request(mix, 0));
    assertThat(free.plan().capacityRps()).isGreaterThanOrEqualTo(20);
    double cap = free.plan().predictedPowerW() * 0.6;
    var capped = planner.plan(request(mix, cap));
    assertThat(capped.plan().predictedPowerW()).isLessThanOrEqualTo(cap);
    assertThat(capped.plan().capacityRps()).isLessThan(20).isGreaterThan(0);
    assertThat(capped.reason()).startsWith("power cap");
    // a cap the plan fits under changes nothing
    assertThat(planner.plan(request(mix, free.plan().predictedPowerW() + 1)).plan()).isEqualTo(free.plan());
  }

  private static PoolPlanner.Request request(Mix mix, double capW) {
    return new PoolPlanner.Request("MM", mix, 20, 32, B, TensorParallelism.PAPER_DEGREES, Optional.empty(), 300,
        false, Map.of(), capW);
  }

  private static PoolBudget budget(String pool, RequestType type, int gpus) {
    return new PoolBudget(pool, 3, gpus, type, Set.of(type), Map.of(type, 1.0), 1, Map.of(type, SLOS.of(type)),
        Map.of(type, P.shape(type)), B);
  }

  private static PowerCap.Measured measured(String pool, double powerW, int gpus) {
    return new PowerCap.Measured(powerW, gpus);
  }

  @Test
  void aPoolsDrawIsItsEnergyCountersRiseOverTheWindow() {
    var a = new PoolTelemetry("LL", 10_000, Map.of(), 1, 900, 50_000, 1, 8, 1, 1, 1, 1);
    var b = new PoolTelemetry("LL", 20_000, Map.of(), 1, 100, 80_000, 1, 8, 1, 1, 1, 1);
    assertThat(PowerCap.Measured.of(a, b).powerW()).isEqualTo(3000);
    assertThat(PowerCap.Measured.of(null, b).powerW()).as("no window yet: the last reading").isEqualTo(100);
  }

  @Test
  void theGovernorLowersClocksOfTheLeastProtectedPoolFirstThenShedsThenRelaxes() {
    PowerCap c = cap();
    Map<String, PoolBudget> budgets = new LinkedHashMap<>();
    budgets.put("SS", budget("SS", RequestType.SS, 8));
    budgets.put("LL", budget("LL", RequestType.LL, 8));
    assertThat(c.carry(List.copyOf(budgets.values()))).as("no step in force yet: the epoch's budgets as they are")
        .containsExactlyElementsOf(budgets.values());
    Map<String, PowerCap.Measured> t = new LinkedHashMap<>();
    t.put("SS", measured("SS", 4000, 8));
    t.put("LL", measured("LL", 5000, 8));
    long every = D.power().actEveryMs();
    // 9 kW measured against a 6 kW budget: LL's ceiling comes down one clock level
    var first = c.check(0, 6000, budgets, t, 16, B).orElseThrow();
    assertThat(first.budget().pool()).isEqualTo("LL");
    int top = P.clockLevelsMhz().stream().filter(B::contains).max(Integer::compare).orElseThrow();
    assertThat(first.budget().frequencyBounds().maxMhz()).isLessThan(top);
    assertThat(first.action()).startsWith("power clock LL");
    assertThat(c.violations()).isEqualTo(1);
    // not again before the next measurement has had time to see it
    assertThat(c.check(every / 2, 6000, budgets, t, 16, B)).isEmpty();
    // LL at its lowest clock: then SS's clocks (clocks first, across pools), and only then shedding, LL first
    budgets.put("LL", budgets.get("LL").withBounds(new FrequencyBounds(B.minMhz(), B.minMhz())));
    var second = c.check(every, 6000, budgets, t, 16, B).orElseThrow();
    assertThat(second.budget().pool()).isEqualTo("SS");
    budgets.put("SS", budgets.get("SS").withBounds(new FrequencyBounds(B.minMhz(), B.minMhz())));
    var shed = c.check(2 * every, 6000, budgets, t, 16, B).orElseThrow();
    assertThat(shed.budget().pool()).isEqualTo("LL");
    assertThat(shed.budget().powerCapW()).isEqualTo(5000 - 3000.0);
    assertThat(shed.action()).startsWith("power shed LL");
    budgets.put("LL", shed.budget());
    // the shed gave back 3.5 kW: under the budget, and it stays
    t.put("LL", measured("LL", 3000, 8));
    t.put("SS", measured("SS", 2500, 8));
    assertThat(c.check(3 * every, 6000, budgets, t, 16, B)).isEmpty();
    assertThat(c.check(7 * every, 6000, budgets, t, 16, B)).isEmpty();
    // lower, but undoing the shed would bring its 3.5 kW back over the budget: it stays
    t.put("LL", measured("LL", 2000, 8));
    t.put("SS", measured("SS", 2000, 8));
    assertThat(c.check(8 * every, 6000, budgets, t, 16, B)).isEmpty();
    assertThat(c.check(11 * every, 6000, budgets, t, 16, B)).as("4 + 3.5 kW would be over").isEmpty();
    // the load falls: once the power stays low for three steps' time and what the step gave back fits, it is undone
    t.put("LL", measured("LL", 500, 8));
    t.put("SS", measured("SS", 500, 8));
    var relax = c.check(13 * every, 6000, budgets, t, 16, B).orElseThrow();
    assertThat(relax.budget().pool()).isEqualTo("LL");
    assertThat(relax.budget().capped()).isFalse();
    assertThat(relax.action()).startsWith("power relax LL");
    // a new epoch keeps the steps still in force: both pools' lowered ceilings, not the operator's top
    var next = c.carry(List.of(budget("SS", RequestType.SS, 8), budget("LL", RequestType.LL, 8)));
    assertThat(next).allSatisfy(b -> assertThat(b.frequencyBounds().maxMhz()).isLessThan(top));
    assertThat(c.stepsInForce()).isEqualTo(2);
  }

  @Test
  void theClusterStepCapsItsPoolsAndSkipsTopUpsForCappedOnes() {
    ClusterStep step = new ClusterStep(P, D, new PoolPlanner.Transitions(ReshardCost.IN_PLACE_NVLINK, 420_000, 230),
        0);
    for (int m = 0; m < 40; m++) {
      for (int s = 0; s < 60; s++) {
        long at = m * 60_000L + s * 1000L;
        step.observe(at, RequestType.SS, 2, 2L * P.shape(RequestType.SS).meanInputTokens());
        step.observe(at, RequestType.LL, 1, P.shape(RequestType.LL).meanInputTokens());
      }
    }
    var free = step.epoch(40 * 60_000, SLOS, 64, B);
    assertThat(free.assign()).noneMatch(PoolBudget::capped);
    double predicted = step.power().predictedW();
    double budget = predicted * 0.7;
    var capped = step.epoch(41 * 60_000, SLOS, 64, B, budget);
    assertThat(capped.assign()).anyMatch(PoolBudget::capped);
    assertThat(capped.decision().reason()).contains("over the " + Math.round(budget) + " W budget");
    // the pool serving LL is capped first; one serving only short types keeps its prediction
    assertThat(capped.assign()).filteredOn(b -> b.types().contains(RequestType.LL)).allMatch(PoolBudget::capped);
    // the preview shows the same caps without deciding anything
    var preview = step.propose(41 * 60_000, SLOS, 64, B, budget);
    assertThat(preview.budgets()).extracting(PoolBudget::powerCapW)
        .containsExactlyElementsOf(capped.assign().stream().map(PoolBudget::powerCapW).toList());
    PoolBudget c = capped.assign().stream().filter(PoolBudget::capped).findFirst().orElseThrow();
    var shortReport = new PoolTelemetry(c.pool(), 41 * 60_000, Map.of(), 0.5, 1000, 1e6, 1, c.gpus(), c.loadRps() * 3,
        c.loadRps() * 3, c.loadRps(), 1);
    assertThat(step.poolReport(41 * 60_000, shortReport)).as("a capped pool is short by design: no top-up").isEmpty();
  }
}
