package io.dynamollm.sim;

import io.dynamollm.decision.routing.OutputLengthPredictor;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Profile;

/**
 * Everything a simulation run is configured with.
 *
 * @param profile energy-performance profile
 * @param slos SLO per type
 * @param thresholds length classes
 * @param servers 8-GPU servers every policy may use
 * @param clusterEpochMs cluster manager period (default 30 min)
 * @param poolEpochMs pool manager period (default 5 min)
 * @param instanceEpochMs frequency governor period (default 5 s)
 * @param oracleWindowMs oracle re-configuration window (default 1 min)
 * @param startupMs cold start of a new instance (default 7 min; the paper: 6–8)
 * @param reshardCost TP change cost preset
 * @param transitionPowerW power per GPU while an instance starts or re-shards
 * @param predictor output-length predictor for the policies that route by type
 * @param seed random seed (workload, predictor noise)
 * @param grid grid carbon intensity over time
 * @param gpuHourUsd price of one GPU-hour (servers rented by the GPU)
 * @param kwhUsd price of one kWh
 * @param mixPenalty how much more a request of a type other than a pool's native one costs than the profile's
 *     capacity ratio says (queueing behind other types' prompts); calibrated by the runner's sizing step
 */
public record SimSettings(
    Profile profile,
    SloTable slos,
    ClassThresholds thresholds,
    int servers,
    long clusterEpochMs,
    long poolEpochMs,
    long instanceEpochMs,
    long oracleWindowMs,
    long startupMs,
    ReshardCost reshardCost,
    double transitionPowerW,
    OutputLengthPredictor predictor,
    long seed,
    GridIntensity grid,
    double gpuHourUsd,
    double kwhUsd,
    double mixPenalty) {

  public SimSettings withServers(int n) {
    return new SimSettings(profile, slos, thresholds, n, clusterEpochMs, poolEpochMs, instanceEpochMs, oracleWindowMs,
        startupMs, reshardCost, transitionPowerW, predictor, seed, grid, gpuHourUsd, kwhUsd, mixPenalty);
  }

  public SimSettings withMixPenalty(double p) {
    return new SimSettings(profile, slos, thresholds, servers, clusterEpochMs, poolEpochMs, instanceEpochMs,
        oracleWindowMs, startupMs, reshardCost, transitionPowerW, predictor, seed, grid, gpuHourUsd, kwhUsd, p);
  }

  public SimSettings withPredictor(OutputLengthPredictor p) {
    return new SimSettings(profile, slos, thresholds, servers, clusterEpochMs, poolEpochMs, instanceEpochMs,
        oracleWindowMs, startupMs, reshardCost, transitionPowerW, p, seed, grid, gpuHourUsd, kwhUsd,
        mixPenalty);
  }
}
