package io.dynamollm.sim;

/**
 * A way to run the cluster: which pools, which instances, and the control loops that change them. Requests go where
 * the routing rule sends them (the pool serving their type, see {@link io.dynamollm.decision.routing.RoutingPolicy}).
 */
interface SimPolicy {

  String name();

  /** Creates pools and instances and schedules the policy's control loops. */
  void start(Simulation sim, Workload workload);

  /** Whether requests are routed by a predicted output class (and so go through the predictor). */
  default boolean usesPrediction() {
    return false;
  }

  /** Told about every accepted arrival (forecasters count them). */
  default void observeArrival(double nowMs, SimRequest r) {}

  /** Told about every completed request (shape learners measure them). */
  default void observeCompletion(double nowMs, SimRequest r) {}
}
