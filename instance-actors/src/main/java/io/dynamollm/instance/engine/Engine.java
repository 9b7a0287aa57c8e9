package io.dynamollm.instance.engine;

import java.util.List;
import java.util.Objects;
import java.util.Optional;
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

  /**
   * As {@link #submit(EngineRequest)}, telling {@code tokens} each output token as it comes out (a client's stream):
   * the simulated engine at its simulated pace, a server process as its server-sent events arrive. Called on the
   * engine's thread; must not block.
   */
  default CompletionStage<Completion> submit(EngineRequest request, TokenSink tokens) {
    return submit(request);
  }

  /**
   * Stops serving request {@code requestId} (its client went away): its {@link #submit} completes exceptionally with
   * {@link Cancelled}, its GPU time goes to the others. False when the engine does not hold it (any more).
   */
  default boolean cancel(long requestId) {
    return false;
  }

  /** Hears a request's output as it is generated. */
  @FunctionalInterface
  interface TokenSink {
    /**
     * One piece of output: {@code index} counts from 0; {@code text} is what a client shows (a token's text, or a
     * server's delta, which may hold several tokens).
     */
    void token(int index, String text);
  }

  /** The request was cancelled (its client went away). */
  final class Cancelled extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public Cancelled(String message) {
      super(message);
    }
  }

  /** Stops taking requests; completes once every request in flight has finished. */
  CompletionStage<Void> drain();

  /** What the engine is doing now. */
  EngineLoad load();

  /**
   * Wall-clock milliseconds since what {@link #load} says was read from the engine: 0 for the simulated engine (read
   * when asked), the time since the last poll of a server process's metrics; NaN before the first. The online
   * refinement of the profile times the intervals between readings by it.
   */
  default double loadAgeMs() {
    return 0;
  }

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
   * @param outputTokens tokens this request generates (a replayed request: exactly these); with an API call, at most
   *     these (its {@code max_tokens}, or what the context leaves): the model may stop earlier
   * @param call the client's OpenAI API call when it came through the front door (else a replayed request)
   */
  record EngineRequest(long id, int promptTokens, int outputTokens, Optional<OpenAiCall> call) {
    public EngineRequest {
      if (promptTokens < 1 || outputTokens < 1) {
        throw new IllegalArgumentException("a request needs at least one prompt and one output token, got "
            + promptTokens + " and " + outputTokens);
      }
      Objects.requireNonNull(call, "call");
    }

    /** A replayed request: exactly {@code outputTokens} tokens out. */
    public EngineRequest(long id, int promptTokens, int outputTokens) {
      this(id, promptTokens, outputTokens, Optional.empty());
    }
  }

  /**
   * A client's OpenAI API call, as it reached the front door.
   *
   * @param endpoint {@code completions} or {@code chat/completions} (under {@code /v1/})
   * @param body the client's JSON body, unchanged (a server process gets it as it is, with streaming switched on)
   * @param seed what a simulated engine draws its text and its end of sequence from (the prompt's hash when
   *     {@code temperature} is 0, so the same prompt gives the same answer; else random)
   * @param stop strings that end the output (not included in it)
   * @param ignoreEos generate exactly {@code outputTokens} tokens (vLLM's {@code ignore_eos})
   */
  record OpenAiCall(String endpoint, String body, long seed, List<String> stop, boolean ignoreEos) {
    public static final String COMPLETIONS = "completions";
    public static final String CHAT = "chat/completions";

    public OpenAiCall {
      if (!endpoint.equals(COMPLETIONS) && !endpoint.equals(CHAT)) {
        throw new IllegalArgumentException("endpoint must be completions or chat/completions, got " + endpoint);
      }
      Objects.requireNonNull(body, "body");
      stop = List.copyOf(stop);
    }
  }

  /**
   * A finished request.
   *
   * @param ttftMs time to first token
   * @param tbtMs mean time per output token after the first (0 for a single-token output)
   * @param text the output (empty for a replayed request)
   * @param finishReason {@code length} (it reached its output limit) or {@code stop} (end of sequence, a stop string)
   * @param energyJ its share of the instance's GPU energy: each iteration's energy split by the tokens each request
   *     had in it (exact for the simulated engine; from the energy counter and the server's token counts for a server
   *     process); NaN when unknown
   */
  record Completion(long id, double ttftMs, double tbtMs, int outputTokens, String text, String finishReason,
      double energyJ) {
    public Completion {
      Objects.requireNonNull(text, "text");
      Objects.requireNonNull(finishReason, "finishReason");
    }

    /** The same, its first token {@code waitedMs} later (the time it waited before its engine got it). */
    public Completion waited(double waitedMs) {
      return new Completion(id, ttftMs + waitedMs, tbtMs, outputTokens, text, finishReason, energyJ);
    }

    /** Latencies only (a replayed request, a test). */
    public Completion(long id, double ttftMs, double tbtMs, int outputTokens) {
      this(id, ttftMs, tbtMs, outputTokens, "", "length", Double.NaN);
    }
  }

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
