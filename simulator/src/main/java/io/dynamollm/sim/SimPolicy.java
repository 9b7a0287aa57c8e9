package io.dynamollm.sim;

import io.dynamollm.protocol.RequestType;

/** A way to run the cluster: which pools, which instances, and the control loops that change them. */
interface SimPolicy {

  String name();

  /** Creates pools and instances and schedules the policy's control loops. */
  void start(Simulation sim, Workload workload);

  /** The pool a request of (predicted) type {@code type} goes to. */
  SimPool poolFor(RequestType type);

  /** Whether requests are routed by a predicted output class (and so go through the predictor). */
  default boolean usesPrediction() {
    return false;
  }

  /** Told about every accepted arrival (forecasters count them). */
  default void observeArrival(double nowMs, SimRequest r) {}
}
