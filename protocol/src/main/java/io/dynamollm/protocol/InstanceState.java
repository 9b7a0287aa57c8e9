package io.dynamollm.protocol;

/** Lifecycle state of an inference-engine instance, as reported in its telemetry. */
public enum InstanceState {
  /** Engine starting or loading weights; holds GPUs, serves nothing. */
  STARTING,
  /** Serving requests. */
  READY,
  /** Changing tensor parallelism; holds GPUs, serves nothing. */
  RESHARDING,
  /** Finishing its running requests; takes no new ones. */
  DRAINING,
  /** Stopped; its GPUs are released and their clocks reset. */
  STOPPED,
  /** The engine failed; the instance manager is restarting or giving it up. */
  FAILED;

  /** Whether a router may send new requests to an instance in this state. */
  public boolean acceptsRequests() {
    return this == READY;
  }
}
