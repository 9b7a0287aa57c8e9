package io.dynamollm.protocol;

/**
 * Marker for every message that crosses a node boundary. Bound to Pekko's {@code jackson-cbor} serializer in this
 * module's {@code reference.conf}, so that adding a message type never needs serialization configuration.
 */
public interface CborSerializable {}
