package io.dynamollm.instance.engine;

import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.sim.GpuActivity;
import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntSupplier;

/**
 * A simulated inference engine on the profile, in live time: vLLM-like continuous batching without chunked prefill —
 * waiting prompts are prefilled together (up to 8192 tokens, within the batch and KV-cache limits), then one decode
 * step for the running batch, again and again. Each iteration lasts what the profile says at the clock the GPUs run
 * at (read before each iteration) and sets the activity, hence the power, of simulated GPUs. Time runs
 * {@code speedup} times faster than the wall clock; latencies are reported in the engine's (model) time.
 *
 * <p>One thread per engine runs the iterations; {@link #submit} and the other calls are thread-safe.
 */
public final class SimulatedEngine implements Engine {
  static final int MAX_PREFILL_TOKENS = 8192;

  private enum State { NEW, STARTING, SERVING, DRAINING, STOPPED }

  private static final class Job {
    final EngineRequest req;
    final CompletableFuture<Completion> done = new CompletableFuture<>();
    final double arrivalMs;
    double firstTokenMs;
    int generated;

    Job(EngineRequest req, double arrivalMs) {
      this.req = req;
      this.arrivalMs = arrivalMs;
    }
  }

  private final Profile profile;
  private final TensorParallelism tp;
  private final List<? extends GpuDevice> gpus;
  private final IntSupplier clockMhz;
  private final ModelClock clock;
  private final double startupMs;
  private final Object lock = new Object();
  private final ArrayDeque<Job> waiting = new ArrayDeque<>();
  private final List<Job> running = new ArrayList<>();
  /** Every request submitted and not finished, wherever it is (queued, being prefilled, decoding). */
  private final java.util.Set<Job> inFlight = new java.util.LinkedHashSet<>();
  private final CompletableFuture<Void> started = new CompletableFuture<>();
  private final CompletableFuture<Void> drained = new CompletableFuture<>();
  private State state = State.NEW;
  private long kvUsed;
  private long generatedTokens;
  private long completed;
  private Thread loop;

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
  }

  @Override
  public CompletionStage<Void> start() {
    synchronized (lock) {
      if (state != State.NEW) {
        return started;
      }
      state = State.STARTING;
    }
    loop = new Thread(this::run, "sim-engine-" + tp + "-" + gpus.get(0).uuid());
    loop.setDaemon(true);
    loop.start();
    return started;
  }

  @Override
  public CompletionStage<Completion> submit(EngineRequest request) {
    Job j;
    synchronized (lock) {
      if (state != State.SERVING) {
        return CompletableFuture.failedFuture(new EngineUnavailable("engine is " + state.name().toLowerCase()));
      }
      j = new Job(request, clock.nowMs());
      waiting.add(j);
      inFlight.add(j);
      lock.notifyAll();
    }
    return j.done;
  }

  @Override
  public CompletionStage<Void> drain() {
    synchronized (lock) {
      if (state == State.SERVING || state == State.STARTING || state == State.NEW) {
        state = State.DRAINING;
        lock.notifyAll();
      }
      if (state == State.DRAINING && waiting.isEmpty() && running.isEmpty()) {
        drained.complete(null);
      }
    }
    return drained;
  }

  @Override
  public EngineLoad load() {
    synchronized (lock) {
      return new EngineLoad(running.size(), waiting.size(), generatedTokens, completed);
    }
  }

  @Override
  public boolean healthy() {
    synchronized (lock) {
      return state == State.SERVING || state == State.DRAINING;
    }
  }

  @Override
  public void close() {
    List<Job> failed = new ArrayList<>();
    synchronized (lock) {
      state = State.STOPPED;
      failed.addAll(inFlight);
      inFlight.clear();
      waiting.clear();
      running.clear();
      lock.notifyAll();
    }
    failed.forEach(j -> j.done.completeExceptionally(new EngineUnavailable("engine stopped")));
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
      List<Job> batch = new ArrayList<>();
      int tokens = 0;
      synchronized (lock) {
        if (state == State.STOPPED) {
          return;
        }
        long kvCap = profile.kvCacheTokens(tp);
        while (!waiting.isEmpty() && running.size() + batch.size() < profile.maxBatch(tp)) {
          Job j = waiting.peek();
          long kv = j.req.promptTokens() + (long) j.req.outputTokens();
          if ((!batch.isEmpty() && tokens + j.req.promptTokens() > MAX_PREFILL_TOKENS) || kvUsed + kv > kvCap) {
            break;
          }
          waiting.poll();
          batch.add(j);
          tokens += j.req.promptTokens();
          kvUsed += kv;
        }
        if (batch.isEmpty() && running.isEmpty()) {
          if (state == State.DRAINING) {
            drained.complete(null);
          }
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
      int mhz = clockMhz.getAsInt();
      double start = cursor < 0 ? clock.nowMs() : cursor;
      if (!batch.isEmpty()) {
        for (Job j : batch) {
          start = Math.max(start, j.arrivalMs); // a prefill never starts before its prompts arrived
        }
        int prefillTokens = Math.min(tokens, MAX_PREFILL_TOKENS);
        setActivity(new GpuActivity.Prefill(tp, prefillTokens));
        double end = start + profile.prefillMs(tp, prefillTokens, mhz);
        cursor = end;
        if (!sleepUntil(end)) {
          return;
        }
        List<Job> done = new ArrayList<>();
        synchronized (lock) {
          for (Job j : batch) {
            j.firstTokenMs = end;
            j.generated = 1;
            generatedTokens++;
            if (j.req.outputTokens() == 1) {
              done.add(j);
            } else {
              running.add(j);
            }
          }
        }
        finish(done, end);
        continue;
      }
      int b;
      double context = 0;
      synchronized (lock) {
        b = running.size();
        for (Job j : running) {
          context += j.req.promptTokens() + j.generated;
        }
      }
      context = Math.min(MAX_PREFILL_TOKENS, context / b);
      setActivity(new GpuActivity.Decode(tp, b));
      double end = start + profile.decodeStepMs(tp, b, context, mhz);
      cursor = end;
      if (!sleepUntil(end)) {
        return;
      }
      List<Job> done = new ArrayList<>();
      synchronized (lock) {
        for (var it = running.iterator(); it.hasNext(); ) {
          Job j = it.next();
          j.generated++;
          generatedTokens++;
          if (j.generated >= j.req.outputTokens()) {
            it.remove();
            done.add(j);
          }
        }
      }
      finish(done, end);
    }
  }

  private void finish(List<Job> done, double nowMs) {
    if (done.isEmpty()) {
      return;
    }
    synchronized (lock) {
      for (Job j : done) {
        kvUsed -= j.req.promptTokens() + (long) j.req.outputTokens();
        completed++;
        inFlight.remove(j);
      }
    }
    for (Job j : done) {
      int out = j.req.outputTokens();
      double tbt = out > 1 ? (nowMs - j.firstTokenMs) / (out - 1) : 0;
      j.done.complete(new Completion(j.req.id(), j.firstTokenMs - j.arrivalMs, tbt, out));
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
      if (g instanceof SimulatedGpuDevice s) {
        s.setActivity(a);
      }
    }
  }
}
