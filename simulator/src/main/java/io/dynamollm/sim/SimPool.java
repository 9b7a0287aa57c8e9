package io.dynamollm.sim;

import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/** A pool inside the simulator: its instances, the types it serves, its GPU budget and a backlog. */
final class SimPool {
  final Simulation sim;
  final String name;
  RequestType nativeType;
  Set<RequestType> types = EnumSet.noneOf(RequestType.class);
  Slo slo;
  final List<SimInstance> instances = new ArrayList<>();
  final ArrayDeque<SimRequest> backlog = new ArrayDeque<>();
  /** GPUs the pool holds beyond its instances' (idle, counted). */
  int parkedGpus;
  /** GPUs the pool may hold. */
  int budgetGpus;
  PoolPlan plan = PoolPlan.EMPTY;
  /** Requests of this pool completed, and those that missed their SLO, since the pool's last epoch. */
  long epochCompleted;
  long epochMissed;
  /** Online correction of the profile's capacity for this pool: the planner plans for load × correction. */
  io.dynamollm.decision.pool.CapacityCorrection capacityCorrection = io.dynamollm.decision.pool.CapacityCorrection.NONE;

  /** The clock range its instances may use (the live bootstrap pool holds the maximum). */
  io.dynamollm.protocol.FrequencyBounds bounds = io.dynamollm.protocol.FrequencyBounds.H100_DEFAULT;
  /** The load its cluster epoch assigned (native-equivalent req/s), what it plans for without a fresh forecast. */
  double assignedLoadRps;

  /** Native-equivalent work of one request of each type (1 for the native type). */
  double[] workRatio = {1, 1, 1, 1, 1, 1, 1, 1, 1};

  double workOf(SimRequest r) {
    return workRatio[r.routedType.ordinal()];
  }

  SimPool(Simulation sim, String name, RequestType nativeType, Slo slo) {
    this.sim = sim;
    this.name = name;
    this.nativeType = nativeType;
    this.slo = slo;
  }

  /** The ready instance with the least outstanding work per unit of capacity; null when none is ready. */
  SimInstance pick() {
    SimInstance best = null;
    double bestScore = Double.POSITIVE_INFINITY;
    for (SimInstance i : instances) {
      if (!i.acceptsRequests()) {
        continue;
      }
      double score = i.loadScore();
      if (score < bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best;
  }

  int gpusInInstances() {
    int g = 0;
    for (SimInstance i : instances) {
      if (i.state != SimInstance.State.STOPPED) {
        g += i.tp.degree();
      }
    }
    return g;
  }
}
