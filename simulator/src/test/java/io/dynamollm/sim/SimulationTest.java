package io.dynamollm.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.routing.OutputLengthPredictor;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;

class SimulationTest {
  static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  static final SloTable SLOS = PROFILE.defaultSlos(5);
  static final ClassThresholds T = ClassThresholds.DEFAULT;

  static SimSettings settings(int servers) {
    return new SimSettings(PROFILE, SLOS, T, servers, DecisionSettings.defaults(), 60_000, 420_000,
        ReshardCost.IN_PLACE_NVLINK, 230, OutputLengthPredictor.oracle(T), 1, GridIntensity.constant(400), 2.5, 0.1);
  }

  static Workload of(List<TraceRequest> reqs, double durationMs) {
    return Workload.of("test", reqs, durationMs);
  }

  /** One instance of the given TP and clock serving everything. */
  static SimPolicy fixed(TensorParallelism tp, int mhz) {
    return new SimPolicy() {
      public String name() {
        return "fixed";
      }

      public void start(Simulation sim, Workload w) {
        sim.addInstance(sim.pool("x", RequestType.LL, SLOS.of(RequestType.LL), EnumSet.allOf(RequestType.class)), tp,
            mhz, 0, 1, false);
      }
    };
  }

  @Test
  void aLoneRequestTakesItsPrefillPlusItsDecodeStepsAndTheEnergyAddsUp() {
    // one request at t=0: 1000-token prompt, 101 output tokens, on TP8 at 1980 MHz, then idle until 60 s
    var w = of(List.of(new TraceRequest(0, 0, 1000, 101)), 60_000);
    PolicyResult r = new Simulation(settings(1), fixed(TensorParallelism.TP8, 1980)).run(w);
    double prefill = PROFILE.prefillMs(TensorParallelism.TP8, 1000, 1980);
    assertThat(r.ttftP50Ms()).isCloseTo(prefill, within(0.01));
    assertThat(r.requests()).isEqualTo(1);
    assertThat(r.sloAttainment()).isEqualTo(1.0);
    // 100 decode steps of batch 1 at contexts 1001..1100; TBT is their mean
    double step = PROFILE.decodeStepMs(TensorParallelism.TP8, 1, 1050, 1980);
    assertThat(r.tbtP50Ms()).isCloseTo(step, within(step * 0.02));
    // energy: prefill power during the prefill, decode power during decode, idle power for the rest of the minute
    double decodeMs = 100 * step;
    double expectedJ = 8 * (PROFILE.prefillPowerW(TensorParallelism.TP8, 1000, 1980) * prefill
        + PROFILE.decodePowerW(TensorParallelism.TP8, 1, 1980) * decodeMs
        + PROFILE.idlePowerW() * (60_000 - prefill - decodeMs)) / 1000;
    assertThat(r.energyKwh() * 3.6e6).isCloseTo(expectedJ, within(expectedJ * 0.01));
    assertThat(r.gpuHours()).isCloseTo(8 / 60.0, within(1e-6));
  }

  @Test
  void continuousBatchingSharesDecodeStepsAndLowerClocksSaveEnergy() {
    List<TraceRequest> reqs = new ArrayList<>();
    for (int i = 0; i < 600; i++) {
      reqs.add(new TraceRequest(i, i * 100.0, 300 + (i % 7) * 50, 80 + (i % 5) * 40));
    }
    var fast = new Simulation(settings(1), fixed(TensorParallelism.TP8, 1980)).run(of(reqs, 60_000));
    var slow = new Simulation(settings(1), fixed(TensorParallelism.TP8, 1200)).run(of(reqs, 60_000));
    assertThat(fast.requests()).isEqualTo(600);
    assertThat(slow.requests()).isEqualTo(600);
    assertThat(slow.energyKwh()).isLessThan(fast.energyKwh());
    assertThat(slow.tbtP50Ms()).isGreaterThan(fast.tbtP50Ms());
    // 10 req/s of ~160 output tokens on one TP8: requests overlap, so steps are shared (TBT far below 600 x step)
    assertThat(fast.tbtP99Ms()).isLessThan(60);
  }

  @Test
  void runsAreDeterministic() {
    var w = new SyntheticWorkload(SyntheticWorkload.Kind.CONVERSATION, 0.02, 4, 9);
    var runner = new SimulationRunner(settings(2), () -> OutputLengthPredictor.noisyOracle(T, 0.81,
        OutputLengthPredictor.Confusion.ADJACENT, 3), s -> { });
    var a = runner.run(w, List.of("singlepool", "dynamollm"));
    var b = runner.run(w, List.of("singlepool", "dynamollm"));
    for (String p : List.of("singlepool", "dynamollm")) {
      assertThat(b.policies().get(p).energyKwh()).isEqualTo(a.policies().get(p).energyKwh());
      assertThat(b.policies().get(p).sloAttainment()).isEqualTo(a.policies().get(p).sloAttainment());
    }
  }

  @Test
  void policiesSimulatedSideBySideGiveWhatTheyGiveOneAfterAnotherInTheOrderAsked() {
    var w = new SyntheticWorkload(SyntheticWorkload.Kind.CONVERSATION, 0.02, 4, 9);
    List<String> policies = List.of("dynamollm", "singlepool", "scalefreq", "oracle");
    var one = new SimulationRunner(settings(2), () -> OutputLengthPredictor.noisyOracle(T, 0.81,
        OutputLengthPredictor.Confusion.ADJACENT, 3), s -> { }, SimulationRunner.Provisioning.PEAK, 1.7, 1)
        .run(w, policies);
    var three = new SimulationRunner(settings(2), () -> OutputLengthPredictor.noisyOracle(T, 0.81,
        OutputLengthPredictor.Confusion.ADJACENT, 3), s -> { }, SimulationRunner.Provisioning.PEAK, 1.7, 3)
        .run(w, policies);
    assertThat(three.policies().keySet()).containsExactlyElementsOf(policies);
    for (String p : policies) {
      assertThat(three.policies().get(p).energyKwh()).as(p).isEqualTo(one.policies().get(p).energyKwh());
      assertThat(three.policies().get(p).sloAttainment()).as(p).isEqualTo(one.policies().get(p).sloAttainment());
    }
    assertThatThrownBy(() -> new SimulationRunner(settings(2), () -> OutputLengthPredictor.oracle(T), s -> { },
        SimulationRunner.Provisioning.PEAK, 1.7, 0)).hasMessageContaining("--jobs");
  }

  @Test
  void everyPolicyServesASmallWorkloadAndTheOracleIsLowest() {
    var w = new SyntheticWorkload(SyntheticWorkload.Kind.CONVERSATION, 0.05, 12, 5); // 72 minutes, Monday night
    var runner = new SimulationRunner(settings(0), () -> OutputLengthPredictor.oracle(T), s -> { });
    var report = runner.run(w, Policies.ALL);
    assertThat(report.servers()).isPositive();
    assertThat(report.policies()).containsOnlyKeys(Policies.ALL);
    long requests = report.requestsInWorkload();
    for (PolicyResult r : report.policies().values()) {
      assertThat(r.requests() + r.rejected() + r.dropped()).as(r.name()).isEqualTo(requests);
      assertThat(r.energyKwh()).as(r.name()).isPositive();
      // a GPU is held once: no policy holds more than the cluster, whatever its hand-overs and re-shards (multipool
      // is the one baseline given servers of its own: each of its nine pools sized for its own peak)
      if (!r.name().equals("multipool")) {
        assertThat(r.avgServers()).as(r.name()).isLessThanOrEqualTo(report.servers() + 1e-9);
      }
    }
    // the oracle is a bound: it meets the SLOs, and no policy as good uses less energy
    assertThat(report.boundHolds()).as(report.oracleCheck()).isTrue();
    assertThat(report.policies().get("oracle").sloAttainment()).isGreaterThanOrEqualTo(0.99);
    assertThat(report.policies().get("singlepool").sloAttainment()).isGreaterThanOrEqualTo(0.99);
    assertThat(report.policies().get("multipool").energyKwh())
        .isGreaterThan(report.policies().get("singlepool").energyKwh());
  }

  static PolicyResult result(String name, double kwh, double attainment) {
    return new PolicyResult(name, kwh, 1, 1, 100, 0, 0, attainment, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, new double[0],
        java.util.Map.of(), new long[4][9]);
  }

  @Test
  void aBoundThatMissesTheSlosOrIsBeatenAtEqualAttainmentFailsLoudly() {
    var ok = new java.util.LinkedHashMap<String, PolicyResult>();
    ok.put("singlepool", result("singlepool", 10, 0.995));
    ok.put("oracle", result("oracle", 5, 0.992));
    ok.put("dynamollm", result("dynamollm", 4, 0.98)); // less energy, but worse attainment: no contradiction
    assertThat(SimulationRunner.oracleCheck(ok)).contains("99.20 % attainment");
    var beaten = new java.util.LinkedHashMap<>(ok);
    beaten.put("dynamollm", result("dynamollm", 4, 0.995));
    assertThatThrownBy(() -> SimulationRunner.oracleCheck(beaten))
        .isInstanceOf(SimulationRunner.OracleNotLowerBoundException.class).hasMessageContaining("dynamollm used 4.00 kWh");
    var missing = new java.util.LinkedHashMap<>(ok);
    missing.put("oracle", result("oracle", 5, 0.97));
    assertThatThrownBy(() -> SimulationRunner.oracleCheck(missing)).hasMessageContaining("only 97.00 %");
  }

  @Test
  void autoscaleFollowsTheLoadAndReleasesOnlyAfterAStartUp() {
    // 20 minutes at 2 req/s, 20 at 10 req/s, 20 at 2 req/s
    List<TraceRequest> reqs = new ArrayList<>();
    double t = 0;
    var r = new java.util.SplittableRandom(1);
    while (t < 3_600_000) {
      double rate = t >= 1_200_000 && t < 2_400_000 ? 10 : 2;
      t += -Math.log(1 - r.nextDouble()) / rate * 1000;
      reqs.add(new TraceRequest(reqs.size(), t, 500 + reqs.size() % 700, 80 + reqs.size() % 200));
    }
    var w = of(reqs, 3_600_000);
    var stats = new WorkloadStats(w, T, PROFILE);
    PolicyResult auto = new Simulation(settings(6), Policies.create("autoscale", stats)).run(w);
    PolicyResult single = new Simulation(settings(6), Policies.create("singlepool", stats)).run(w);
    assertThat(auto.scaleChanges()).isPositive();
    assertThat(auto.avgServers()).isLessThan(single.avgServers());
    assertThat(auto.energyKwh()).isLessThan(single.energyKwh());
  }

  @Test
  void provisioningForTheDaysPeakGivesTheClusterMoreServersAndReportsBoth() {
    var w = new SyntheticWorkload(SyntheticWorkload.Kind.CONVERSATION, 0.02, 4, 9); // half an hour: an average hour
    var peak = new SimulationRunner(settings(0), () -> OutputLengthPredictor.oracle(T), s -> { })
        .run(w, List.of("singlepool"));
    var day = new SimulationRunner(settings(0), () -> OutputLengthPredictor.oracle(T), s -> { },
        SimulationRunner.Provisioning.DAY, 3.0, 1).run(w, List.of("singlepool"));
    assertThat(day.servers()).isGreaterThan(peak.servers());
    assertThat(day.policies()).containsKeys("singlepool", "singlepool-peak");
    assertThat(day.policies().get("singlepool-peak").avgServers()).isEqualTo(peak.policies().get("singlepool")
        .avgServers());
    assertThat(day.sizing()).contains("provisioned for the day's peak");
    assertThatThrownBy(() -> SimulationRunner.Provisioning.parse("week")).hasMessageContaining("peak or day");
  }
}
