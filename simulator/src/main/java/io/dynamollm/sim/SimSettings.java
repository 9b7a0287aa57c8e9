package io.dynamollm.sim;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.decision.routing.OutputLengthPredictor;
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
 * @param decisions the decisions' tuning and epochs ({@code dynamollm.decisions}, the live node's too)
 * @param oracleWindowMs oracle re-configuration window (default 1 min)
 * @param startupMs cold start of a new instance (default 7 min; the paper: 6–8)
 * @param reshardCost TP change cost preset (in place over NVLink, or an engine restart)
 * @param transitionPowerW power per GPU while an instance starts or re-shards
 * @param predictor output-length predictor for the policies that route by type
 * @param seed random seed (workload, predictor noise)
 * @param grid grid carbon intensity over time
 * @param gpuHourUsd price of one GPU-hour (servers rented by the GPU)
 * @param kwhUsd price of one kWh
 * @param powerBudgetW the operator's watt budget for the DynamoLLM policy, W (0: none; the live
 *     {@code power_budget_w})
 */
public record SimSettings(
    Profile profile,
    SloTable slos,
    ClassThresholds thresholds,
    int servers,
    DecisionSettings decisions,
    long oracleWindowMs,
    long startupMs,
    ReshardCost reshardCost,
    double transitionPowerW,
    OutputLengthPredictor predictor,
    long seed,
    GridIntensity grid,
    double gpuHourUsd,
    double kwhUsd,
    double powerBudgetW) {

  public SimSettings {
    if (!Double.isFinite(powerBudgetW) || powerBudgetW < 0) {
      throw new IllegalArgumentException("a watt budget must be finite and >= 0 W (0: none), got " + powerBudgetW);
    }
  }

  /** Without a watt budget. */
  public SimSettings(Profile profile, SloTable slos, ClassThresholds thresholds, int servers,
      DecisionSettings decisions, long oracleWindowMs, long startupMs, ReshardCost reshardCost,
      double transitionPowerW, OutputLengthPredictor predictor, long seed, GridIntensity grid, double gpuHourUsd,
      double kwhUsd) {
    this(profile, slos, thresholds, servers, decisions, oracleWindowMs, startupMs, reshardCost, transitionPowerW,
        predictor, seed, grid, gpuHourUsd, kwhUsd, 0);
  }

  /** Under the watt budget {@code w} (0: none). */
  public SimSettings withPowerBudget(double w) {
    return new SimSettings(profile, slos, thresholds, servers, decisions, oracleWindowMs, startupMs, reshardCost,
        transitionPowerW, predictor, seed, grid, gpuHourUsd, kwhUsd, w);
  }

  public SimSettings withServers(int n) {
    return new SimSettings(profile, slos, thresholds, n, decisions, oracleWindowMs, startupMs, reshardCost,
        transitionPowerW, predictor, seed, grid, gpuHourUsd, kwhUsd, powerBudgetW);
  }

  public SimSettings withPredictor(OutputLengthPredictor p) {
    return new SimSettings(profile, slos, thresholds, servers, decisions, oracleWindowMs, startupMs, reshardCost,
        transitionPowerW, p, seed, grid, gpuHourUsd, kwhUsd, powerBudgetW);
  }

  /** With another start-up time of new instances. */
  public SimSettings withStartupMs(long ms) {
    return new SimSettings(profile, slos, thresholds, servers, decisions, oracleWindowMs, ms, reshardCost,
        transitionPowerW, predictor, seed, grid, gpuHourUsd, kwhUsd, powerBudgetW);
  }

  /** With another re-shard cost. */
  public SimSettings withReshardCost(ReshardCost cost) {
    return new SimSettings(profile, slos, thresholds, servers, decisions, oracleWindowMs, startupMs, cost,
        transitionPowerW, predictor, seed, grid, gpuHourUsd, kwhUsd, powerBudgetW);
  }

  /** A planner on this cluster's profile, tuning and transition costs. */
  public PoolPlanner planner() {
    return new PoolPlanner(profile, decisions.planner(), transitions());
  }

  /** What a pool change costs on this cluster's engines (the planner weighs it). */
  public PoolPlanner.Transitions transitions() {
    return new PoolPlanner.Transitions(reshardCost, startupMs, transitionPowerW);
  }

  public long clusterEpochMs() {
    return decisions.clusterEpochMs();
  }

  public long poolEpochMs() {
    return decisions.poolEpochMs();
  }

  public long instanceEpochMs() {
    return decisions.instanceEpochMs();
  }
}
