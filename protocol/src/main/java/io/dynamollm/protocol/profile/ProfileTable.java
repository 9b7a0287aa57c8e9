package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The profile laid out for a person or a planner: for each request type, every (TP, clock) at one load level with
 * its feasibility and energy, and the energy-optimal feasible configuration.
 *
 * @param model the profile's model
 * @param hardware the profile's hardware
 * @param load the load level
 * @param types one table per request type, all nine
 */
public record ProfileTable(String model, String hardware, LoadLevel load, Map<RequestType, TypeTable> types) {

  public ProfileTable {
    types = Map.copyOf(types);
  }

  /** Evaluates the whole grid of {@code profile} at {@code level} against {@code slos}. */
  public static ProfileTable build(Profile profile, SloTable slos, LoadLevel level) {
    return build(profile, slos, level, loads(profile, slos, level));
  }

  /**
   * The load of each type at {@code level}: that share of what one TP8 instance of {@code profile} at its max clock
   * serves within the type's SLO.
   */
  public static Map<RequestType, Double> loads(Profile profile, SloTable slos, LoadLevel level) {
    EnumMap<RequestType, Double> loads = new EnumMap<>(RequestType.class);
    for (RequestType type : RequestType.values()) {
      double reference = profile.capacityRps(type, TensorParallelism.TP8, profile.maxClockMhz(), slos.of(type));
      loads.put(type, reference * level.fractionOfTp8Capacity());
    }
    return loads;
  }

  /** Evaluates the whole grid of {@code profile} against {@code slos} at the given load of each type. */
  public static ProfileTable build(Profile profile, SloTable slos, LoadLevel level, Map<RequestType, Double> loads) {
    EnumMap<RequestType, TypeTable> tables = new EnumMap<>(RequestType.class);
    for (RequestType type : RequestType.values()) {
      Slo slo = slos.of(type);
      double load = loads.get(type);
      List<ConfigEstimate> configs = new ArrayList<>();
      for (TensorParallelism tp : profile.tensorParallelisms()) {
        for (int mhz : profile.clockLevelsMhz()) {
          LoadPoint point = load > 0 ? profile.estimate(type, tp, mhz, load) : LoadPoint.unstable(0);
          double capacity = profile.capacityRps(type, tp, mhz, slo);
          double energyAtCapacity =
              capacity > 0 ? profile.estimate(type, tp, mhz, capacity).energyPerRequestWh() : Double.NaN;
          configs.add(new ConfigEstimate(tp, mhz, point.meets(slo), point, capacity, energyAtCapacity));
        }
      }
      Optional<ConfigEstimate> optimum = configs.stream()
          .filter(ConfigEstimate::feasible)
          .min(Comparator.comparingDouble(ConfigEstimate::energyWh));
      tables.put(type, new TypeTable(type, slo, load, configs, optimum));
    }
    return new ProfileTable(profile.model(), profile.hardware(), level, tables);
  }

  public TypeTable of(RequestType type) {
    return types.get(type);
  }
}
