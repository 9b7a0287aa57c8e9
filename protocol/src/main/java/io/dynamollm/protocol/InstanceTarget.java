package io.dynamollm.protocol;

import java.util.Objects;

/**
 * Pool manager → instance manager: what the instance should be doing.
 *
 * @param instanceId the instance's id, unique in the cluster
 * @param pool the pool the instance belongs to
 * @param epoch pool epoch number, increasing
 * @param action start, run, drain or stop
 * @param configuration TP, GPU set and initial clock
 * @param frequencyBounds clock range the instance's governor may choose from
 * @param loadShareRps the share of the pool's load the instance is planned to serve, requests per second
 */
public record InstanceTarget(
    String instanceId,
    String pool,
    long epoch,
    InstanceAction action,
    InstanceConfiguration configuration,
    FrequencyBounds frequencyBounds,
    double loadShareRps)
    implements Constraint {

  public InstanceTarget {
    Objects.requireNonNull(instanceId, "instanceId");
    Objects.requireNonNull(pool, "pool");
    Objects.requireNonNull(action, "action");
    Objects.requireNonNull(configuration, "configuration");
    Objects.requireNonNull(frequencyBounds, "frequencyBounds");
    if (!frequencyBounds.contains(configuration.clock().mhz())) {
      throw new IllegalArgumentException(
          "initial clock " + configuration.clock() + " lies outside the bounds " + frequencyBounds);
    }
    if (!Double.isFinite(loadShareRps) || loadShareRps < 0) {
      throw new IllegalArgumentException("load share must be finite and >= 0 req/s, got " + loadShareRps);
    }
  }
}
