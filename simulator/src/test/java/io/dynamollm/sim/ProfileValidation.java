package io.dynamollm.sim;
import io.dynamollm.decision.routing.OutputLengthPredictor;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.*;
import io.dynamollm.protocol.profile.*;
import java.nio.file.*;
import java.util.*;
/**
 * Compares the profile's load model with the simulator: one instance of a type at 50, 80 and 100 % of the model's
 * capacity, Poisson arrivals with the trace's own request lengths of that type, 30 simulated minutes. Not a test (it
 * prints numbers for docs/profile.md); run with scripts/validate-profile.sh TRACE TYPE:TP:MHZ ...
 */
public class ProfileValidation {
  public static void main(String[] a) {
    Profile p = MemoizedProfile.of(Profiles.h100());
    SloTable slos = p.defaultSlos(5);
    ClassThresholds t = ClassThresholds.DEFAULT;
    var trace = AzureTraceWorkload.read(Path.of(a[0]), 1.0, 0, 0);
    Map<RequestType, List<int[]>> byType = new EnumMap<>(RequestType.class);
    for (TraceRequest r : trace) { if (r.promptTokens() + r.outputTokens() > 8192) continue; byType.computeIfAbsent(t.typeOf(r.promptTokens(), r.outputTokens()), k -> new ArrayList<>()).add(new int[]{r.promptTokens(), r.outputTokens()}); }
    for (String spec : java.util.Arrays.copyOfRange(a, 1, a.length)) {
      String[] f = spec.split(":");
      RequestType type = RequestType.valueOf(f[0]); TensorParallelism tp = TensorParallelism.of(Integer.parseInt(f[1])); int mhz = Integer.parseInt(f[2]);
      Slo slo = slos.of(type);
      double cap = p.capacityRps(type, tp, mhz, slo);
      for (double frac : new double[]{0.5, 0.8, 1.0}) {
        double rps = cap * frac;
        List<int[]> pool = byType.get(type);
        SplittableRandom rnd = new SplittableRandom(7);
        List<TraceRequest> reqs = new ArrayList<>(); double tt = 0; long id = 0;
        while (tt < 1_800_000) { tt += -Math.log(1 - rnd.nextDouble()) / rps * 1000; int[] x = pool.get(rnd.nextInt(pool.size())); reqs.add(new TraceRequest(id++, tt, x[0], x[1])); }
        Workload w = Workload.of("v", reqs, 1_800_000);
        SimSettings s = new SimSettings(p, slos, t, 1, io.dynamollm.decision.DecisionSettings.defaults(), 60_000, 420_000, ReshardCost.IN_PLACE_NVLINK, 230, OutputLengthPredictor.oracle(t), 1, GridIntensity.constant(400), 2.5, 0.1);
        SimPolicy fixed = new SimPolicy() { public String name() { return "fixed"; }
          public void start(Simulation sim, Workload wl) { sim.addInstance(sim.pool("x", type, slo, EnumSet.of(type)), tp, mhz, 0, 1, false); } };
        var res = new Simulation(s, fixed).run(w);
        var est = p.estimate(type, tp, mhz, rps);
        System.out.printf("%s %s@%d load %.2f (%.0f%% of cap): sim ttft p99 %.0f tbt p99 %.1f att %.3f | model ttft %.0f tbt %.1f | slo %.0f/%.1f | sim %.0f W/gpu model %.0f%n", type, tp, mhz, rps, frac*100, res.ttftP99Ms(), res.tbtP99Ms(), res.sloAttainment(), est.ttftP99Ms(), est.tbtP99Ms(), slo.ttftP99Ms(), slo.tbtP99Ms(), res.energyKwh()*3.6e6/1800/tp.degree(), est.powerPerGpuW());
      }
    }
  }
}
