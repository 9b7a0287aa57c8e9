package io.dynamollm.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.routing.OutputLengthPredictor;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Llama2H100Profile;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;

class SimulationTest {
  static final Profile PROFILE = MemoizedProfile.of(new Llama2H100Profile());
  static final SloTable SLOS = PROFILE.defaultSlos(5);
  static final ClassThresholds T = ClassThresholds.DEFAULT;

  static SimSettings settings(int servers) {
    return new SimSettings(PROFILE, SLOS, T, servers, DecisionSettings.defaults(), 60_000, 420_000,
        ReshardCost.IN_PLACE_NVLINK, 230, OutputLengthPredictor.oracle(T), 1, GridIntensity.constant(400), 2.5, 0.1, 1);
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
    }
    assertThat(report.oracleCheck()).isEqualTo("oracle used the least energy of all policies");
    assertThat(report.policies().get("singlepool").sloAttainment()).isGreaterThanOrEqualTo(0.99);
    assertThat(report.policies().get("multipool").energyKwh())
        .isGreaterThan(report.policies().get("singlepool").energyKwh());
  }
}
