package io.dynamollm.gpu;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.util.Locale;
import java.util.Optional;

/**
 * The {@code dynamollm.gpu} section, read once at start.
 *
 * @param backend which devices to drive
 * @param nvmlLibrary path to libnvidia-ml.so.1, or empty for the system's
 * @param simulatedCount how many simulated GPUs a host has
 */
public record GpuSettings(Backend backend, Optional<String> nvmlLibrary, int simulatedCount) {

  /** Which devices a host drives. */
  public enum Backend {
    AUTO,
    NVML,
    SIMULATED;

    public static Backend parse(String text, String key) {
      for (Backend b : values()) {
        if (b.name().equalsIgnoreCase(text.trim())) {
          return b;
        }
      }
      throw new IllegalArgumentException(key + " must be auto, nvml or simulated, got '" + text + "'");
    }

    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public GpuSettings {
    if (simulatedCount < 1 || simulatedCount > 64) {
      throw new IllegalArgumentException("dynamollm.gpu.simulated-count must be 1..64, got " + simulatedCount);
    }
  }

  /** Reads {@code dynamollm.gpu}; a wrong value fails with a message naming the key. */
  public static GpuSettings fromConfig(Config root) {
    try {
      Config c = root.getConfig("dynamollm.gpu");
      String lib = c.getString("nvml-library");
      return new GpuSettings(
          Backend.parse(c.getString("backend"), "dynamollm.gpu.backend"),
          lib.isBlank() ? Optional.empty() : Optional.of(lib),
          c.getInt("simulated-count"));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("invalid GPU configuration: " + e.getMessage(), e);
    }
  }
}
