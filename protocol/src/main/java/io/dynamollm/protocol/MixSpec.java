package io.dynamollm.protocol;

import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.TypeShape;
import java.util.Map;
import java.util.Objects;

/**
 * The requests a pool's instances serve, as it travels in messages: each type's weight (its forecast rate, or any
 * number in proportion), its lengths and its SLO. {@link #toMix} makes the profile's {@link Mix} of it.
 *
 * @param weights each type's share of the arrivals, in any unit (all zero: the types count alike)
 * @param shapes each type's lengths
 * @param slos each type's SLO
 */
public record MixSpec(Map<RequestType, Double> weights, Map<RequestType, TypeShape> shapes, Map<RequestType, Slo> slos)
    implements CborSerializable {

  public MixSpec {
    weights = Map.copyOf(weights);
    shapes = Map.copyOf(shapes);
    slos = Map.copyOf(slos);
    if (weights.isEmpty()) {
      throw new IllegalArgumentException("a mix needs at least one type");
    }
    for (RequestType t : weights.keySet()) {
      Objects.requireNonNull(shapes.get(t), () -> "no lengths for " + t);
      Objects.requireNonNull(slos.get(t), () -> "no SLO for " + t);
      double w = weights.get(t);
      if (!(w >= 0) || Double.isInfinite(w)) {
        throw new IllegalArgumentException("the weight of " + t + " must be finite and >= 0, got " + w);
      }
    }
  }

  public Mix toMix() {
    return Mix.of(weights, shapes::get, slos::get);
  }
}
