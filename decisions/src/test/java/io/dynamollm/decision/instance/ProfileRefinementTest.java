package io.dynamollm.decision.instance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.CorrectedProfile;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.ProfileFactors;
import io.dynamollm.protocol.profile.Profiles;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The online refinement: an engine whose decode step (prefill) is slower than its profile is seen to be, within
 * bounds, and the pools' planner, given what its engines showed, plans enough capacity to keep the SLO where the profile alone
 * would not.
 */
class ProfileRefinementTest {
  static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  static final TensorParallelism TP = TensorParallelism.TP4;
  static final double CONTEXT = 600;

  /** Snapshots every 100 ms of an engine decoding {@code batch} sequences {@code slowdown} times slower than profiled. */
  static ProfileRefinement observe(double slowdown, double powerFactor, int snapshots, long seed) {
    ProfileRefinement r = new ProfileRefinement(TP, ProfileRefinement.Settings.DEFAULT);
    Random random = new Random(seed);
    double now = 0;
    double carried = 0;
    long generated = 0;
    long completed = 0;
    int batch = 32;
    int clock = 1605;
    for (int i = 0; i < snapshots; i++) {
      double step = PROFILE.decodeStepMs(TP, batch, CONTEXT, clock) * slowdown;
      now += 100;
      // whole steps end within each 100 ms; the rest of a step carries over (counters move by whole steps)
      carried += 100;
      long steps = (long) Math.floor(carried / step);
      carried -= steps * step;
      generated += steps * batch;
      if (random.nextInt(4) == 0) {
        completed++; // a request finished and another joined: that interval is not pure decoding
        generated += 1;
      }
      double watts = PROFILE.decodePowerW(TP, batch, clock) * powerFactor;
      r.observe(new ProfileRefinement.Snapshot(now, batch, 0, generated, completed, clock, watts), PROFILE, CONTEXT);
    }
    return r;
  }

  @Test
  void aSlowerEngineIsSeenAsSlowerAtItsTpAndClock() {
    ProfileFactors f = observe(1.15, 1.05, 600, 1).factors();
    assertThat(f.decodeTime(TP, 1605)).isCloseTo(1.15, within(0.02));
    assertThat(f.power(TP, 1605)).isCloseTo(1.05, within(0.02));
    // other clocks of the degree take what was seen; other degrees nothing
    assertThat(f.decodeTime(TP, 1980)).isCloseTo(1.15, within(0.02));
    assertThat(f.decodeTime(TensorParallelism.TP8, 1605)).isEqualTo(1.0);
  }

  @Test
  void theCorrectionIsBoundedAndNeedsEnoughObservations() {
    assertThat(observe(3.0, 1, 600, 2).factors().decodeTime(TP, 1605)).isEqualTo(1.5);
    assertThat(observe(1.15, 1, 10, 3).factors().isEmpty()).isTrue();
    assertThat(observe(1.0, 1, 600, 4).factors().decodeTime(TP, 1605)).isCloseTo(1.0, within(0.02));
  }

  /** Prompts of 256 to 4,096 tokens, each run alone {@code slowdown} times slower than profiled, at 1,605 MHz. */
  static ProfileRefinement prefills(ProfileRefinement r, double slowdown, int prompts, long seed) {
    Random random = new Random(seed);
    for (int i = 0; i < prompts; i++) {
      int tokens = 256 + random.nextInt(3841);
      double ttft = PROFILE.prefillMs(TP, tokens, 1605) * slowdown * (1 + 0.02 * random.nextGaussian());
      r.observePrefill(tokens, ttft, 1605, PROFILE);
    }
    return r;
  }

  @Test
  void prefillsRunAloneShowASlowerPrefillBesideTheDecodeFactors() {
    ProfileRefinement r = prefills(observe(1.15, 1.0, 600, 5), 1.25, 100, 6);
    ProfileFactors f = r.factors();
    assertThat(f.prefillTime(TP, 1605)).isCloseTo(1.25, within(0.02));
    assertThat(f.decodeTime(TP, 1605)).as("decode unchanged by prefills").isCloseTo(1.15, within(0.02));
    assertThat(f.prefillTime(TP, 1980)).as("the degree's other clocks").isCloseTo(1.25, within(0.02));
    Profile corrected = CorrectedProfile.of(PROFILE, f);
    assertThat(corrected.prefillMs(TP, 2048, 1605) / PROFILE.prefillMs(TP, 2048, 1605)).isCloseTo(1.25, within(0.02));
    // the time to first token the load model predicts grows with it
    Mix mix = Mix.single(RequestType.LS, PROFILE.shape(RequestType.LS), PROFILE.defaultSlos(5).of(RequestType.LS));
    assertThat(corrected.estimate(RequestType.LS, TP, 1605, 0.5).ttftP99Ms())
        .isGreaterThan(PROFILE.estimate(RequestType.LS, TP, 1605, 0.5).ttftP99Ms() * 1.15);
    assertThat(corrected.capacityRps(mix, TP, 1605)).isLessThan(PROFILE.capacityRps(mix, TP, 1605));
  }

  @Test
  void prefillsAloneAreEnoughAndShortOnesOrTooFewDoNotCount() {
    ProfileRefinement alone = prefills(new ProfileRefinement(TP, ProfileRefinement.Settings.DEFAULT), 0.8, 100, 7);
    assertThat(alone.factors().prefillTime(TP, 1605)).isCloseTo(0.8, within(0.02));
    assertThat(alone.factors().decodeTime(TP, 1605)).as("no decode observed").isEqualTo(1.0);
    assertThat(alone.factors().power(TP, 1605)).isEqualTo(1.0);
    assertThat(prefills(new ProfileRefinement(TP, ProfileRefinement.Settings.DEFAULT), 1.3, 10, 8).factors().isEmpty())
        .as("10 prefills of 20 needed").isTrue();
    ProfileRefinement shortOnes = new ProfileRefinement(TP, ProfileRefinement.Settings.DEFAULT);
    for (int i = 0; i < 100; i++) {
      // a 16-token prompt on TP4: a few ms, mostly the engine's and the network's overheads
      assertThat(PROFILE.prefillMs(TP, 16, 1605)).isLessThan(ProfileRefinement.Settings.DEFAULT.minPrefillMs());
      shortOnes.observePrefill(16, PROFILE.prefillMs(TP, 16, 1605) * 3, 1605, PROFILE);
    }
    assertThat(shortOnes.factors().isEmpty()).isTrue();
  }

  @Test
  void instancesFactorsMergeEachByItsOwnSamples() {
    var decodeOnly = new io.dynamollm.protocol.InstanceTelemetry.ProfileFactor(4, 1605, 1.2, 1.1, 30);
    var prefillOnly = new io.dynamollm.protocol.InstanceTelemetry.ProfileFactor(4, 1605, 1, 1, 0, 1.4, 40);
    var both = new io.dynamollm.protocol.InstanceTelemetry.ProfileFactor(4, 1605, 1.0, 1.0, 10, 1.0, 10);
    ProfileFactors merged = ProfileFactors.merge(List.of(List.of(decodeOnly), List.of(prefillOnly), List.of(both)),
        20);
    assertThat(merged.decodeTime(TP, 1605)).isCloseTo((1.2 * 30 + 10) / 40, within(1e-9));
    assertThat(merged.power(TP, 1605)).isCloseTo((1.1 * 30 + 10) / 40, within(1e-9));
    assertThat(merged.prefillTime(TP, 1605)).isCloseTo((1.4 * 40 + 10) / 50, within(1e-9));
    assertThat(merged.toString()).contains("prefill x1.320 (50)").contains("time x1.150");
    // a quantity on too few samples is not observed, the other one still is
    ProfileFactors few = ProfileFactors.of(List.of(new io.dynamollm.protocol.InstanceTelemetry.ProfileFactor(4, 1605,
        1.3, 1.3, 5, 1.2, 25)), 20);
    assertThat(few.decodeTime(TP, 1605)).isEqualTo(1.0);
    assertThat(few.prefillTime(TP, 1605)).isEqualTo(1.2);
  }

  @Test
  void thePlannerGivenWhatTheEnginesShowedPlansEnoughToKeepTheSlo() {
    SloTable slos = PROFILE.defaultSlos(5);
    RequestType type = RequestType.MM;
    Mix mix = Mix.single(type, PROFILE.shape(type), slos.of(type));
    ProfileFactors slower = ProfileFactors.uniform(PROFILE, 1.15, 1.0);
    Profile actual = CorrectedProfile.of(PROFILE, slower);
    PoolPlanner planner = new PoolPlanner(PROFILE, DecisionSettings.defaults().planner().withTimeLimitMs(2_000),
        new PoolPlanner.Transitions(ReshardCost.IN_PLACE_NVLINK, 60_000, 230));
    // the load one TP4 instance at 1,605 MHz serves on the profile: on a 15 % slower engine it cannot
    double load = 0.95 * PROFILE.capacityRps(mix, TP, 1605);
    assertThat(actual.capacityRps(mix, TP, 1605)).isLessThan(load);
    PoolPlanner.Request asIs = new PoolPlanner.Request("MM", mix, load, 32, FrequencyBounds.H100_DEFAULT,
        TensorParallelism.PAPER_DEGREES, Optional.empty(), 300, false, java.util.Map.of(), 0);
    PoolPlanner.Request refined = new PoolPlanner.Request("MM", mix, load, 32, FrequencyBounds.H100_DEFAULT,
        TensorParallelism.PAPER_DEGREES, Optional.empty(), 300, false, java.util.Map.of(), 0, slower);
    var planAsIs = planner.plan(asIs).plan();
    var planRefined = planner.plan(refined).plan();
    // each plan's capacity on the engines as they really run
    assertThat(capacityOn(actual, planAsIs, mix)).as("the profile's plan on the slower engines").isLessThan(load);
    assertThat(capacityOn(actual, planRefined, mix)).as("the refined plan").isGreaterThanOrEqualTo(load);
    assertThat(planRefined.predictedPowerW()).isGreaterThan(planAsIs.predictedPowerW());
  }

  private static double capacityOn(Profile p, io.dynamollm.decision.pool.PoolPlan plan, Mix mix) {
    double cap = 0;
    for (var g : plan.groups()) {
      cap += g.instances() * p.capacityRps(mix, g.tp(), g.clockMhz());
    }
    return cap;
  }
}
