package io.dynamollm.protocol;

import io.dynamollm.protocol.profile.TypeShape;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Cluster manager → pool manager, once per cluster epoch (and again when the pool gets GPUs between epochs): what the
 * pool may use and what it must serve. A pool manager ignores a budget of an older epoch than the last it applied.
 *
 * @param pool the pool's name (its largest request type, e.g. "SS")
 * @param epoch cluster epoch number, increasing
 * @param gpus how many GPUs the pool may hold (0: the pool is no longer needed and drains)
 * @param nativeType the largest type the pool serves (it names the pool; a request of a type without a pool of its
 *     own overflows to a pool whose largest type covers it)
 * @param types the request types the pool serves
 * @param forecastPeakRps forecast load of the coming epoch per type served, requests per second: the shares of the
 *     pool's mix
 * @param loadRps the load the pool plans for, requests per second: the forecast with its bursts and headroom
 * @param slos the SLO of each type served
 * @param shapes the lengths of each type served (learned from completed requests)
 * @param frequencyBounds clock range the pool's instances may use
 * @param powerCapW the most GPU power the pool's plan may draw, W, its share of the operator's watt budget (the
 *     planner carries as much of the load as fits under it); 0: no cap
 */
public record PoolBudget(
    String pool,
    long epoch,
    int gpus,
    RequestType nativeType,
    Set<RequestType> types,
    Map<RequestType, Double> forecastPeakRps,
    double loadRps,
    Map<RequestType, Slo> slos,
    Map<RequestType, TypeShape> shapes,
    FrequencyBounds frequencyBounds,
    double powerCapW)
    implements CborSerializable {

  /** A budget without a power cap. */
  public PoolBudget(String pool, long epoch, int gpus, RequestType nativeType, Set<RequestType> types,
      Map<RequestType, Double> forecastPeakRps, double loadRps, Map<RequestType, Slo> slos,
      Map<RequestType, TypeShape> shapes, FrequencyBounds frequencyBounds) {
    this(pool, epoch, gpus, nativeType, types, forecastPeakRps, loadRps, slos, shapes, frequencyBounds, 0);
  }

  public PoolBudget {
    Objects.requireNonNull(pool, "pool");
    Objects.requireNonNull(nativeType, "nativeType");
    Objects.requireNonNull(frequencyBounds, "frequencyBounds");
    types = Set.copyOf(types);
    forecastPeakRps = Map.copyOf(forecastPeakRps);
    slos = Map.copyOf(slos);
    shapes = Map.copyOf(shapes);
    if (gpus < 0) {
      throw new IllegalArgumentException("a pool's GPU budget must not be negative, got " + gpus);
    }
    if (!types.containsAll(forecastPeakRps.keySet())) {
      throw new IllegalArgumentException("forecast for types the pool does not serve: " + forecastPeakRps.keySet());
    }
    if (!slos.keySet().containsAll(types) || !shapes.keySet().containsAll(types)) {
      throw new IllegalArgumentException("every type served needs an SLO and lengths; have SLOs for " + slos.keySet()
          + ", lengths for " + shapes.keySet() + ", serve " + types);
    }
    forecastPeakRps.forEach((t, rps) -> {
      if (!Double.isFinite(rps) || rps < 0) {
        throw new IllegalArgumentException("forecast load of " + t + " must be finite and >= 0, got " + rps);
      }
    });
    if (!Double.isFinite(loadRps) || loadRps < 0) {
      throw new IllegalArgumentException("the load to plan for must be finite and >= 0, got " + loadRps);
    }
    if (!Double.isFinite(powerCapW) || powerCapW < 0) {
      throw new IllegalArgumentException("a pool's power cap must be finite and >= 0 W (0: none), got " + powerCapW);
    }
  }

  /** Whether the pool plans under a power cap. */
  public boolean capped() {
    return powerCapW > 0;
  }

  /** The same budget under the power cap {@code watts} (0: none). */
  public PoolBudget withPowerCap(double watts) {
    return new PoolBudget(pool, epoch, gpus, nativeType, types, forecastPeakRps, loadRps, slos, shapes,
        frequencyBounds, watts);
  }

  /** The same budget with the clock range {@code bounds} (the power governor lowers a pool's ceiling). */
  public PoolBudget withBounds(FrequencyBounds bounds) {
    return new PoolBudget(pool, epoch, gpus, nativeType, types, forecastPeakRps, loadRps, slos, shapes, bounds,
        powerCapW);
  }

  /** The pool's mix: its types weighted by their forecasts (alike when none has one). */
  public MixSpec mix() {
    Map<RequestType, Double> w = new HashMap<>();
    for (RequestType t : types) {
      w.put(t, forecastPeakRps.getOrDefault(t, 0.0));
    }
    return new MixSpec(w, shapes, slos);
  }

  /** The same budget with {@code total} GPUs and the load {@code load} (a top-up between cluster epochs). */
  public PoolBudget withGpus(int total, double load) {
    return new PoolBudget(pool, epoch, total, nativeType, types, forecastPeakRps, load, slos, shapes,
        frequencyBounds, powerCapW);
  }

  /** A budget of no GPUs: the pool drains. */
  public static PoolBudget retire(String pool, long epoch, FrequencyBounds bounds) {
    return new PoolBudget(pool, epoch, 0, RequestType.LL, Set.of(), Map.of(), 0, Map.of(), Map.of(), bounds);
  }

  /** Whether this is a retirement (no GPUs, no types). */
  public boolean retired() {
    return gpus == 0 && types.isEmpty();
  }
}
