package io.dynamollm.control.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValueType;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Profile;
import java.util.EnumMap;
import java.util.Map;

/**
 * The {@code dynamollm.slo} section: a multiplier of each type's latency alone, and per-type overrides.
 *
 * @param multiplier SLO = multiplier × latency alone on TP8 at the max clock (the paper: 5)
 * @param overrides explicit SLOs that replace the rule for some types
 */
public record SloSettings(double multiplier, Map<RequestType, Slo> overrides) {

  public SloSettings {
    overrides = Map.copyOf(overrides);
  }

  /** The SLO of every type under these settings. */
  public SloTable resolve(Profile profile) {
    SloTable table = profile.defaultSlos(multiplier);
    for (Map.Entry<RequestType, Slo> e : overrides.entrySet()) {
      table = table.with(e.getKey(), e.getValue());
    }
    return table;
  }

  /** Reads {@code dynamollm.slo}; a wrong value fails with a message naming the key. */
  public static SloSettings fromConfig(Config root) {
    String base = "dynamollm.slo";
    try {
      Config c = root.getConfig(base);
      double multiplier = c.getDouble("multiplier");
      if (!(multiplier >= 1) || Double.isInfinite(multiplier)) {
        throw new IllegalArgumentException(base + ".multiplier must be a finite number >= 1, got " + multiplier);
      }
      Map<RequestType, Slo> overrides = new EnumMap<>(RequestType.class);
      Config o = c.getConfig("overrides");
      for (String key : o.root().keySet()) {
        String path = base + ".overrides." + key;
        RequestType type;
        try {
          type = RequestType.parse(key);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(path + ": " + e.getMessage());
        }
        if (o.root().get(key).valueType() != ConfigValueType.OBJECT) {
          throw new IllegalArgumentException(path + " must be an object { ttft-p99-ms = …, tbt-p99-ms = … }");
        }
        Config t = o.getConfig(key);
        try {
          overrides.put(type, new Slo(t.getDouble("ttft-p99-ms"), t.getDouble("tbt-p99-ms")));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(path + ": " + e.getMessage());
        }
      }
      return new SloSettings(multiplier, overrides);
    } catch (ConfigException e) {
      throw new IllegalArgumentException("invalid configuration: " + e.getMessage(), e);
    }
  }
}
