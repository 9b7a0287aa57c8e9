package io.dynamollm.decision.routing;

import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.SizeClass;

/** Running accuracy of an output-length predictor: a 3×3 confusion matrix of predicted against actual class. */
public final class PredictionStats {
  private final ClassThresholds thresholds;
  private final long[][] confusion = new long[3][3];
  private long total;
  private long correct;
  private long underPredicted;

  public PredictionStats(ClassThresholds thresholds) {
    this.thresholds = thresholds;
  }

  public synchronized void record(SizeClass predicted, int actualOutputTokens) {
    SizeClass actual = thresholds.outputClass(actualOutputTokens);
    confusion[predicted.ordinal()][actual.ordinal()]++;
    total++;
    if (predicted == actual) {
      correct++;
    } else if (predicted.compareTo(actual) < 0) {
      underPredicted++;
    }
  }

  /** Fraction predicted right; NaN before the first completion. */
  public synchronized double accuracy() {
    return total == 0 ? Double.NaN : (double) correct / total;
  }

  /** Fraction predicted shorter than they were — the errors that threaten SLOs. */
  public synchronized double underPredictedShare() {
    return total == 0 ? Double.NaN : (double) underPredicted / total;
  }

  public synchronized long observed() {
    return total;
  }

  /** confusion[predicted][actual], S/M/L order. */
  public synchronized long[][] confusion() {
    long[][] copy = new long[3][];
    for (int i = 0; i < 3; i++) {
      copy[i] = confusion[i].clone();
    }
    return copy;
  }
}
