package io.dynamollm.protocol;

import java.util.Map;
import java.util.Objects;

/**
 * Pool manager → cluster manager: the pool's load, attainment and energy.
 *
 * @param pool the pool
 * @param atMillis when aggregated
 * @param loadRps observed load per request type served, requests per second
 * @param sloAttainment fraction of the requests completed in the window that met both their TTFT and TBT SLO
 * @param powerW sum of the pool's instances' power
 * @param energyJ energy of the pool's instances since the pool was created
 * @param instances number of instances the pool holds
 * @param gpus number of GPUs the pool holds
 * @param forecastLoadRps the load the pool was asked to plan for (budget or forecast), requests per second
 * @param plannedLoadRps the load the pool's current plan is for (that forecast times its capacity correction, applied
 *     once), requests per second
 * @param capacityRps what the current plan carries within the SLO; below {@code plannedLoadRps} the budget is short
 * @param capacityCorrection the multiple of its forecast the pool plans for, learned from its SLO misses (1 = the
 *     profile's capacity holds)
 */
public record PoolTelemetry(
    String pool,
    long atMillis,
    Map<RequestType, Double> loadRps,
    double sloAttainment,
    double powerW,
    double energyJ,
    int instances,
    int gpus,
    double forecastLoadRps,
    double plannedLoadRps,
    double capacityRps,
    double capacityCorrection)
    implements CborSerializable {

  public PoolTelemetry {
    Objects.requireNonNull(pool, "pool");
    loadRps = Map.copyOf(loadRps);
    if (sloAttainment < 0 || sloAttainment > 1 || Double.isNaN(sloAttainment)) {
      throw new IllegalArgumentException("SLO attainment is a fraction in [0, 1], got " + sloAttainment);
    }
    if (!(forecastLoadRps >= 0) || !(plannedLoadRps >= 0) || !(capacityRps >= 0)) {
      throw new IllegalArgumentException("forecast, planned load and capacity are rates >= 0, got " + forecastLoadRps
          + ", " + plannedLoadRps + " and " + capacityRps);
    }
    if (!(capacityCorrection >= 1) || Double.isInfinite(capacityCorrection)) {
      throw new IllegalArgumentException("a capacity correction is a finite factor >= 1, got " + capacityCorrection);
    }
  }

  /** Whether the pool's plan carries less than it plans for (more GPUs would help). */
  public boolean shortOfCapacity() {
    return isShort(capacityRps, plannedLoadRps);
  }

  /** A plan carrying {@code capacityRps} is short of {@code plannedLoadRps} (2 % tolerance for the planner's steps). */
  public static boolean isShort(double capacityRps, double plannedLoadRps) {
    return capacityRps < plannedLoadRps * 0.98;
  }
}
