package io.dynamollm.protocol;

import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;

/**
 * The SLO of every one of the nine request types.
 *
 * @param slos one entry per request type, all nine present
 */
public record SloTable(Map<RequestType, Slo> slos) implements CborSerializable {

  public SloTable {
    Objects.requireNonNull(slos, "slos");
    for (RequestType t : RequestType.values()) {
      if (!slos.containsKey(t) || slos.get(t) == null) {
        throw new IllegalArgumentException("SLO table lacks request type " + t);
      }
    }
    slos = Map.copyOf(slos);
  }

  public Slo of(RequestType type) {
    return slos.get(type);
  }

  /** A copy with one type's SLO replaced. */
  public SloTable with(RequestType type, Slo slo) {
    EnumMap<RequestType, Slo> copy = new EnumMap<>(slos);
    copy.put(type, Objects.requireNonNull(slo, "slo"));
    return new SloTable(copy);
  }
}
