package io.dynamollm.sim;

import io.dynamollm.decision.engine.ContinuousBatching;
import io.dynamollm.decision.instance.InstanceStep;
import io.dynamollm.decision.routing.RoutingPolicy;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.InstanceTelemetry;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import java.util.List;

/**
 * One inference instance in virtual time: the engine model every engine shares ({@link ContinuousBatching}) stepped
 * by events, its GPUs' power and energy, and — for the policies that govern clocks — the instance step the live
 * instance manager runs ({@link InstanceStep}).
 *
 * <p>Decode steps run in runs: between two events that change the batch (an arrival, a completion, a clock change)
 * the batch is constant, so a run of identical steps is one event (re-evaluated at least every second of virtual
 * time, as the context grows).
 */
final class SimInstance implements RoutingPolicy.Candidate {
  private enum Activity {
    IDLE,
    PREFILL,
    DECODE,
    TRANSITION,
    OFF
  }

  final String id;
  final SimPool pool;
  final TensorParallelism tp;
  final ContinuousBatching<SimRequest> engine;
  int clockMhz;
  InstanceState state;
  /** Capacity this instance is planned for (routing weight), req/s. */
  double capacityRps = 1;
  /** The instance step of the policies that govern clocks (null for the others). */
  InstanceStep step;

  private Activity activity;
  private double actStartMs;
  private double actEndMs;
  private double stepMs;
  private long runSteps;
  private int version;
  private double powerW;
  private double accountedMs;
  double energyJ;

  SimInstance(String id, SimPool pool, TensorParallelism tp, int clockMhz, InstanceState state, double nowMs) {
    this.id = id;
    this.pool = pool;
    this.tp = tp;
    this.clockMhz = clockMhz;
    this.state = state;
    this.engine = new ContinuousBatching<>(pool.sim.profile(), tp);
    this.accountedMs = nowMs;
    this.activity = state == InstanceState.READY ? Activity.IDLE : Activity.OFF;
    this.powerW = state == InstanceState.READY ? tp.degree() * pool.sim.profile().idlePowerW() : 0;
  }

  Simulation sim() {
    return pool.sim;
  }

  /** A warm spare: ready, but its pool routes it nothing (see {@link io.dynamollm.decision.pool.SparePolicy}). */
  boolean spare;

  boolean acceptsRequests() {
    return state.acceptsRequests() && !spare;
  }

  // ------------------------------------------------------------------ as the routers see it

  @Override
  public String id() {
    return id;
  }

  @Override
  public double capacityRps() {
    return capacityRps;
  }

  @Override
  public int outstanding() {
    return engine.outstanding();
  }

  @Override
  public int waiting() {
    return engine.waitingCount();
  }

  // ------------------------------------------------------------------ lifecycle

  /** Serves after a start-up or re-shard of {@code durationMs}. */
  void beginTransition(double nowMs, InstanceState kind, double durationMs) {
    account(nowMs);
    state = kind;
    activity = Activity.TRANSITION;
    actEndMs = nowMs + durationMs;
    powerW = tp.degree() * sim().transitionPowerW();
    version++;
    sim().schedule(actEndMs, this, version);
  }

  /** Takes no new requests; its waiting ones go back to the router when another instance can take them. */
  void drain(double nowMs) {
    if (state == InstanceState.STOPPED || state == InstanceState.DRAINING) {
      return;
    }
    boolean transitioning = activity == Activity.TRANSITION;
    state = InstanceState.DRAINING;
    sim().stateChanged(this);
    if (sim().anyReady()) {
      for (var j : engine.takeWaiting()) {
        sim().reroute(j.payload(), this);
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
    state = InstanceState.STOPPED;
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

  /** Queues {@code r}; {@code arrival}: it is new here (the governor counts it), not put back. */
  void enqueue(double nowMs, SimRequest r, boolean arrival) {
    r.instance = this;
    r.job = engine.submit(r, r.prompt, r.output, r.arrivalMs);
    if (step != null && arrival) {
      step.arrived(r.routedType);
    }
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
        if (state == InstanceState.STARTING || state == InstanceState.RESHARDING) {
          state = InstanceState.READY;
          sim().instanceReady(nowMs, this);
        }
        kick(nowMs);
      }
      case PREFILL -> {
        account(nowMs);
        activity = Activity.IDLE;
        finish(engine.endPrefill(nowMs));
        kick(nowMs);
      }
      case DECODE -> {
        account(nowMs);
        activity = Activity.IDLE;
        finish(engine.endDecode(runSteps, actStartMs, stepMs));
        kick(nowMs);
      }
      default -> {
      }
    }
  }

  /** Starts the next iteration: prefill first, then a decode run, else idle. */
  void kick(double nowMs) {
    if (activity != Activity.IDLE) {
      return;
    }
    account(nowMs);
    if (state == InstanceState.DRAINING && engine.isEmpty()) {
      stop(nowMs);
      return;
    }
    var it = engine.next(clockMhz, Long.MAX_VALUE);
    if (it instanceof ContinuousBatching.Prefill<SimRequest> p) {
      activity = Activity.PREFILL;
      actStartMs = nowMs;
      actEndMs = nowMs + p.durationMs();
      powerW = tp.degree() * p.powerPerGpuW();
      version++;
      sim().schedule(actEndMs, this, version);
    } else if (it instanceof ContinuousBatching.Decode<SimRequest> d) {
      stepMs = d.stepMs();
      // re-evaluate at least every second of virtual time (the context grows)
      runSteps = Math.max(1, Math.min(d.steps(), (long) Math.ceil(1000 / stepMs)));
      activity = Activity.DECODE;
      actStartMs = nowMs;
      powerW = tp.degree() * d.powerPerGpuW();
      version++;
      sim().schedule(nowMs + runSteps * stepMs, this, version);
    } else {
      powerW = tp.degree() * sim().profile().idlePowerW();
    }
  }

  /**
   * Stops serving now (before a re-shard): a prefill in progress is undone (its prompts go back to the head of the
   * queue), a decode run keeps the steps it completed.
   */
  void halt(double nowMs) {
    account(nowMs);
    if (activity == Activity.PREFILL) {
      engine.abortPrefill();
    } else if (activity == Activity.DECODE) {
      long done = (long) Math.floor((nowMs - actStartMs) / stepMs + 1e-9);
      finish(engine.endDecode(Math.max(0, Math.min(runSteps, done)), actStartMs, stepMs));
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

  private void finish(List<ContinuousBatching.Job<SimRequest>> done) {
    for (ContinuousBatching.Job<SimRequest> j : done) {
      SimRequest r = j.payload();
      if (step != null) {
        Slo slo = sim().settings().slos().of(r.routedType);
        step.completed(j.finishMs(), r.ttftMs(), r.tbtMs(), slo);
      }
      sim().completed(r);
    }
  }

  // ------------------------------------------------------------------ energy and telemetry

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

  /** What the live instance manager would report now. */
  InstanceTelemetry telemetry(double nowMs) {
    account(nowMs);
    InstanceStep.LadderCounts l = step == null ? new InstanceStep.LadderCounts(0, 0, 0, 0) : step.ladderCounts();
    return new InstanceTelemetry(id, pool.name, (long) nowMs, state, engine.waitingCount(), engine.runningCount(), 0,
        step == null ? 0 : step.ttftP99Ms(nowMs), step == null ? 0 : step.tbtP99Ms(nowMs), powerW, energyJ, clockMhz,
        List.of(), new InstanceTelemetry.Ladder(l.reordered(), l.maxClockRaises(), l.rerouted(), l.rejected()));
  }
}
