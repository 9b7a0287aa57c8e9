package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import java.util.List;
import java.util.Optional;

/**
 * A request type's grid of configurations at one load.
 *
 * @param type the request type
 * @param slo its SLO
 * @param loadRps the load every configuration was asked to serve with one instance
 * @param configs every (TP, clock) in the profile, TP ascending then clock ascending
 * @param optimum the feasible configuration with the least energy per request, if any is feasible
 */
public record TypeTable(
    RequestType type, Slo slo, double loadRps, List<ConfigEstimate> configs, Optional<ConfigEstimate> optimum) {

  public TypeTable {
    configs = List.copyOf(configs);
  }
}
