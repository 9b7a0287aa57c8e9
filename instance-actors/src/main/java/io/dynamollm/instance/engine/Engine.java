package io.dynamollm.instance.engine;

import java.util.List;
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

  // ------------------------------------------------------------------ the waiting queue (the emergency ladder)

  /**
   * The requests whose prefill has not started, in queue order; empty when the engine does not show its queue (a
   * server process such as vLLM: there the ladder can only raise the clock from what it observes).
   */
  default List<Queued> waiting() {
    return List.of();
  }

  /** When the iteration in progress ends, in the engine's (model) time; {@code nowMs} when idle or unknown. */
  default double busyUntilMs(double nowMs) {
    return nowMs;
  }

  /** Puts the waiting queue in this order ({@link Queued#seq}s); requests not named keep their place after. */
  default void reorder(List<Long> seqs) {}

  /**
   * Takes a request that has not started out of the queue: its {@link #submit} completes exceptionally with
   * {@link Withdrawn} ({@code reroute}: to be sent to another instance; else rejected). False when it is no longer
   * waiting (or the engine cannot withdraw).
   */
  default boolean withdraw(long seq, boolean reroute, String reason) {
    return false;
  }

  /**
   * A waiting request.
   *
   * @param seq its place in this engine (for {@link #reorder} and {@link #withdraw})
   * @param requestId the request's id
   * @param arrivalMs when it reached the engine, engine time
   * @param promptTokens its prompt
   */
  record Queued(long seq, long requestId, double arrivalMs, int promptTokens) {}

  /** The request was taken out of the queue before it started (re-routed or rejected by the emergency ladder). */
  final class Withdrawn extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final boolean reroute;

    public Withdrawn(boolean reroute, String reason) {
      super(reason);
      this.reroute = reroute;
    }

    /** To be sent to another instance (else it was rejected). */
    public boolean reroute() {
      return reroute;
    }
  }

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
