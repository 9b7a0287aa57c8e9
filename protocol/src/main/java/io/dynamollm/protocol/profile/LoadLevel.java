package io.dynamollm.protocol.profile;

import java.util.Locale;

/**
 * Named load levels for showing a profile. A level is a fraction of the capacity, within the type's SLO, of one TP8
 * instance at the maximum clock (one DGX server running the type at full performance): every configuration is asked
 * to serve that same number of requests per second with one instance.
 */
public enum LoadLevel {
  LOW(0.10),
  MEDIUM(0.30),
  HIGH(0.70);

  private final double fractionOfTp8Capacity;

  LoadLevel(double fraction) {
    this.fractionOfTp8Capacity = fraction;
  }

  /** The fraction of a TP8 max-clock instance's SLO capacity this level stands for. */
  public double fractionOfTp8Capacity() {
    return fractionOfTp8Capacity;
  }

  public static LoadLevel parse(String text) {
    for (LoadLevel l : values()) {
      if (l.name().equalsIgnoreCase(text == null ? "" : text.trim())) {
        return l;
      }
    }
    throw new IllegalArgumentException("unknown load level '" + text + "': expected low, medium or high");
  }

  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
