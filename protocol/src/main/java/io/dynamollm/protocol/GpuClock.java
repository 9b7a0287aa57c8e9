package io.dynamollm.protocol;

/**
 * A graphics (SM) clock in MHz, NVML's unit.
 *
 * @param mhz clock frequency in MHz, positive
 */
public record GpuClock(int mhz) implements Comparable<GpuClock>, CborSerializable {

  public GpuClock {
    if (mhz <= 0) {
      throw new IllegalArgumentException("a GPU clock must be positive MHz, got " + mhz);
    }
  }

  public static GpuClock mhz(int mhz) {
    return new GpuClock(mhz);
  }

  @Override
  public int compareTo(GpuClock o) {
    return Integer.compare(mhz, o.mhz);
  }

  @Override
  public String toString() {
    return mhz + " MHz";
  }
}
