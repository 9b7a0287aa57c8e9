package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.TensorParallelism;

/**
 * One (TP, clock) cell of a profile table: the load point one instance of that configuration reaches, and whether it
 * meets the type's SLO.
 *
 * @param tp tensor parallelism
 * @param clockMhz GPU clock
 * @param feasible stable and within the SLO
 * @param point the load point (latencies infinite when the instance cannot keep up)
 * @param capacityRps the most requests per second one instance of this configuration serves within the SLO
 * @param energyAtCapacityWh energy per request when running at that capacity (NaN when the capacity is 0): the
 *     configuration's best-case efficiency, U-shaped in the clock
 */
public record ConfigEstimate(
    TensorParallelism tp,
    int clockMhz,
    boolean feasible,
    LoadPoint point,
    double capacityRps,
    double energyAtCapacityWh) {

  public double energyWh() {
    return point.energyPerRequestWh();
  }
}
