package io.dynamollm.protocol;

/** A message flowing up the hierarchy: instance manager → pool manager → cluster manager. */
public sealed interface Telemetry extends CborSerializable permits InstanceTelemetry, PoolTelemetry {

  /** When it was measured, in milliseconds since the epoch of the sender's clock. */
  long atMillis();
}
