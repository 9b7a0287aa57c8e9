package io.dynamollm.sim;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;

/** Nine static pools, one per (predicted) type, each TP8 at the maximum clock and sized for its own peak. */
final class MultiPool implements SimPolicy {
  private final WorkloadStats stats;
  private final Map<RequestType, SimPool> pools = new EnumMap<>(RequestType.class);
  private SimPool largest;

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
      double cap = p.capacityRps(t, TensorParallelism.TP8, max, Policies.margin(slo, 0.9));
      int n = Math.max(1, (int) Math.ceil(peak / Math.max(cap, 1e-9) - 1e-9));
      for (int i = 0; i < n; i++) {
        sim.addInstance(pool, TensorParallelism.TP8, max, 0, false).capacityRps = cap;
      }
      Policies.updateParked(sim, pool, n * 8);
      pools.put(t, pool);
      largest = pool;
    }
  }

  @Override
  public SimPool poolFor(RequestType type) {
    SimPool p = pools.get(type);
    if (p != null) {
      return p;
    }
    // no pool for this type (it had no requests when sizing): the smallest pool that covers it
    SimPool best = null;
    for (var e : pools.entrySet()) {
      if (e.getKey().covers(type) && (best == null || e.getKey().compareTo(best.nativeType) < 0)) {
        best = e.getValue();
      }
    }
    return best != null ? best : largest;
  }
}
