package io.dynamollm.protocol;

import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Cluster manager → pool manager, once per cluster epoch: what the pool may use and what it must serve.
 *
 * @param pool the pool's name (the request type it is native to, e.g. "SS")
 * @param epoch cluster epoch number, increasing
 * @param gpus how many GPUs the pool may hold
 * @param types the request types the pool serves: its own plus those merged into it
 * @param forecastPeakRps forecast peak load of the coming epoch per type served, requests per second
 * @param slos the SLO of each type served
 * @param frequencyBounds clock range the pool's instances may use
 */
public record PoolBudget(
    String pool,
    long epoch,
    int gpus,
    Set<RequestType> types,
    Map<RequestType, Double> forecastPeakRps,
    Map<RequestType, Slo> slos,
    FrequencyBounds frequencyBounds)
    implements Constraint {

  public PoolBudget {
    Objects.requireNonNull(pool, "pool");
    Objects.requireNonNull(frequencyBounds, "frequencyBounds");
    types = Set.copyOf(types);
    forecastPeakRps = Map.copyOf(forecastPeakRps);
    slos = Map.copyOf(slos);
    if (gpus < 0) {
      throw new IllegalArgumentException("a pool's GPU budget must not be negative, got " + gpus);
    }
    if (!types.containsAll(forecastPeakRps.keySet())) {
      throw new IllegalArgumentException("forecast for types the pool does not serve: " + forecastPeakRps.keySet());
    }
    if (!slos.keySet().containsAll(types)) {
      throw new IllegalArgumentException("every type served needs an SLO; have " + slos.keySet() + ", serve " + types);
    }
    forecastPeakRps.forEach((t, rps) -> {
      if (!Double.isFinite(rps) || rps < 0) {
        throw new IllegalArgumentException("forecast load of " + t + " must be finite and >= 0, got " + rps);
      }
    });
  }
}
