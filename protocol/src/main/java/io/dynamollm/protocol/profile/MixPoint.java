package io.dynamollm.protocol.profile;

/**
 * What a profile predicts for one instance serving a {@link Mix} at a steady load.
 *
 * @param point the mix as one stream: its latencies (of the mixture's lengths), power, energy, batch
 * @param ttftMiss the share of the mix's requests predicted to miss their own part's TTFT SLO (the parts' misses
 *     weighted by their shares)
 * @param meets whether the TBT p99 is within every part's TBT SLO and the TTFT misses, less those no configuration
 *     avoids, within the mix's miss budget
 */
public record MixPoint(LoadPoint point, double ttftMiss, boolean meets) {

  /** Whether the instance keeps up at all. */
  public boolean stable() {
    return point.stable();
  }

  public double powerPerGpuW() {
    return point.powerPerGpuW();
  }

  static MixPoint unstable(double loadRps) {
    return new MixPoint(LoadPoint.unstable(loadRps), 1, false);
  }
}
