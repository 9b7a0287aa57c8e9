package io.dynamollm.protocol;

import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Cluster manager → pool manager, once per cluster epoch (and again when the pool gets GPUs between epochs): what the
 * pool may use and what it must serve. A pool manager ignores a budget of an older epoch than the last it applied.
 *
 * @param pool the pool's name (the request type it is native to, e.g. "SS")
 * @param epoch cluster epoch number, increasing
 * @param gpus how many GPUs the pool may hold (0: the pool is no longer needed and drains)
 * @param nativeType the type the pool's instances are sized for (the largest type it serves)
 * @param types the request types the pool serves: its own plus those merged into it
 * @param forecastPeakRps forecast peak load of the coming epoch per type served, requests per second
 * @param nativeLoadRps the same load in native-equivalent requests per second (what the pool plans for)
 * @param slos the SLO of each type served
 * @param frequencyBounds clock range the pool's instances may use
 */
public record PoolBudget(
    String pool,
    long epoch,
    int gpus,
    RequestType nativeType,
    Set<RequestType> types,
    Map<RequestType, Double> forecastPeakRps,
    double nativeLoadRps,
    Map<RequestType, Slo> slos,
    FrequencyBounds frequencyBounds)
    implements CborSerializable {

  public PoolBudget {
    Objects.requireNonNull(pool, "pool");
    Objects.requireNonNull(nativeType, "nativeType");
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
    if (!slos.keySet().containsAll(types) || !slos.containsKey(nativeType)) {
      throw new IllegalArgumentException("every type served and the native type need an SLO; have " + slos.keySet()
          + ", serve " + types + ", native " + nativeType);
    }
    forecastPeakRps.forEach((t, rps) -> {
      if (!Double.isFinite(rps) || rps < 0) {
        throw new IllegalArgumentException("forecast load of " + t + " must be finite and >= 0, got " + rps);
      }
    });
    if (!Double.isFinite(nativeLoadRps) || nativeLoadRps < 0) {
      throw new IllegalArgumentException("native load must be finite and >= 0, got " + nativeLoadRps);
    }
  }

  /** The SLO the pool's instances are sized for (its native type's). */
  public Slo nativeSlo() {
    return slos.get(nativeType);
  }

  /** The same budget with {@code more} GPUs and the load {@code nativeLoad} (a top-up between cluster epochs). */
  public PoolBudget withGpus(int total, double nativeLoad) {
    return new PoolBudget(pool, epoch, total, nativeType, types, forecastPeakRps, nativeLoad, slos, frequencyBounds);
  }

  /** A budget of no GPUs: the pool drains. */
  public static PoolBudget retire(String pool, long epoch, Slo slo, FrequencyBounds bounds) {
    return new PoolBudget(pool, epoch, 0, RequestType.LL, Set.of(), Map.of(), 0, Map.of(RequestType.LL, slo), bounds);
  }
}
