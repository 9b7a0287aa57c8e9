package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.Slo;

/**
 * What a profile predicts for one instance serving one request type at a steady load.
 *
 * @param loadRps offered load, requests per second, into this instance
 * @param stable whether the instance keeps up at all (prefill utilisation below 1, batch and KV cache within limits);
 *     when false the latencies are infinite and the instance cannot serve this load
 * @param ttftP99Ms predicted p99 time to first token
 * @param tbtP99Ms predicted p99 of a request's mean time between tokens
 * @param powerPerGpuW mean power of each of the instance's GPUs
 * @param energyPerRequestWh energy of the whole instance (all its GPUs) per request served
 * @param meanDecodeBatch mean number of requests in the decode batch
 * @param prefillUtilization fraction of time spent in prefill iterations
 */
public record LoadPoint(
    double loadRps,
    boolean stable,
    double ttftP99Ms,
    double tbtP99Ms,
    double powerPerGpuW,
    double energyPerRequestWh,
    double meanDecodeBatch,
    double prefillUtilization) {

  /** Whether this point is stable and within the SLO. */
  public boolean meets(Slo slo) {
    return stable && slo.isMetBy(ttftP99Ms, tbtP99Ms);
  }

  static LoadPoint unstable(double loadRps) {
    return new LoadPoint(
        loadRps, false, Double.POSITIVE_INFINITY, Double.POSITIVE_INFINITY, Double.NaN, Double.NaN, Double.NaN, 1.0);
  }
}
