package io.dynamollm.instance.engine;

import java.util.concurrent.CompletionStage;

/**
 * An inference engine instance serving one model at one tensor parallelism on a set of GPUs: the simulated engine
 * ({@link SimulatedEngine}) or, later, an OpenAI-compatible server such as vLLM. Owned by exactly one instance
 * manager; thread-safe.
 */
public interface Engine extends AutoCloseable {

  /** Starts serving (loads the weights); completes once the engine takes requests. */
  CompletionStage<Void> start();

  /**
   * Submits a request; completes with its latencies once its last token is out, or exceptionally with
   * {@link EngineUnavailable} when the engine does not take requests (starting, draining, stopped).
   */
  CompletionStage<Completion> submit(EngineRequest request);

  /** Stops taking requests; completes once every request in flight has finished. */
  CompletionStage<Void> drain();

  /** What the engine is doing now. */
  EngineLoad load();

  /** Whether the engine answers and serves. */
  boolean healthy();

  /** Stops at once; requests in flight fail with {@link EngineUnavailable}. */
  @Override
  void close();

  /**
   * One request.
   *
   * @param outputTokens tokens this request generates (a simulated engine honours it; a real one stops at its model's
   *     end of sequence or at this many tokens, as {@code max_tokens})
   */
  record EngineRequest(long id, int promptTokens, int outputTokens) {
    public EngineRequest {
      if (promptTokens < 1 || outputTokens < 1) {
        throw new IllegalArgumentException("a request needs at least one prompt and one output token, got "
            + promptTokens + " and " + outputTokens);
      }
    }
  }

  /**
   * A finished request.
   *
   * @param ttftMs time to first token
   * @param tbtMs mean time per output token after the first (0 for a single-token output)
   */
  record Completion(long id, double ttftMs, double tbtMs, int outputTokens) {}

  /**
   * A snapshot of the engine.
   *
   * @param running requests in the decode batch
   * @param waiting requests queued for prefill
   * @param generatedTokens output tokens generated since the engine started
   * @param completed requests finished since the engine started
   */
  record EngineLoad(int running, int waiting, long generatedTokens, long completed) {}

  /** The engine does not take requests now. */
  final class EngineUnavailable extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public EngineUnavailable(String message) {
      super(message);
    }
  }
}
