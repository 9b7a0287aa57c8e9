package io.dynamollm.decision.routing;

import io.dynamollm.protocol.SizeClass;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * What is known about a request when its output length is predicted: what production has (prompt length,
 * {@code max_tokens}, model, an optional client hint) and, in simulation only, the true output length.
 *
 * @param requestId the request's id (seeds deterministic noise)
 * @param promptTokens prompt length
 * @param maxTokens the client's max_tokens, 0 when unset
 * @param model the model asked for
 * @param clientHint the client's own guess of the output class, if it gave one
 * @param knownOutputTokens the true output length (simulation and oracle only)
 */
public record RequestFeatures(
    long requestId, int promptTokens, int maxTokens, String model, Optional<SizeClass> clientHint,
    OptionalInt knownOutputTokens) {

  public RequestFeatures {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(clientHint, "clientHint");
    Objects.requireNonNull(knownOutputTokens, "knownOutputTokens");
  }

  /** A simulated request: length known, nothing else. */
  public static RequestFeatures simulated(long id, int promptTokens, int outputTokens) {
    return new RequestFeatures(id, promptTokens, 0, "default", Optional.empty(), OptionalInt.of(outputTokens));
  }
}
