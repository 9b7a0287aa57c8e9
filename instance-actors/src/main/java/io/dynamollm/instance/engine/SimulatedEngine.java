package io.dynamollm.instance.engine;

import io.dynamollm.decision.engine.ContinuousBatching;
import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.sim.GpuActivity;
import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntSupplier;

/**
 * A simulated inference engine in live (model) time: the engine model the simulator steps too
 * ({@link ContinuousBatching}: vLLM-like continuous batching without chunked prefill, batch and KV-cache limits), one
 * iteration after the other on its own thread. Each iteration lasts what the profile says at the clock the GPUs run at
 * (read before each iteration) and sets the activity, hence the power, of simulated GPUs. Time runs {@code speedup}
 * times faster than the wall clock; latencies are reported in the engine's (model) time. Its waiting queue is open to
 * the emergency ladder ({@link #waiting}, {@link #reorder}, {@link #withdraw}).
 *
 * <p>{@link #submit} and the other calls are thread-safe.
 */
public final class SimulatedEngine implements Engine {

  private enum State { NEW, STARTING, SERVING, DRAINING, STOPPED }

  /** What the engine model carries for each request: its answer, its stream, its share of the energy so far. */
  private static final class Pending {
    final EngineRequest request;
    final CompletableFuture<Completion> done;
    final TokenSink sink;
    final SyntheticText.Plan plan;
    ContinuousBatching.Job<Pending> job;
    int emitted;
    /** Its prefill's share, then (once in the decode batch) what each sequence's decode share stood at then. */
    double energyJ;
    double joinedAtJ = Double.NaN;
    volatile boolean cancelled;

    Pending(EngineRequest request, CompletableFuture<Completion> done, TokenSink sink, SyntheticText.Plan plan) {
      this.request = request;
      this.done = done;
      this.sink = sink;
      this.plan = plan;
    }

    int outputTokens() {
      return plan == null ? request.outputTokens() : plan.tokens().size();
    }

    /** Its next token to a stream (the engine's thread, outside the lock). */
    void emit() {
      int k = emitted++;
      if (sink != null && !cancelled) {
        sink.token(k, plan == null ? "" : plan.tokens().get(k));
      }
    }

    /** @param perSequenceJ the engine's cumulative decode energy per sequence now */
    Completion completion(ContinuousBatching.Job<Pending> j, double perSequenceJ) {
      double joules = energyJ + (Double.isNaN(joinedAtJ) ? 0 : perSequenceJ - joinedAtJ);
      return new Completion(request.id(), j.ttftMs(), j.tbtMs(), j.outputTokens(), plan == null ? "" : plan.text(),
          plan == null ? "length" : plan.finishReason(), joules);
    }
  }

  private final Profile profile;
  private final TensorParallelism tp;
  private final List<? extends GpuDevice> gpus;
  private final IntSupplier clockMhz;
  private final ModelClock clock;
  private final double startupMs;
  private final Object lock = new Object();
  private final ContinuousBatching<Pending> model;
  /** Requests inside, by id (for {@link #cancel}). */
  private final Map<Long, Pending> byId = new HashMap<>();
  /** Requests in the decode batch whose tokens go to a stream (each step tells them one more). */
  private final List<Pending> streaming = new ArrayList<>();
  /**
   * Decode energy per sequence since the engine started: each step adds its energy over its batch, so a request's
   * decode share is the difference between its finish and its joining the batch (no per-step walk of the batch).
   */
  private double perSequenceJ;
  private final CompletableFuture<Void> started = new CompletableFuture<>();
  private final CompletableFuture<Void> drained = new CompletableFuture<>();
  private State state = State.NEW;
  private long generatedTokens;
  private long prefilledTokens;
  private long completed;
  private double busyUntilMs = -1;

  /**
   * @param gpus the instance's GPUs (simulated ones get their activity set)
   * @param clockMhz the clock the GPUs run at now
   * @param clock the engine's time
   * @param startupMs model time to load the weights before serving
   */
  public SimulatedEngine(Profile profile, TensorParallelism tp, List<? extends GpuDevice> gpus, IntSupplier clockMhz,
      ModelClock clock, double startupMs) {
    this.profile = Objects.requireNonNull(profile, "profile");
    this.tp = Objects.requireNonNull(tp, "tp");
    this.gpus = List.copyOf(gpus);
    if (gpus.size() != tp.degree()) {
      throw new IllegalArgumentException(tp + " needs " + tp.degree() + " GPUs, got " + gpus.size());
    }
    this.clockMhz = clockMhz;
    this.clock = clock;
    this.startupMs = startupMs;
    this.model = new ContinuousBatching<>(profile, tp);
  }

  @Override
  public CompletionStage<Void> start() {
    synchronized (lock) {
      if (state != State.NEW) {
        return started;
      }
      state = State.STARTING;
    }
    Thread loop = new Thread(this::run, "sim-engine-" + tp + "-" + gpus.get(0).uuid());
    loop.setDaemon(true);
    loop.start();
    return started;
  }

  @Override
  public CompletionStage<Completion> submit(EngineRequest request) {
    return submit(request, null);
  }

  /**
   * An API call gets {@link SyntheticText}'s answer (up to its {@code outputTokens}); a replayed request exactly its
   * {@code outputTokens}, without text. Each token goes to {@code tokens} when its iteration ends.
   */
  @Override
  public CompletionStage<Completion> submit(EngineRequest request, TokenSink tokens) {
    CompletableFuture<Completion> done = new CompletableFuture<>();
    SyntheticText.Plan plan = request.call().map(c -> SyntheticText.plan(c, request.outputTokens())).orElse(null);
    Pending p = new Pending(request, done, tokens, plan);
    synchronized (lock) {
      if (state != State.SERVING) {
        return CompletableFuture.failedFuture(new EngineUnavailable("engine is " + state.name().toLowerCase()));
      }
      p.job = model.submit(p, request.promptTokens(), p.outputTokens(), clock.nowMs());
      byId.put(request.id(), p);
      lock.notifyAll();
    }
    done.whenComplete((c, e) -> {
      synchronized (lock) {
        byId.remove(request.id(), p);
      }
    });
    return done;
  }

  @Override
  public boolean cancel(long requestId) {
    Pending p;
    synchronized (lock) {
      p = byId.get(requestId);
      if (p == null || model.cancel(p.job.seq()) == null) {
        return false;
      }
      p.cancelled = true;
      streaming.remove(p);
    }
    p.done.completeExceptionally(new Cancelled("request " + requestId + " cancelled"));
    return true;
  }

  @Override
  public CompletionStage<Void> drain() {
    synchronized (lock) {
      if (state == State.SERVING || state == State.STARTING || state == State.NEW) {
        state = State.DRAINING;
        lock.notifyAll();
      }
      if (state == State.DRAINING && model.isEmpty()) {
        drained.complete(null);
      }
    }
    return drained;
  }

  @Override
  public EngineLoad load() {
    synchronized (lock) {
      return new EngineLoad(model.runningCount(), model.waitingCount(), generatedTokens, completed);
    }
  }

  /** Prompt tokens prefilled since the engine started (vLLM's {@code vllm:prompt_tokens_total} counts them so). */
  public long prefilledTokens() {
    synchronized (lock) {
      return prefilledTokens;
    }
  }

  @Override
  public boolean healthy() {
    synchronized (lock) {
      return state == State.SERVING || state == State.DRAINING;
    }
  }

  @Override
  public List<Queued> waiting() {
    synchronized (lock) {
      List<Queued> out = new ArrayList<>();
      for (var j : model.waiting()) {
        out.add(new Queued(j.seq(), j.payload().request.id(), j.arrivalMs(), j.promptTokens()));
      }
      return out;
    }
  }

  @Override
  public double busyUntilMs(double nowMs) {
    synchronized (lock) {
      return Math.max(nowMs, busyUntilMs);
    }
  }

  @Override
  public void reorder(List<Long> seqs) {
    synchronized (lock) {
      model.reorder(seqs);
    }
  }

  @Override
  public boolean withdraw(long seq, boolean reroute, String reason) {
    ContinuousBatching.Job<Pending> j;
    synchronized (lock) {
      j = model.withdraw(seq);
    }
    if (j == null) {
      return false;
    }
    j.payload().done.completeExceptionally(new Withdrawn(reroute, reason));
    return true;
  }

  @Override
  public void close() {
    List<ContinuousBatching.Job<Pending>> failed;
    synchronized (lock) {
      state = State.STOPPED;
      failed = model.all();
      model.clear();
      streaming.clear();
      lock.notifyAll();
    }
    failed.forEach(j -> j.payload().done.completeExceptionally(new EngineUnavailable("engine stopped")));
    started.completeExceptionally(new EngineUnavailable("engine stopped"));
    drained.complete(null);
    setActivity(GpuActivity.IDLE);
  }

  // --------------------------------------------------------------------------------------------- the loop

  private void run() {
    double t = clock.nowMs();
    setActivity(startupMs > 0 ? GpuActivity.LOADING : GpuActivity.IDLE); // loading weights draws more than idle
    if (!sleepUntil(t + startupMs)) {
      return;
    }
    setActivity(GpuActivity.IDLE);
    synchronized (lock) {
      if (state == State.STARTING) {
        state = State.SERVING;
      }
    }
    started.complete(null);
    // iterations run back to back in model time: each starts where the last one ended (or now, after idling), so the
    // thread's wake-up delays do not add up
    double cursor = clock.nowMs();
    while (true) {
      int mhz = clockMhz.getAsInt();
      ContinuousBatching.Iteration<Pending> it;
      synchronized (lock) {
        if (state == State.STOPPED) {
          return;
        }
        it = model.next(mhz, 1); // one step at a time: prompts that arrive meanwhile join after it
        if (it == null) {
          if (state == State.DRAINING) {
            drained.complete(null);
          }
          busyUntilMs = -1;
          setActivity(GpuActivity.IDLE);
          try {
            lock.wait(50);
          } catch (InterruptedException e) {
            return;
          }
          cursor = -1;
          continue;
        }
      }
      double start = cursor < 0 ? clock.nowMs() : cursor;
      double end;
      if (it instanceof ContinuousBatching.Prefill<Pending> p) {
        for (var j : p.batch()) {
          start = Math.max(start, j.arrivalMs()); // a prefill never starts before its prompts arrived
        }
        setActivity(new GpuActivity.Prefill(tp, p.tokens()));
        end = start + p.durationMs();
      } else {
        ContinuousBatching.Decode<Pending> d = (ContinuousBatching.Decode<Pending>) it;
        setActivity(new GpuActivity.Decode(tp, d.batchSize()));
        end = start + d.stepMs();
      }
      synchronized (lock) {
        busyUntilMs = end;
      }
      cursor = end;
      if (!sleepUntil(end)) {
        return;
      }
      List<ContinuousBatching.Job<Pending>> done;
      List<Pending> produced;
      double perSequence;
      // the iteration's GPU energy, split by the tokens each request had in it: its prompt in a prefill, one token
      // each in a decode step
      double energyJ = it.powerPerGpuW() * tp.degree() * (end - start) / 1000.0;
      synchronized (lock) {
        if (state == State.STOPPED) {
          return;
        }
        if (it instanceof ContinuousBatching.Prefill<Pending> p) {
          long prompts = 0;
          for (var j : p.batch()) {
            prompts += j.promptTokens();
          }
          produced = new ArrayList<>(p.batch().size());
          for (var j : p.batch()) {
            Pending q = j.payload();
            q.energyJ += energyJ * j.promptTokens() / Math.max(1, prompts);
            q.joinedAtJ = perSequenceJ;
            if (q.sink != null && !q.cancelled) {
              produced.add(q);
              if (q.outputTokens() > 1) {
                streaming.add(q);
              }
            }
          }
          generatedTokens += p.batch().size();
          prefilledTokens += prompts;
          done = model.endPrefill(end);
        } else {
          ContinuousBatching.Decode<Pending> d = (ContinuousBatching.Decode<Pending>) it;
          perSequenceJ += energyJ / Math.max(1, d.batchSize());
          produced = List.copyOf(streaming);
          generatedTokens += d.batchSize();
          done = model.endDecode(1, start, d.stepMs());
        }
        completed += done.size();
        for (var j : done) {
          streaming.remove(j.payload());
        }
        perSequence = perSequenceJ;
      }
      for (Pending q : produced) {
        if (!q.cancelled) {
          q.emit();
        }
      }
      for (var j : done) {
        j.payload().done.complete(j.payload().completion(j, perSequence));
      }
    }
  }

  /** Waits until the engine's time reaches {@code modelMs}; false when the engine stopped meanwhile. */
  private boolean sleepUntil(double modelMs) {
    while (true) {
      synchronized (lock) {
        if (state == State.STOPPED) {
          return false;
        }
      }
      double wallMs = clock.wallMsUntil(modelMs);
      if (wallMs <= 0) {
        return true;
      }
      LockSupport.parkNanos((long) Math.min(wallMs * 1e6, 50e6));
    }
  }

  private void setActivity(GpuActivity a) {
    for (GpuDevice g : gpus) {
      if (g.underlying() instanceof SimulatedGpuDevice s) {
        s.setActivity(a);
      }
    }
  }
}
