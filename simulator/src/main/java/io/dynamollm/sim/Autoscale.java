package io.dynamollm.sim;

import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.MixPoint;
import java.util.ArrayDeque;
import java.util.EnumSet;
import java.util.List;

/**
 * What production autoscalers do today (NVIDIA Dynamo's planner, llm-d, AIBrix): one pool of TP8 instances serving
 * every type, at one fixed clock — the best one the profile knows for the workload's mix (the least energy per
 * request at that clock's capacity) — whose instance count follows the load. Every {@value #PERIOD_MS} ms it wants
 * enough instances for the busiest minute of the last {@value #LOOKBACK_MINUTES} minutes, with
 * {@value #HEADROOM}x headroom, at the clock's capacity for the workload's mix; it starts instances at once (they load
 * cold, the start-up time), and stops one only after it has wanted fewer for a start-up time in a row (release
 * hysteresis: a stopped instance would take that long to come back).
 */
final class Autoscale implements SimPolicy {
  static final long PERIOD_MS = 30_000;
  static final int LOOKBACK_MINUTES = 5;
  static final double HEADROOM = 1.1;

  private final WorkloadStats stats;
  private SimPool pool;
  private int clockMhz;
  private double capacity;
  /** Arrivals per minute of the recent past (the autoscaler's only view of the load). */
  private final ArrayDeque<int[]> minutes = new ArrayDeque<>();
  private double lowerSinceMs = Double.NaN;

  Autoscale(WorkloadStats stats) {
    this.stats = stats;
  }

  @Override
  public String name() {
    return "autoscale";
  }

  @Override
  public void start(Simulation sim, Workload workload) {
    SimSettings s = sim.settings();
    pool = sim.pool("all", RequestType.LL, s.slos().of(RequestType.LL), EnumSet.allOf(RequestType.class));
    Mix mix = stats.mix(EnumSet.allOf(RequestType.class), s.slos());
    // the single best fixed clock: least energy per request at its own capacity (planner's margin)
    double best = Double.POSITIVE_INFINITY;
    clockMhz = s.profile().maxClockMhz();
    for (int mhz : s.profile().clockLevelsMhz()) {
      double cap = s.planner().capacityRps(mix, TensorParallelism.TP8, new FrequencyBounds(mhz, mhz));
      if (cap <= 0) {
        continue;
      }
      MixPoint p = s.profile().estimate(mix, TensorParallelism.TP8, mhz, cap);
      if (p.stable() && p.point().energyPerRequestWh() < best) {
        best = p.point().energyPerRequestWh();
        clockMhz = mhz;
      }
    }
    capacity = s.planner().capacityRps(mix, TensorParallelism.TP8, new FrequencyBounds(clockMhz, clockMhz));
    // a recorded trace starts on a running cluster: as many instances as its first minutes need
    int first = want(stats.peakWeighted(new double[] {1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 0, LOOKBACK_MINUTES), s);
    for (int i = 0; i < first; i++) {
      sim.addInstance(pool, TensorParallelism.TP8, clockMhz, 0, capacity, false);
    }
    sim.every(PERIOD_MS, PERIOD_MS, now -> scale(sim, now));
  }

  @Override
  public void observeArrival(double nowMs, SimRequest r) {
    long minute = (long) (nowMs / 60_000);
    if (minutes.isEmpty() || minutes.peekLast()[0] != minute) {
      minutes.addLast(new int[] {(int) minute, 0});
      while (minutes.size() > LOOKBACK_MINUTES + 1) {
        minutes.pollFirst();
      }
    }
    minutes.peekLast()[1]++;
  }

  private int want(double rps, SimSettings s) {
    return Math.max(1, Math.min(s.servers(), (int) Math.ceil(rps * HEADROOM / Math.max(capacity, 1e-9) - 1e-9)));
  }

  private void scale(Simulation sim, double now) {
    SimSettings s = sim.settings();
    long minute = (long) (now / 60_000);
    double peak = 0;
    for (int[] m : minutes) {
      if (m[0] > minute - LOOKBACK_MINUTES - 1) {
        // the minute under way counts for what has arrived of it so far
        double len = m[0] == minute ? Math.max(1, (now - minute * 60_000.0) / 1000) : 60;
        peak = Math.max(peak, m[1] / len);
      }
    }
    int want = want(peak, s);
    List<SimInstance> live = pool.instances.stream()
        .filter(i -> i.state == InstanceState.READY || i.state == InstanceState.STARTING).toList();
    if (want > live.size()) {
      lowerSinceMs = Double.NaN;
      for (int k = live.size(); k < want; k++) {
        sim.addInstance(pool, TensorParallelism.TP8, clockMhz, s.startupMs(), capacity, true);
      }
    } else if (want < live.size()) {
      if (Double.isNaN(lowerSinceMs)) {
        lowerSinceMs = now;
      } else if (now - lowerSinceMs >= s.startupMs()) {
        live.stream().filter(i -> i.state == InstanceState.READY).reduce((a, b) -> b)
            .ifPresent(i -> sim.removeInstance(i, true));
        lowerSinceMs = now; // one at a time, each after another start-up time of lower load
      }
    } else {
      lowerSinceMs = Double.NaN;
    }
    sim.updateParked(pool, 0);
  }
}
