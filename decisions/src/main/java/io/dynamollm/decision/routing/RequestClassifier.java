package io.dynamollm.decision.routing;

import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SizeClass;
import java.util.Objects;
import java.util.Optional;

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
    Optional<String> refused = refusal(promptTokens, maxTokens);
    if (refused.isPresent()) {
      return new Rejected(refused.get());
    }
    return new Accepted(RequestType.of(thresholds.inputClass(promptTokens), predictedOutput));
  }

  /**
   * Why a request of this shape cannot be served at all (an empty prompt, one that leaves no room in the maximum
   * context for its output or its {@code max_tokens}), said with the limit; empty when it can. A front door answers
   * it before routing (400); {@link #classify} rejects by it.
   */
  public Optional<String> refusal(int promptTokens, int maxTokens) {
    int max = thresholds.maxContextTokens();
    if (promptTokens < 1) {
      return Optional.of("the prompt is empty (" + promptTokens + " tokens)");
    }
    if (maxTokens < 0) {
      return Optional.of("max_tokens must not be negative, got " + maxTokens);
    }
    if (promptTokens >= max) {
      return Optional.of("the prompt has " + promptTokens + " tokens; the maximum context is " + max
          + " tokens including the output");
    }
    if (maxTokens > 0 && (long) promptTokens + maxTokens > max) {
      return Optional.of("prompt (" + promptTokens + ") + max_tokens (" + maxTokens + ") exceeds the maximum context of "
          + max + " tokens");
    }
    return Optional.empty();
  }

  public ClassThresholds thresholds() {
    return thresholds;
  }
}
