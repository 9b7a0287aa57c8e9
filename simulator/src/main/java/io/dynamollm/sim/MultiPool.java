package io.dynamollm.sim;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import java.util.Set;

/** Nine static pools, one per (predicted) type, each TP8 at the maximum clock and sized for its own peak. */
final class MultiPool implements SimPolicy {
  private final WorkloadStats stats;

  MultiPool(WorkloadStats stats) {
    this.stats = stats;
  }

  @Override
  public String name() {
    return "multipool";
  }

  @Override
  public boolean usesPrediction() {
    return true;
  }

  @Override
  public void start(Simulation sim, Workload workload) {
    SimSettings s = sim.settings();
    Profile p = s.profile();
    int max = p.maxClockMhz();
    for (RequestType t : RequestType.values()) {
      double peak = stats.peak(t, 1);
      boolean any = false;
      for (int m = 0; m < stats.minutes && !any; m++) {
        any = stats.perMinute[t.ordinal()][m] > 0;
      }
      if (!any) {
        continue;
      }
      Slo slo = s.slos().of(t);
      SimPool pool = sim.pool(t.name(), t, slo, Set.of(t));
      double cap = Policies.capacity(s, stats.mix(Set.of(t), s.slos()), TensorParallelism.TP8);
      int n = Math.max(1, (int) Math.ceil(peak / Math.max(cap, 1e-9) - 1e-9));
      for (int i = 0; i < n; i++) {
        sim.addInstance(pool, TensorParallelism.TP8, max, 0, cap, false);
      }
      sim.updateParked(pool, n * 8);
    }
    // a type that had no requests when sizing has no pool: the routing rule sends it to a larger one
  }
}
