package io.dynamollm.decision.routing;

import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SizeClass;
import java.util.Objects;

/** Which pool a request belongs to: its prompt length class and its predicted output class. */
public final class RequestClassifier {

  /** The classifier's answer. */
  public sealed interface Classification permits Accepted, Rejected {}

  /** The request's type. */
  public record Accepted(RequestType type) implements Classification {}

  /** The request cannot be served; {@code reason} says why in words a client can act on. */
  public record Rejected(String reason) implements Classification {}

  private final ClassThresholds thresholds;

  public RequestClassifier(ClassThresholds thresholds) {
    this.thresholds = Objects.requireNonNull(thresholds, "thresholds");
  }

  /**
   * @param promptTokens the prompt's length
   * @param maxTokens the client's max_tokens, or 0 when it set none
   * @param predictedOutput the predicted output class
   */
  public Classification classify(int promptTokens, int maxTokens, SizeClass predictedOutput) {
    Objects.requireNonNull(predictedOutput, "predictedOutput");
    int max = thresholds.maxContextTokens();
    if (promptTokens < 1) {
      return new Rejected("the prompt is empty (" + promptTokens + " tokens)");
    }
    if (maxTokens < 0) {
      return new Rejected("max_tokens must not be negative, got " + maxTokens);
    }
    if (promptTokens >= max) {
      return new Rejected("the prompt has " + promptTokens + " tokens; the maximum context is " + max
          + " tokens including the output");
    }
    if (maxTokens > 0 && (long) promptTokens + maxTokens > max) {
      return new Rejected("prompt (" + promptTokens + ") + max_tokens (" + maxTokens + ") exceeds the maximum context of "
          + max + " tokens");
    }
    return new Accepted(RequestType.of(thresholds.inputClass(promptTokens), predictedOutput));
  }

  public ClassThresholds thresholds() {
    return thresholds;
  }
}
