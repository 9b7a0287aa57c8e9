package io.dynamollm.decision.engine;

import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;

/**
 * One inference engine at iteration level, on the profile: vLLM-like continuous batching without chunked prefill.
 * Prompts waiting are prefilled together (up to {@value #MAX_PREFILL_TOKENS} tokens, within the batch and KV-cache
 * limits) before the next decode step; each iteration lasts what the profile says at the clock it runs at, and its
 * GPUs draw the profile's phase power. The one model of an engine: the live simulated engine steps it in model time
 * on its own thread, the simulator steps it in virtual time.
 *
 * <p>A decode run is a number of identical steps — the batch does not change between two completions — so a driver
 * may step one at a time (the live engine: new prompts may arrive after every step) or a whole run at once (the
 * simulator, which cuts a run short when a prompt arrives). A request's output is tracked by the step at which it
 * ends rather than token by token; the KV cache of a request (prompt + output) is reserved when its prefill starts.
 *
 * <p>Pure apart from its own state: time is an argument, nothing reads a clock. Not thread-safe; the driver
 * serialises calls.
 *
 * @param <P> what the driver attaches to each request
 */
public final class ContinuousBatching<P> {
  /** Most prompt tokens one prefill iteration takes (vLLM's default max_num_batched_tokens without chunking). */
  public static final int MAX_PREFILL_TOKENS = 8192;

  /** A request inside the engine. */
  public static final class Job<P> {
    private final long seq;
    private final P payload;
    private final int prompt;
    private final int output;
    private final double arrivalMs;
    private double firstTokenMs = Double.NaN;
    private double finishMs = Double.NaN;
    private long joinStep;
    private long finishStep;
    private boolean cancelled;

    private Job(long seq, P payload, int prompt, int output, double arrivalMs) {
      this.seq = seq;
      this.payload = payload;
      this.prompt = prompt;
      this.output = output;
      this.arrivalMs = arrivalMs;
    }

    /** Unique within this engine, in submission order. */
    public long seq() {
      return seq;
    }

    public P payload() {
      return payload;
    }

    public int promptTokens() {
      return prompt;
    }

    public int outputTokens() {
      return output;
    }

    public double arrivalMs() {
      return arrivalMs;
    }

    /** When its first token came out (NaN before its prefill ended). */
    public double firstTokenMs() {
      return firstTokenMs;
    }

    /** When its last token came out (NaN before). */
    public double finishMs() {
      return finishMs;
    }

    public double ttftMs() {
      return firstTokenMs - arrivalMs;
    }

    /** Mean time per output token after the first (0 for a one-token output). */
    public double tbtMs() {
      return output > 1 ? (finishMs - firstTokenMs) / (output - 1) : 0;
    }

    long kvTokens() {
      return (long) prompt + output;
    }
  }

  /** What the engine does next. */
  public sealed interface Iteration<P> permits Prefill, Decode {
    /** Power of each of the instance's GPUs meanwhile. */
    double powerPerGpuW();
  }

  /**
   * A prefill of {@code batch}'s prompts, {@code tokens} tokens in all, lasting {@code durationMs}.
   */
  public record Prefill<P>(List<Job<P>> batch, int tokens, double durationMs, double powerPerGpuW)
      implements Iteration<P> {
    public Prefill {
      batch = List.copyOf(batch);
    }
  }

  /**
   * A run of {@code steps} identical decode steps of {@code batchSize} sequences at mean context {@code contextTokens},
   * each lasting {@code stepMs}; the run ends with the next completion (or earlier, at the driver's limit).
   */
  public record Decode<P>(int batchSize, double contextTokens, double stepMs, long steps, double powerPerGpuW)
      implements Iteration<P> {}

  private final Profile profile;
  private final TensorParallelism tp;
  private final ArrayDeque<Job<P>> waiting = new ArrayDeque<>();
  private final PriorityQueue<Job<P>> running =
      new PriorityQueue<>(Comparator.comparingLong((Job<P> j) -> j.finishStep).thenComparingLong(j -> j.seq));
  private List<Job<P>> prefilling = List.of();
  private long nextSeq;
  private long stepIndex;
  private long kvUsed;
  private long sumPrompt;
  private long sumJoin;
  private long decodeRunStart = -1;

  public ContinuousBatching(Profile profile, TensorParallelism tp) {
    this.profile = Objects.requireNonNull(profile, "profile");
    this.tp = Objects.requireNonNull(tp, "tp");
  }

  public TensorParallelism tp() {
    return tp;
  }

  /** Queues a request (its prompt waits for the next prefill). */
  public Job<P> submit(P payload, int promptTokens, int outputTokens, double arrivalMs) {
    if (promptTokens < 1 || outputTokens < 1) {
      throw new IllegalArgumentException("a request needs at least one prompt and one output token, got "
          + promptTokens + " and " + outputTokens);
    }
    Job<P> j = new Job<>(nextSeq++, payload, promptTokens, outputTokens, arrivalMs);
    waiting.add(j);
    return j;
  }

  /**
   * Starts the next iteration at {@code clockMhz}: a prefill of the waiting prompts that fit, else a run of at most
   * {@code maxSteps} decode steps, else null (idle). Call {@link #endPrefill} or {@link #endDecode} when it ends.
   */
  public Iteration<P> next(int clockMhz, long maxSteps) {
    if (!prefilling.isEmpty() || decodeRunStart >= 0) {
      throw new IllegalStateException("an iteration is in progress");
    }
    int maxBatch = profile.maxBatch(tp);
    long kvCap = profile.kvCacheTokens(tp);
    if (!waiting.isEmpty() && running.size() < maxBatch) {
      List<Job<P>> batch = new ArrayList<>();
      int tokens = 0;
      long kv = kvUsed;
      while (!waiting.isEmpty() && running.size() + batch.size() < maxBatch) {
        Job<P> j = waiting.peek();
        if ((!batch.isEmpty() && tokens + j.prompt > MAX_PREFILL_TOKENS) || kv + j.kvTokens() > kvCap) {
          break;
        }
        waiting.poll();
        batch.add(j);
        tokens += j.prompt;
        kv += j.kvTokens();
      }
      if (!batch.isEmpty()) {
        kvUsed = kv;
        prefilling = batch;
        int t = Math.min(tokens, MAX_PREFILL_TOKENS);
        return new Prefill<>(batch, t, profile.prefillMs(tp, t, clockMhz), profile.prefillPowerW(tp, t, clockMhz));
      }
    }
    if (running.isEmpty()) {
      return null;
    }
    int b = running.size();
    double context = contextTokens();
    double stepMs = profile.decodeStepMs(tp, b, context, clockMhz);
    long toNext = running.peek().finishStep - stepIndex;
    decodeRunStart = stepIndex;
    return new Decode<>(b, context, stepMs, Math.max(1, Math.min(toNext, maxSteps)),
        profile.decodePowerW(tp, b, clockMhz));
  }

  /** The prefill in progress ended at {@code endMs}: first tokens out; the requests of one output token finish. */
  public List<Job<P>> endPrefill(double endMs) {
    List<Job<P>> done = new ArrayList<>();
    for (Job<P> j : prefilling) {
      if (j.cancelled) {
        kvUsed -= j.kvTokens();
        continue;
      }
      j.firstTokenMs = endMs;
      if (j.output <= 1) {
        finish(j, endMs);
        done.add(j);
      } else {
        j.joinStep = stepIndex;
        j.finishStep = stepIndex + (j.output - 1);
        running.add(j);
        sumPrompt += j.prompt;
        sumJoin += j.joinStep;
      }
    }
    prefilling = List.of();
    return done;
  }

  /**
   * The decode run in progress, begun at {@code startMs} with steps of {@code stepMs}, completed {@code steps} steps:
   * the requests that finished, each at its own step's end.
   */
  public List<Job<P>> endDecode(long steps, double startMs, double stepMs) {
    if (decodeRunStart < 0) {
      throw new IllegalStateException("no decode run in progress");
    }
    long runStart = decodeRunStart;
    decodeRunStart = -1;
    stepIndex = runStart + Math.max(0, steps);
    List<Job<P>> done = new ArrayList<>();
    while (!running.isEmpty() && running.peek().finishStep <= stepIndex) {
      Job<P> j = running.poll();
      sumPrompt -= j.prompt;
      sumJoin -= j.joinStep;
      finish(j, startMs + (j.finishStep - runStart) * stepMs);
      done.add(j);
    }
    return done;
  }

  /** A prefill in progress is undone: its prompts go back to the head of the queue (the instance stops now). */
  public void abortPrefill() {
    for (int k = prefilling.size() - 1; k >= 0; k--) {
      Job<P> j = prefilling.get(k);
      kvUsed -= j.kvTokens();
      waiting.addFirst(j);
    }
    prefilling = List.of();
  }

  /** Takes the waiting requests out, in queue order (an instance that stops or re-shards routes them afresh). */
  public List<Job<P>> takeWaiting() {
    List<Job<P>> out = new ArrayList<>(waiting);
    waiting.clear();
    return out;
  }

  /**
   * Hands the running requests to {@code other} (an in-place re-shard keeps their KV cache): each keeps the steps it
   * has left.
   */
  public void moveRunningTo(ContinuousBatching<P> other) {
    if (!prefilling.isEmpty() || decodeRunStart >= 0) {
      throw new IllegalStateException("stop the iteration in progress first");
    }
    for (Job<P> j : running) {
      long remaining = j.finishStep - stepIndex;
      long age = stepIndex - j.joinStep;
      j.joinStep = other.stepIndex - age;
      j.finishStep = other.stepIndex + remaining;
      other.running.add(j);
      other.kvUsed += j.kvTokens();
      other.sumPrompt += j.prompt;
      other.sumJoin += j.joinStep;
    }
    running.clear();
    kvUsed = 0;
    sumPrompt = 0;
    sumJoin = 0;
  }

  /** Every request inside, wherever it is (for failing them when the engine stops). */
  public List<Job<P>> all() {
    List<Job<P>> out = new ArrayList<>(waiting);
    out.addAll(prefilling);
    out.addAll(running);
    return out;
  }

  /** Clears everything (the engine stopped). */
  public void clear() {
    waiting.clear();
    running.clear();
    prefilling = List.of();
    decodeRunStart = -1;
    kvUsed = 0;
    sumPrompt = 0;
    sumJoin = 0;
  }

  // ------------------------------------------------------------------ the waiting queue (emergency ladder)

  /** The requests whose prefill has not started, in queue order. */
  public List<Job<P>> waiting() {
    return List.copyOf(waiting);
  }

  /** Reorders the waiting queue to {@code seqs} (ids of {@link Job#seq}); requests not named keep their place after. */
  public void reorder(List<Long> seqs) {
    Map<Long, Job<P>> bySeq = new HashMap<>();
    waiting.forEach(j -> bySeq.put(j.seq, j));
    ArrayDeque<Job<P>> ordered = new ArrayDeque<>();
    for (long s : seqs) {
      Job<P> j = bySeq.remove(s);
      if (j != null) {
        ordered.add(j);
      }
    }
    for (Job<P> j : waiting) {
      if (bySeq.containsKey(j.seq)) {
        ordered.add(j);
      }
    }
    waiting.clear();
    waiting.addAll(ordered);
  }

  /**
   * Takes a request out wherever it is (its client went away): waiting, in the decode batch (its KV cache freed), or
   * in the prefill in progress (dropped when it ends); null when the engine does not hold it.
   */
  public Job<P> cancel(long seq) {
    Job<P> w = withdraw(seq);
    if (w != null) {
      return w;
    }
    for (Job<P> j : prefilling) {
      if (j.seq == seq && !j.cancelled) {
        j.cancelled = true;
        return j;
      }
    }
    for (var it = running.iterator(); it.hasNext(); ) {
      Job<P> j = it.next();
      if (j.seq == seq) {
        it.remove();
        sumPrompt -= j.prompt;
        sumJoin -= j.joinStep;
        kvUsed -= j.kvTokens();
        return j;
      }
    }
    return null;
  }

  /** The decode batch now (the sequences the next decode step generates a token for). */
  public List<Job<P>> running() {
    return List.copyOf(running);
  }

  /** Takes a waiting request out of the queue (re-routed or rejected); null when it is no longer waiting. */
  public Job<P> withdraw(long seq) {
    for (var it = waiting.iterator(); it.hasNext(); ) {
      Job<P> j = it.next();
      if (j.seq == seq) {
        it.remove();
        return j;
      }
    }
    return null;
  }

  // ------------------------------------------------------------------ what it holds

  public int waitingCount() {
    return waiting.size();
  }

  /** Requests in the decode batch (and those being prefilled). */
  public int runningCount() {
    return running.size() + prefilling.size();
  }

  public int outstanding() {
    return waiting.size() + running.size() + prefilling.size();
  }

  public boolean isEmpty() {
    return outstanding() == 0;
  }

  /** Mean context of the decode batch now: each sequence's prompt plus the tokens it has generated. */
  double contextTokens() {
    int b = running.size();
    return b == 0 ? 0 : Math.min(MAX_PREFILL_TOKENS, (sumPrompt + (double) b * stepIndex - sumJoin) / b + 1);
  }

  private void finish(Job<P> j, double t) {
    j.finishMs = t;
    kvUsed -= j.kvTokens();
  }
}
