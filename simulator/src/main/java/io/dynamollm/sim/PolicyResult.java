package io.dynamollm.sim;

import java.util.List;
import java.util.Map;

/**
 * One policy's measured outcome on one workload.
 *
 * @param name policy name
 * @param energyKwh GPU energy
 * @param gpuHours GPU-hours held (instances, starting and re-sharding ones, parked budget GPUs)
 * @param avgServers GPU-hours / 8 / hours, over the run (until the last request finished)
 * @param requests requests served (completed)
 * @param rejected requests refused at admission (longer than the maximum context)
 * @param dropped requests the emergency ladder dropped past their deadline
 * @param sloAttainment fraction of completed (and dropped) requests that met both their TTFT and TBT SLO
 * @param ttftP50Ms median TTFT
 * @param ttftP99Ms p99 TTFT
 * @param tbtP50Ms median TBT
 * @param tbtP99Ms p99 TBT
 * @param powerP50W median of the per-minute cluster power
 * @param powerP99W p99 of the per-minute cluster power
 * @param scaleChanges instances started or stopped by a controller
 * @param reshards TP changes
 * @param frequencyChanges clock changes
 * @param carbonKg operational CO2 of the energy, minute by minute at the grid's intensity
 * @param costUsd GPU-hours × price + energy × price
 * @param powerSeriesW cluster power per minute
 * @param poolSeries per pool, per minute: {minute, instances, GPUs, mean TP, mean clock}
 * @param byType per true type: {served, met, TTFT misses, TBT misses}, rows in that order
 */
public record PolicyResult(
    String name,
    double energyKwh,
    double gpuHours,
    double avgServers,
    long requests,
    long rejected,
    long dropped,
    double sloAttainment,
    double ttftP50Ms,
    double ttftP99Ms,
    double tbtP50Ms,
    double tbtP99Ms,
    double powerP50W,
    double powerP99W,
    long scaleChanges,
    long reshards,
    long frequencyChanges,
    double carbonKg,
    double costUsd,
    double[] powerSeriesW,
    Map<String, List<double[]>> poolSeries,
    long[][] byType) {

  /** The same outcome under another name. */
  PolicyResult named(String newName) {
    return new PolicyResult(newName, energyKwh, gpuHours, avgServers, requests, rejected, dropped, sloAttainment,
        ttftP50Ms, ttftP99Ms, tbtP50Ms, tbtP99Ms, powerP50W, powerP99W, scaleChanges, reshards, frequencyChanges,
        carbonKg, costUsd, powerSeriesW, poolSeries, byType);
  }

  static PolicyResult of(String name, SimSettings s, Metrics m, double endMs, double durationMs) {
    double kwh = m.energyJ / 3.6e6;
    double gpuHours = m.gpuMs / 3.6e6;
    // GPUs are held until the last request finishes: average over that whole time, not only the workload's span
    // (a trace of a few rows lasts milliseconds)
    double hours = Math.max(endMs, durationMs) / 3.6e6;
    double[] power = m.powerSeries(durationMs);
    double[] sorted = power.clone();
    java.util.Arrays.sort(sorted);
    double p50 = sorted.length == 0 ? 0 : sorted[Math.max(0, (int) Math.ceil(0.5 * sorted.length) - 1)];
    double p99 = sorted.length == 0 ? 0 : sorted[Math.max(0, (int) Math.ceil(0.99 * sorted.length) - 1)];
    long judged = m.served + m.dropped;
    double attainment = judged == 0 ? Double.NaN : (double) m.met / judged;
    return new PolicyResult(name, kwh, gpuHours, gpuHours / 8 / hours, m.served, m.rejected, m.dropped, attainment,
        m.percentile(true, 0.5), m.percentile(true, 0.99), m.percentile(false, 0.5), m.percentile(false, 0.99), p50, p99,
        m.scaleChanges, m.reshards, m.frequencyChanges, s.grid().carbonKg(power),
        gpuHours * s.gpuHourUsd() + kwh * s.kwhUsd(), power, Map.copyOf(m.poolSeries),
        new long[][] {m.servedByType.clone(), m.metByType.clone(), m.ttftMissByType.clone(), m.tbtMissByType.clone()});
  }
}
