package io.dynamollm.protocol;

/**
 * The clock range an instance may choose from, inclusive; set by the operator and passed down by the pool manager.
 *
 * @param minMhz lowest clock allowed
 * @param maxMhz highest clock allowed
 */
public record FrequencyBounds(int minMhz, int maxMhz) implements CborSerializable {

  /** The paper's range on H100: 800 to 1980 MHz. */
  public static final FrequencyBounds H100_DEFAULT = new FrequencyBounds(800, 1980);

  public FrequencyBounds {
    if (minMhz <= 0 || maxMhz < minMhz) {
      throw new IllegalArgumentException(
          "frequency bounds must satisfy 0 < min <= max, got min=" + minMhz + " MHz, max=" + maxMhz + " MHz");
    }
  }

  public boolean contains(int mhz) {
    return mhz >= minMhz && mhz <= maxMhz;
  }
}
