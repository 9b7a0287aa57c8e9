package io.dynamollm.decision.routing;

import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.SizeClass;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Predicts a request's output length class. Three kinds: {@link #oracle}, {@link #noisyOracle} (the truth with
 * injected errors, for sensitivity studies) and {@link OnlineOutputPredictor} (learns from completed requests).
 * Every predictor reports its running accuracy from the completions it is told about.
 */
public interface OutputLengthPredictor {

  SizeClass predict(RequestFeatures features);

  /** A completed request: what was predicted for it and how long its output really was. */
  void observe(RequestFeatures features, SizeClass predicted, int actualOutputTokens);

  /** Accuracy over the completions observed so far. */
  PredictionStats stats();

  String describe();

  /** The true class (needs the known output length). */
  static OutputLengthPredictor oracle(ClassThresholds thresholds) {
    return new Scored(thresholds, "oracle") {
      @Override
      public SizeClass predict(RequestFeatures f) {
        return thresholds.outputClass(known(f));
      }
    };
  }

  /**
   * The true class with probability {@code accuracy}; otherwise a wrong one: a neighbouring class ({@code adjacent},
   * S↔M↔L, as a length classifier errs) or either other class alike ({@code uniform}). The draw depends only on
   * {@code seed} and the request id, so runs are reproducible whatever the order of calls.
   */
  static OutputLengthPredictor noisyOracle(ClassThresholds thresholds, double accuracy, Confusion confusion, long seed) {
    if (!(accuracy >= 0 && accuracy <= 1)) {
      throw new IllegalArgumentException("predictor accuracy must be within 0..1, got " + accuracy);
    }
    String name = String.format(Locale.ROOT, "noisy oracle (accuracy %.2f, %s errors)", accuracy,
        confusion.name().toLowerCase(Locale.ROOT));
    return new Scored(thresholds, name) {
      @Override
      public SizeClass predict(RequestFeatures f) {
        SizeClass truth = thresholds.outputClass(known(f));
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ f.requestId());
        if (r.nextDouble() < accuracy) {
          return truth;
        }
        boolean up = r.nextBoolean();
        if (confusion == Confusion.ADJACENT) {
          return switch (truth) {
            case S -> SizeClass.M;
            case L -> SizeClass.M;
            case M -> up ? SizeClass.L : SizeClass.S;
          };
        }
        SizeClass[] others = switch (truth) {
          case S -> new SizeClass[] {SizeClass.M, SizeClass.L};
          case M -> new SizeClass[] {SizeClass.S, SizeClass.L};
          case L -> new SizeClass[] {SizeClass.S, SizeClass.M};
        };
        return others[up ? 1 : 0];
      }
    };
  }

  /** How a noisy oracle errs. */
  enum Confusion {
    ADJACENT,
    UNIFORM
  }

  /** A predictor that scores itself on the completions it is told about. */
  abstract class Scored implements OutputLengthPredictor {
    private final PredictionStats stats;
    private final String name;

    Scored(ClassThresholds thresholds, String name) {
      this.stats = new PredictionStats(thresholds);
      this.name = name;
    }

    @Override
    public void observe(RequestFeatures f, SizeClass predicted, int actualOutputTokens) {
      stats.record(predicted, actualOutputTokens);
    }

    @Override
    public PredictionStats stats() {
      return stats;
    }

    @Override
    public String describe() {
      return name;
    }
  }

  private static int known(RequestFeatures f) {
    return f.knownOutputTokens().orElseThrow(() -> new IllegalStateException(
        "the oracle predictor needs the true output length; in production use the online predictor"));
  }
}
