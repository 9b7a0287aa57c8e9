package io.dynamollm.protocol;

/**
 * Latency objective of one request type, judged at the 99th percentile.
 *
 * @param ttftP99Ms time to first token, p99, in milliseconds
 * @param tbtP99Ms time between tokens, p99, in milliseconds. A request's TBT is its mean time per output token after
 *     the first (TPOT); the objective is on the p99 of that over requests.
 */
public record Slo(double ttftP99Ms, double tbtP99Ms) implements CborSerializable {

  public Slo {
    requirePositiveFinite(ttftP99Ms, "ttft_p99_ms");
    requirePositiveFinite(tbtP99Ms, "tbt_p99_ms");
  }

  /** Whether the given p99 latencies meet this objective. */
  public boolean isMetBy(double ttftP99, double tbtP99) {
    return ttftP99 <= ttftP99Ms && tbtP99 <= tbtP99Ms;
  }

  private static void requirePositiveFinite(double v, String field) {
    if (!Double.isFinite(v) || v <= 0) {
      throw new IllegalArgumentException(field + " must be a positive, finite number of milliseconds, got " + v);
    }
  }
}
