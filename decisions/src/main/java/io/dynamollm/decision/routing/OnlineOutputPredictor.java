package io.dynamollm.decision.routing;

import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.SizeClass;
import java.util.HashMap;
import java.util.Map;

/**
 * Learns the output class from completed requests using only what production has: the model, the client's hint,
 * the prompt length (in power-of-two buckets) and max_tokens. It keeps decayed class counts per feature bucket and
 * predicts the most frequent class of the most specific bucket with enough observations, falling back to coarser
 * buckets and finally to the overall prior. max_tokens caps the prediction: an output cannot be longer.
 */
public final class OnlineOutputPredictor implements OutputLengthPredictor {
  private final ClassThresholds thresholds;
  private final double decay;
  private final double minWeight;
  private final Map<String, double[]> counts = new HashMap<>();
  private final PredictionStats stats;

  /**
   * @param decay weight kept by past observations at each new one (1 = never forget)
   * @param minWeight observations a bucket needs before it is trusted
   */
  public OnlineOutputPredictor(ClassThresholds thresholds, double decay, double minWeight) {
    if (!(decay > 0 && decay <= 1) || !(minWeight > 0)) {
      throw new IllegalArgumentException("need 0 < decay <= 1 and minWeight > 0, got " + decay + ", " + minWeight);
    }
    this.thresholds = thresholds;
    this.decay = decay;
    this.minWeight = minWeight;
    this.stats = new PredictionStats(thresholds);
  }

  public OnlineOutputPredictor(ClassThresholds thresholds) {
    this(thresholds, 0.9999, 20);
  }

  @Override
  public synchronized SizeClass predict(RequestFeatures f) {
    SizeClass guess = null;
    for (String key : keys(f)) {
      double[] c = counts.get(key);
      if (c != null && c[0] + c[1] + c[2] >= minWeight) {
        guess = argmax(c);
        break;
      }
    }
    if (guess == null) {
      guess = f.clientHint().orElse(SizeClass.M);
    }
    if (f.maxTokens() > 0) {
      SizeClass cap = thresholds.outputClass(f.maxTokens());
      if (guess.compareTo(cap) > 0) {
        guess = cap;
      }
    }
    return guess;
  }

  @Override
  public synchronized void observe(RequestFeatures f, SizeClass predicted, int actualOutputTokens) {
    stats.record(predicted, actualOutputTokens);
    int cls = thresholds.outputClass(actualOutputTokens).ordinal();
    for (String key : keys(f)) {
      double[] c = counts.computeIfAbsent(key, k -> new double[3]);
      for (int i = 0; i < 3; i++) {
        c[i] *= decay;
      }
      c[cls] += 1;
    }
  }

  @Override
  public PredictionStats stats() {
    return stats;
  }

  @Override
  public String describe() {
    return "online (prompt length, max_tokens, model, hint)";
  }

  /** Most specific first. */
  private static String[] keys(RequestFeatures f) {
    int promptBucket = 32 - Integer.numberOfLeadingZeros(Math.max(1, f.promptTokens()));
    int maxBucket = f.maxTokens() > 0 ? 32 - Integer.numberOfLeadingZeros(f.maxTokens()) : 0;
    String hint = f.clientHint().map(Enum::name).orElse("-");
    return new String[] {
      f.model() + "|" + hint + "|" + promptBucket + "|" + maxBucket,
      f.model() + "|" + hint + "|" + promptBucket,
      f.model() + "|" + hint,
      f.model(),
      "*"
    };
  }

  private static SizeClass argmax(double[] c) {
    int best = 0;
    for (int i = 1; i < 3; i++) {
      if (c[i] > c[best]) {
        best = i;
      }
    }
    return SizeClass.values()[best];
  }
}
