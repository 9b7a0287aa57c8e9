package io.dynamollm.sim;

import io.dynamollm.protocol.TensorParallelism;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;

/**
 * One inference instance at iteration level: continuous batching with prefill-first scheduling (prompts waiting are
 * prefilled together, up to the token limit, before the next decode step), batch and KV-cache limits, iteration times
 * and phase power from the profile at its TP and clock.
 *
 * <p>Decode steps are simulated in runs: between two events that change the batch (an arrival, a completion, a clock
 * change) the batch is constant, so a run of identical steps is one event. A request's output is tracked by the step
 * at which it ends rather than token by token.
 */
final class SimInstance {
  enum State {
    STARTING,
    READY,
    RESHARDING,
    DRAINING,
    STOPPED
  }

  private enum Activity {
    IDLE,
    PREFILL,
    DECODE,
    TRANSITION,
    OFF
  }

  final int id;
  final SimPool pool;
  final TensorParallelism tp;
  int clockMhz;
  State state;
  double transitionEndMs;
  /** Capacity this instance is planned for (routing weight), req/s. */
  double capacityRps = 1;

  final ArrayDeque<SimRequest> waiting = new ArrayDeque<>();
  final PriorityQueue<SimRequest> running = new PriorityQueue<>(Comparator.comparingLong((SimRequest r) -> r.finishStep));
  long stepIndex;
  long kvUsed;
  long sumPrompt;
  long sumJoin;

  private Activity activity = Activity.OFF;
  private double actStartMs;
  private double actEndMs;
  private double stepMs;
  private long runStartStep;
  private long runSteps;
  private List<SimRequest> prefillBatch = List.of();
  int version;
  // energy accounting
  private double powerW;
  private double accountedMs;
  double energyJ;
  // governor state and observations
  Object governorState;
  /** Native-equivalent arrivals since the last governor epoch. */
  double arrivalsInWindow;
  /** {time, TTFT / SLO, TBT / SLO} of recent completions. */
  final ArrayDeque<double[]> completions = new ArrayDeque<>();

  SimInstance(int id, SimPool pool, TensorParallelism tp, int clockMhz, State state, double nowMs, double transitionEndMs) {
    this.id = id;
    this.pool = pool;
    this.tp = tp;
    this.clockMhz = clockMhz;
    this.state = state;
    this.transitionEndMs = transitionEndMs;
    this.accountedMs = nowMs;
    this.activity = state == State.READY ? Activity.IDLE : Activity.OFF;
  }

  Simulation sim() {
    return pool.sim;
  }

  boolean acceptsRequests() {
    return state == State.READY;
  }

  /** Outstanding requests per req/s of planned capacity (seconds of queued work, roughly). */
  double loadScore() {
    return (outstanding() + 1) / Math.max(1e-6, capacityRps);
  }

  int outstanding() {
    return waiting.size() + running.size() + prefillBatch.size();
  }

  // ------------------------------------------------------------------ lifecycle

  /** Starts serving after a start-up or re-shard of {@code durationMs}. */
  void beginTransition(double nowMs, State kind, double durationMs) {
    account(nowMs);
    state = kind;
    activity = Activity.TRANSITION;
    transitionEndMs = nowMs + durationMs;
    powerW = tp.degree() * sim().transitionPowerW();
    version++;
    sim().schedule(transitionEndMs, this, version);
  }

  void drain(double nowMs) {
    if (state == State.STOPPED || state == State.DRAINING) {
      return;
    }
    boolean transitioning = activity == Activity.TRANSITION;
    state = State.DRAINING;
    // requests not yet started go back to the router when another instance can take them; else this one serves them
    if (sim().anyReady()) {
      List<SimRequest> back = new ArrayList<>(waiting);
      waiting.clear();
      for (SimRequest r : back) {
        sim().reroute(nowMs, r, pool);
      }
    }
    if (transitioning) {
      stop(nowMs);
    } else if (activity == Activity.IDLE) {
      kick(nowMs);
    }
  }

  private void stop(double nowMs) {
    account(nowMs);
    state = State.STOPPED;
    activity = Activity.OFF;
    powerW = 0;
    version++;
    sim().instanceStopped(nowMs, this);
  }

  void setClock(double nowMs, int mhz) {
    if (mhz == clockMhz) {
      return;
    }
    clockMhz = mhz;
    sim().countFrequencyChange();
    if (activity == Activity.DECODE) {
      cutRun(nowMs); // the next run uses the new clock
    } else if (activity == Activity.IDLE) {
      account(nowMs);
    }
  }

  // ------------------------------------------------------------------ requests

  void enqueue(double nowMs, SimRequest r) {
    r.instance = this;
    waiting.add(r);
    arrivalsInWindow += pool.workOf(r);
    if (activity == Activity.DECODE) {
      cutRun(nowMs);
    } else if (activity == Activity.IDLE) {
      kick(nowMs);
    }
  }

  /** Wake-up for the event scheduled with {@code v}. */
  void wake(double nowMs, int v) {
    if (v != version) {
      return;
    }
    switch (activity) {
      case TRANSITION -> {
        account(nowMs);
        activity = Activity.IDLE;
        powerW = tp.degree() * sim().profile().idlePowerW();
        if (state == State.STARTING || state == State.RESHARDING) {
          state = State.READY;
          sim().instanceReady(nowMs, this);
        }
        kick(nowMs);
      }
      case PREFILL -> {
        account(nowMs);
        for (SimRequest r : prefillBatch) {
          r.firstTokenMs = nowMs;
          if (r.output <= 1) {
            finish(nowMs, r);
          } else {
            r.joinStep = stepIndex;
            r.finishStep = stepIndex + (r.output - 1);
            running.add(r);
            sumPrompt += r.prompt;
            sumJoin += r.joinStep;
          }
        }
        prefillBatch = List.of();
        activity = Activity.IDLE;
        kick(nowMs);
      }
      case DECODE -> {
        account(nowMs);
        endRun(runSteps);
        activity = Activity.IDLE;
        kick(nowMs);
      }
      default -> {
      }
    }
  }

  /** Picks the next iteration: prefill first, then a decode run, else idle. */
  void kick(double nowMs) {
    if (activity != Activity.IDLE) {
      return;
    }
    account(nowMs);
    Simulation s = sim();
    if (state == State.DRAINING && waiting.isEmpty() && running.isEmpty()) {
      stop(nowMs);
      return;
    }
    int maxBatch = s.profile().maxBatch(tp);
    long kvCap = s.profile().kvCacheTokens(tp);
    if (!waiting.isEmpty() && running.size() < maxBatch) {
      List<SimRequest> batch = new ArrayList<>();
      int tokens = 0;
      long kv = kvUsed;
      while (!waiting.isEmpty() && running.size() + batch.size() < maxBatch) {
        SimRequest r = waiting.peek();
        if ((!batch.isEmpty() && tokens + r.prompt > Simulation.MAX_PREFILL_TOKENS) || kv + r.kvTokens() > kvCap) {
          break;
        }
        waiting.poll();
        batch.add(r);
        tokens += r.prompt;
        kv += r.kvTokens();
      }
      if (!batch.isEmpty()) {
        kvUsed = kv;
        prefillBatch = batch;
        int prefillTokens = Math.min(tokens, Simulation.MAX_PREFILL_TOKENS);
        double d = s.profile().prefillMs(tp, prefillTokens, clockMhz);
        activity = Activity.PREFILL;
        actStartMs = nowMs;
        powerW = tp.degree() * s.profile().prefillPowerW(tp, prefillTokens, clockMhz);
        version++;
        actEndMs = nowMs + d;
        s.schedule(actEndMs, this, version);
        return;
      }
    }
    if (!running.isEmpty()) {
      int b = running.size();
      double context = Math.min(8192, (sumPrompt + (double) b * stepIndex - sumJoin) / b + 1);
      stepMs = s.profile().decodeStepMs(tp, b, context, clockMhz);
      long toNext = running.peek().finishStep - stepIndex;
      // re-evaluate at least every second of virtual time (the context grows)
      runSteps = Math.max(1, Math.min(toNext, (long) Math.ceil(1000 / stepMs)));
      runStartStep = stepIndex;
      actStartMs = nowMs;
      activity = Activity.DECODE;
      powerW = tp.degree() * s.profile().decodePowerW(tp, b, clockMhz);
      version++;
      s.schedule(nowMs + runSteps * stepMs, this, version);
      return;
    }
    powerW = tp.degree() * s.profile().idlePowerW();
  }

  /**
   * Stops serving now (before a re-shard): a prefill in progress is undone (its prompts go back to the head of the
   * queue), a decode run keeps the steps it completed.
   */
  void halt(double nowMs) {
    account(nowMs);
    if (activity == Activity.PREFILL) {
      for (int k = prefillBatch.size() - 1; k >= 0; k--) {
        SimRequest r = prefillBatch.get(k);
        kvUsed -= r.kvTokens();
        waiting.addFirst(r);
      }
      prefillBatch = List.of();
    } else if (activity == Activity.DECODE) {
      long done = (long) Math.floor((nowMs - actStartMs) / stepMs + 1e-9);
      endRun(Math.max(0, Math.min(runSteps, done)));
    }
    activity = Activity.OFF;
    powerW = 0;
    version++;
  }

  /** Ends the current decode run at the step boundary following now. */
  private void cutRun(double nowMs) {
    long done = (long) Math.ceil((nowMs - actStartMs) / stepMs - 1e-9);
    done = Math.max(1, Math.min(runSteps, done));
    if (done >= runSteps) {
      return; // it ends at its planned time anyway
    }
    runSteps = done;
    version++;
    sim().schedule(actStartMs + done * stepMs, this, version);
  }

  private void endRun(long steps) {
    stepIndex = runStartStep + steps;
    while (!running.isEmpty() && running.peek().finishStep <= stepIndex) {
      SimRequest r = running.poll();
      double t = actStartMs + (r.finishStep - runStartStep) * stepMs;
      sumPrompt -= r.prompt;
      sumJoin -= r.joinStep;
      finish(t, r);
    }
  }

  private void finish(double t, SimRequest r) {
    r.finishMs = t;
    kvUsed -= r.kvTokens();
    // latencies as shares of the request's own SLO, so pools serving several types judge them alike
    var slo = sim().settings().slos().of(r.trueType);
    completions.add(new double[] {t, r.ttftMs() / slo.ttftP99Ms(), r.tbtMs() / slo.tbtP99Ms()});
    sim().completed(r);
  }

  /** Drops the oldest observations. */
  void trimObservations(double sinceMs) {
    while (!completions.isEmpty() && completions.peekFirst()[0] < sinceMs) {
      completions.pollFirst();
    }
  }

  // ------------------------------------------------------------------ energy

  void account(double nowMs) {
    if (nowMs > accountedMs) {
      energyJ += powerW * (nowMs - accountedMs) / 1000.0;
      sim().addEnergy(accountedMs, nowMs, powerW);
      accountedMs = nowMs;
    }
  }

  /** When the iteration in progress ends (now when idle). */
  double busyUntil(double nowMs) {
    return switch (activity) {
      case PREFILL -> actEndMs;
      case DECODE -> actStartMs + Math.ceil((nowMs - actStartMs) / stepMs) * stepMs;
      default -> nowMs;
    };
  }
}
