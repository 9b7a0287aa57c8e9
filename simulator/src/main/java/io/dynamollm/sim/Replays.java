package io.dynamollm.sim;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.routing.OutputLengthPredictor;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import java.util.EnumSet;
import java.util.List;

/**
 * Replays explicit requests through the simulator: one fixed instance, or one policy with the live control plane's
 * time scales — what the live-versus-simulator agreement checks compare against.
 */
public final class Replays {
  private Replays() {}

  /** What one fixed instance did in the simulator. */
  public record Outcome(double energyKwh, double ttftP50Ms, double tbtP50Ms, long served) {}

  /** One instance of {@code tp} at {@code mhz}, serving every request, for {@code durationMs}. */
  public static Outcome fixedInstance(Profile p, RequestType type, TensorParallelism tp, int mhz, List<TraceRequest> reqs,
      double durationMs) {
    SloTable slos = p.defaultSlos(5);
    Slo slo = slos.of(type);
    ClassThresholds t = ClassThresholds.DEFAULT;
    Workload w = Workload.of("replay", reqs, durationMs);
    SimSettings s = new SimSettings(p, slos, t, 1, DecisionSettings.defaults(), 60_000, 420_000,
        ReshardCost.IN_PLACE_NVLINK, p.loadingPowerW(), OutputLengthPredictor.oracle(t), 1, GridIntensity.constant(400),
        2.5, 0.1);
    SimPolicy fixed = new SimPolicy() {
      public String name() {
        return "fixed";
      }

      public void start(Simulation sim, Workload wl) {
        sim.addInstance(sim.pool("x", type, slo, EnumSet.allOf(RequestType.class)), tp, mhz, 0, 1, false);
      }
    };
    PolicyResult r = new Simulation(s, fixed).run(w);
    return new Outcome(r.energyKwh(), r.ttftP50Ms(), r.tbtP50Ms(), r.requests());
  }

  /**
   * What a policy did in the simulator, with the energy of every GPU of the cluster: the simulator counts only the
   * GPUs a policy holds, so the others are added at idle power (a live cluster's GPUs all draw power).
   */
  public record ClusterOutcome(double energyKwh, double allGpusEnergyKwh, double attainment, long served,
      long scaleChanges, long reshards, long frequencyChanges, double[] powerPerMinuteW) {}

  /**
   * {@code policy} on {@code servers} 8-GPU servers as the live control plane runs: its decision settings, engine
   * start-up {@code startupMs}, TP changes as restarts of that length (start new, drain old), the online predictor.
   */
  public static ClusterOutcome runLikeLive(Profile p, DecisionSettings decisions, String policy, int servers,
      List<TraceRequest> reqs, double durationMs, long startupMs) {
    SloTable slos = p.defaultSlos(5);
    ClassThresholds t = ClassThresholds.DEFAULT;
    Workload w = Workload.of("replay", reqs, durationMs);
    SimSettings s = new SimSettings(p, slos, t, servers, decisions, 60_000, startupMs,
        ReshardCost.restart(startupMs), p.loadingPowerW(), new io.dynamollm.decision.routing.OnlineOutputPredictor(t), 1,
        GridIntensity.constant(400), 2.5, 0.1);
    PolicyResult r = new Simulation(s, Policies.create(policy, new WorkloadStats(w, t, p))).run(w);
    double hours = durationMs / 3.6e6;
    double unheldGpuHours = Math.max(0, servers * 8 * hours - r.gpuHours());
    return new ClusterOutcome(r.energyKwh(), r.energyKwh() + unheldGpuHours * p.idlePowerW() / 1000, r.sloAttainment(),
        r.requests(), r.scaleChanges(), r.reshards(), r.frequencyChanges(), r.powerSeriesW());
  }
}
