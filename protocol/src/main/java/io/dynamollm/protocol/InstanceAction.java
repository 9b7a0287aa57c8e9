package io.dynamollm.protocol;

/** What a pool manager asks of an instance with its target. */
public enum InstanceAction {
  /** Start the engine with the target's configuration. */
  START,
  /** Keep running; apply the target's configuration (clock bounds, load share, or a re-shard to a new TP). */
  RUN,
  /** Stop taking new requests and finish the running ones. */
  DRAIN,
  /** Stop the engine, release the GPUs, reset their clocks. */
  STOP
}
