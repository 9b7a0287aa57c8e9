package io.dynamollm.protocol.profile;

/**
 * The lengths that stand for one request type in a profile: mean lengths set throughput and energy, p99 lengths set
 * tail latency.
 *
 * @param meanInputTokens mean prompt length
 * @param p99InputTokens 99th-percentile prompt length
 * @param meanOutputTokens mean output length
 * @param p99OutputTokens 99th-percentile output length
 */
public record TypeShape(int meanInputTokens, int p99InputTokens, int meanOutputTokens, int p99OutputTokens) {

  /** A request of one token in and one out (a placeholder where no lengths are known or needed). */
  public static final TypeShape ONE = new TypeShape(1, 1, 1, 1);

  public TypeShape {
    if (meanInputTokens < 1 || p99InputTokens < meanInputTokens) {
      throw new IllegalArgumentException(
          "prompt lengths must satisfy 1 <= mean <= p99, got " + meanInputTokens + ", " + p99InputTokens);
    }
    if (meanOutputTokens < 1 || p99OutputTokens < meanOutputTokens) {
      throw new IllegalArgumentException(
          "output lengths must satisfy 1 <= mean <= p99, got " + meanOutputTokens + ", " + p99OutputTokens);
    }
  }

  /** Mean context held in the KV cache while a request decodes: its prompt plus half its output. */
  public double meanDecodeContext() {
    return meanInputTokens + meanOutputTokens / 2.0;
  }

  /** Coefficient of variation squared of the prompt length, from mean and p99 under a normal approximation. */
  public double inputCv2() {
    double sd = (p99InputTokens - meanInputTokens) / 2.326;
    double cv = sd / meanInputTokens;
    return cv * cv;
  }
}
