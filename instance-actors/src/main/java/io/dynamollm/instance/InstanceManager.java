package io.dynamollm.instance;

import io.dynamollm.decision.instance.ClockGuard;
import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.GpuException;
import io.dynamollm.instance.engine.Engine;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.CborSerializable;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.InstanceTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.BiFunction;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One inference-engine instance: takes its GPUs from the host agent, owns their clock, runs its engine, and reports
 * telemetry every second. Every instance epoch the {@link FrequencyGovernor} picks the clock for the observed load
 * and latencies, the {@link ClockGuard} keeps it to supported clocks in the bounds and rate-limits it. If the pool
 * manager is silent for {@code poolSilence}, the clock goes back to the maximum. Stopping (or crashing) releases the
 * GPUs to the host agent, which resets their clocks.
 *
 * <p>Times are model times ({@link ModelClock}): with a speedup the epochs shrink with the workload.
 */
public final class InstanceManager {

  /** Messages of an instance manager. */
  public sealed interface Command permits Start, Adopt, Retarget, Submit, Drain, Stop, GetStatus, Internal {}

  /**
   * Start serving {@code nativeType}'s pool at {@code tp}, clock bounds and SLO; telemetry goes to {@code telemetryTo}.
   */
  public record Start(String pool, RequestType nativeType, TensorParallelism tp, FrequencyBounds bounds, Slo slo,
      ActorRef<InstanceTelemetry> telemetryTo, ActorRef<Decision> decisionsTo) implements Command, CborSerializable {}

  /**
   * A restarted pool manager takes this running instance over: telemetry and decisions go to it from now on (it found
   * the instance in its host's GPU ledger).
   */
  public record Adopt(String pool, ActorRef<InstanceTelemetry> telemetryTo, ActorRef<Decision> decisionsTo)
      implements Command, CborSerializable {}

  /** New bounds or SLO from the pool manager (also its keep-alive). */
  public record Retarget(FrequencyBounds bounds, Slo slo) implements Command, CborSerializable {}

  /** A request to serve; the reply comes when it finished or failed. */
  public record Submit(Engine.EngineRequest request, ActorRef<Served> replyTo) implements Command, CborSerializable {}

  /** The answer to a {@link Submit}: {@code completion} present when served, else {@code error}. */
  public record Served(long id, Optional<Engine.Completion> completion, Optional<String> error)
      implements CborSerializable {}

  /** Stop taking requests; stop once the ones in flight finished. */
  public record Drain(String reason) implements Command, CborSerializable {}

  /** Stop now: fail what is in flight, release the GPUs. */
  public record Stop(String reason) implements Command, CborSerializable {}

  public record GetStatus(ActorRef<Status> replyTo) implements Command, CborSerializable {}

  /** A snapshot: state, GPUs (UUIDs), the clock they are locked at, why. */
  public record Status(String instanceId, InstanceState state, List<String> gpus, int clockMhz, String lastDecision)
      implements CborSerializable {}

  sealed interface Internal extends Command, NoSerializationVerificationNeeded {}

  private record GotGpus(HostAgent.Reservation reservation) implements Internal {}

  private record EngineReady(Optional<String> error) implements Internal {}

  private record Finished(Submit submit, Engine.Completion completion, String error) implements Internal {}

  private record Drained() implements Internal {}

  private record Released(HostAgent.Released released) implements Internal {}

  private enum Tick implements Internal { GOVERN, TELEMETRY }

  /**
   * @param governEpoch the instance epoch (the governor runs this often, model time)
   * @param poolSilence after this long without a word from the pool manager the clock returns to the maximum
   * @param minClockInterval least time between two clock changes (the guard's rate limit)
   * @param window latencies are judged over this much recent time
   */
  public record Settings(Duration governEpoch, Duration poolSilence, Duration minClockInterval, Duration window) {
    public static final Settings DEFAULT = new Settings(Duration.ofSeconds(5), Duration.ofSeconds(60),
        Duration.ofSeconds(5), Duration.ofSeconds(30));
  }

  /** Makes the engine for a start: its GPUs and how to read their clock. */
  public interface EngineFactory extends BiFunction<TensorParallelism, List<GpuDevice>, Engine> {}

  private InstanceManager() {}

  public static Behavior<Command> create(String instanceId, ActorRef<HostAgent.Command> hostAgent,
      EngineFactory engines, FrequencyGovernor governor, ModelClock clock, Settings settings) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
        new Running(instanceId, ctx, timers, hostAgent, engines, governor, clock, settings).idle()));
  }

  private static final class Running {
    private final String id;
    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final ActorRef<HostAgent.Command> hostAgent;
    private final EngineFactory engines;
    private final FrequencyGovernor governor;
    private final ModelClock clock;
    private final Settings settings;

    private Start start;
    private ActorRef<InstanceTelemetry> telemetryTo;
    private ActorRef<Decision> decisionsTo;
    private FrequencyBounds bounds;
    private Slo slo;
    private InstanceState state = InstanceState.STOPPED;
    private List<GpuDevice> gpus = List.of();
    private Engine engine;
    private FrequencyGovernor.State governorState;
    private long lastClockChangeMs;
    private int clockMhz = -1;
    private String lastDecision = "not started";
    private double lastHeardFromPoolMs;
    private int arrivalsInEpoch;
    private double smoothedLoad = -1;
    private final ArrayDeque<double[]> completions = new ArrayDeque<>(); // {atMs, ttft, tbt}
    private long lastEnergyMj = -1;
    private double lastEnergyAtMs;
    private double energyJ;
    private long lastTokens;

    Running(String id, ActorContext<Command> ctx, TimerScheduler<Command> timers, ActorRef<HostAgent.Command> hostAgent,
        EngineFactory engines, FrequencyGovernor governor, ModelClock clock, Settings settings) {
      this.id = id;
      this.ctx = ctx;
      this.timers = timers;
      this.hostAgent = hostAgent;
      this.engines = engines;
      this.governor = governor;
      this.clock = clock;
      this.settings = settings;
    }

    private Duration wall(Duration model) {
      return Duration.ofNanos(Math.max(1_000_000, (long) (model.toNanos() / clock.speedup())));
    }

    Behavior<Command> idle() {
      return Behaviors.receive(Command.class)
          .onMessage(Start.class, this::onStart)
          .onMessage(GotGpus.class, this::onGotGpus)
          .onMessage(EngineReady.class, this::onEngineReady)
          .onMessage(Retarget.class, this::onRetarget)
          .onMessage(Adopt.class, a -> {
            if (start != null && start.pool().equals(a.pool())) {
              telemetryTo = a.telemetryTo();
              decisionsTo = a.decisionsTo();
              lastHeardFromPoolMs = clock.nowMs();
              ctx.getLog().info("instance {}: adopted by a new manager of pool {}", id, a.pool());
              report();
            }
            return Behaviors.same();
          })
          .onMessage(Submit.class, this::onSubmit)
          .onMessage(Finished.class, this::onFinished)
          .onMessage(Drain.class, this::onDrain)
          .onMessage(Drained.class, d -> stopNow("drained"))
          .onMessage(Stop.class, s -> stopNow("stopped: " + s.reason()))
          .onMessage(Released.class, this::onReleased)
          .onMessage(GetStatus.class, this::onStatus)
          .onMessageEquals(Tick.GOVERN, () -> onGovern(Tick.GOVERN))
          .onMessageEquals(Tick.TELEMETRY, () -> onTelemetry(Tick.TELEMETRY))
          .onSignal(PostStop.class, s -> {
            releaseOnExit();
            return Behaviors.same();
          })
          .build();
    }

    private Behavior<Command> onStart(Start s) {
      if (start != null) {
        ctx.getLog().warn("instance {}: already started for pool {}; ignoring a second start", id, start.pool());
        return Behaviors.same();
      }
      start = s;
      telemetryTo = s.telemetryTo();
      decisionsTo = s.decisionsTo();
      bounds = s.bounds();
      slo = s.slo();
      state = InstanceState.STARTING;
      lastHeardFromPoolMs = clock.nowMs();
      ctx.ask(HostAgent.Reservation.class, hostAgent, Duration.ofSeconds(10),
          reply -> new HostAgent.Reserve(id, s.tp().degree(), reply),
          (res, err) -> new GotGpus(res != null ? res : new HostAgent.Refused(id, "host agent did not answer: " + err)));
      return Behaviors.same();
    }

    private Behavior<Command> onGotGpus(GotGpus g) {
      if (g.reservation() instanceof HostAgent.Refused r) {
        ctx.getLog().error("instance {}: no GPUs: {}", id, r.reason());
        state = InstanceState.FAILED;
        lastDecision = "failed: " + r.reason();
        report();
        return Behaviors.stopped();
      }
      gpus = ((HostAgent.Granted) g.reservation()).devices();
      ClockGuard guard = new ClockGuard(bounds, settings.minClockInterval().toMillis());
      setClock(guard.max(gpus.get(0).supportedGraphicsClocksMhz()), "start at the maximum clock");
      governorState = FrequencyGovernor.State.initial(clockMhz);
      engine = engines.apply(start.tp(), gpus);
      ctx.pipeToSelf(engine.start(), (ok, err) -> new EngineReady(Optional.ofNullable(err).map(Throwable::getMessage)));
      timers.startTimerWithFixedDelay(Tick.TELEMETRY, wall(Duration.ofSeconds(1)));
      return Behaviors.same();
    }

    private Behavior<Command> onEngineReady(EngineReady r) {
      if (r.error().isPresent()) {
        ctx.getLog().error("instance {}: engine failed to start: {}", id, r.error().get());
        state = InstanceState.FAILED;
        return stopNow("engine failed to start");
      }
      if (state == InstanceState.STARTING) {
        state = InstanceState.READY;
        timers.startTimerWithFixedDelay(Tick.GOVERN, wall(settings.governEpoch()));
      }
      report();
      return Behaviors.same();
    }

    private Behavior<Command> onRetarget(Retarget r) {
      bounds = r.bounds();
      slo = r.slo();
      lastHeardFromPoolMs = clock.nowMs();
      return Behaviors.same();
    }

    private Behavior<Command> onSubmit(Submit s) {
      if (state != InstanceState.READY) {
        s.replyTo().tell(new Served(s.request().id(), Optional.empty(), Optional.of("instance " + id + " is " + state)));
        return Behaviors.same();
      }
      arrivalsInEpoch++;
      ctx.pipeToSelf(engine.submit(s.request()), (c, err) -> new Finished(s, c, err == null ? null : rootMessage(err)));
      return Behaviors.same();
    }

    private Behavior<Command> onFinished(Finished f) {
      if (f.completion() != null) {
        completions.add(new double[] {clock.nowMs(), f.completion().ttftMs(), f.completion().tbtMs()});
        f.submit().replyTo().tell(new Served(f.submit().request().id(), Optional.of(f.completion()), Optional.empty()));
      } else {
        f.submit().replyTo().tell(new Served(f.submit().request().id(), Optional.empty(), Optional.of(f.error())));
      }
      return Behaviors.same();
    }

    private Behavior<Command> onDrain(Drain d) {
      if (engine == null) {
        return stopNow("drained before it started");
      }
      state = InstanceState.DRAINING;
      ctx.pipeToSelf(engine.drain(), (ok, err) -> new Drained());
      report();
      return Behaviors.same();
    }

    private Behavior<Command> onGovern(Tick t) {
      double now = clock.nowMs();
      if (state != InstanceState.READY) {
        return Behaviors.same();
      }
      ClockGuard guard = new ClockGuard(bounds, settings.minClockInterval().toMillis());
      List<Integer> supported = gpus.get(0).supportedGraphicsClocksMhz();
      if (now - lastHeardFromPoolMs > settings.poolSilence().toMillis()) {
        int max = guard.max(supported);
        if (clockMhz != max) {
          ctx.getLog().warn("instance {}: nothing from pool {} for {} s: back to the maximum clock", id, start.pool(),
              (long) ((now - lastHeardFromPoolMs) / 1000));
          setClock(max, "pool silent: maximum clock");
          governorState = FrequencyGovernor.State.initial(max);
        }
        return Behaviors.same();
      }
      while (!completions.isEmpty() && completions.peek()[0] < now - settings.window().toMillis()) {
        completions.poll();
      }
      Optional<Double> ttft = Optional.empty();
      Optional<Double> tbt = Optional.empty();
      if (completions.size() >= 20) {
        ttft = Optional.of(p99(completions.stream().mapToDouble(c -> c[1]).toArray()));
        tbt = Optional.of(p99(completions.stream().mapToDouble(c -> c[2]).toArray()));
      }
      // the load the governor plans for: the arrival rate smoothed over the latency window (an exponential average
      // with that time constant), so that an epoch without arrivals does not drop the clock to the floor just
      // before the next burst
      double epochS = settings.governEpoch().toMillis() / 1000.0;
      double instant = arrivalsInEpoch / epochS;
      arrivalsInEpoch = 0;
      double alpha = 1 - Math.exp(-epochS / Math.max(epochS, settings.window().toMillis() / 1000.0));
      smoothedLoad = smoothedLoad < 0 ? instant : smoothedLoad + alpha * (instant - smoothedLoad);
      double load = Math.max(instant, smoothedLoad);
      var d = governor.decide(governorState, new FrequencyGovernor.Input((long) now, start.nativeType(), start.tp(),
          load, slo, bounds, ttft, tbt));
      governorState = d.state();
      var g = guard.decide(d.state().clockMhz(), clockMhz, lastClockChangeMs, (long) now, supported, false);
      if (g instanceof ClockGuard.Apply a) {
        setClock(a.mhz(), d.reason() + ": " + d.detail());
      }
      return Behaviors.same();
    }

    private Behavior<Command> onTelemetry(Tick t) {
      report();
      return Behaviors.same();
    }

    private Behavior<Command> onStatus(GetStatus g) {
      g.replyTo().tell(new Status(id, state, gpus.stream().map(GpuDevice::uuid).toList(), clockMhz, lastDecision));
      return Behaviors.same();
    }

    private Behavior<Command> onReleased(Released r) {
      if (!r.released().resetFailures().isEmpty()) {
        ctx.getLog().error("instance {}: clock reset failed on {}", id, r.released().resetFailures());
      }
      return Behaviors.stopped();
    }

    private Behavior<Command> stopNow(String why) {
      if (engine != null) {
        engine.close();
      }
      state = InstanceState.STOPPED;
      lastDecision = why;
      report();
      timers.cancelAll();
      if (gpus.isEmpty()) {
        return Behaviors.stopped();
      }
      gpus = List.of();
      ctx.ask(HostAgent.Released.class, hostAgent, Duration.ofSeconds(10), reply -> new HostAgent.Release(id, reply),
          (res, err) -> new Released(res != null ? res : new HostAgent.Released(id, List.of(),
              java.util.Map.of("*", "host agent did not answer: " + err))));
      return Behaviors.same();
    }

    /** Crash or stop without {@link #stopNow}: the GPUs still go back (the agent resets their clocks). */
    private void releaseOnExit() {
      if (engine != null) {
        engine.close();
      }
      if (!gpus.isEmpty()) {
        hostAgent.tell(new HostAgent.Release(id, ctx.getSystem().ignoreRef()));
      }
    }

    private void setClock(int mhz, String why) {
      for (GpuDevice g : gpus) {
        try {
          g.setLockedGpuClocks(mhz, mhz);
        } catch (GpuException e) {
          ctx.getLog().error("instance {}: locking GPU {} at {} MHz failed: {}", id, g.uuid(), mhz, e.getMessage());
          return;
        }
      }
      if (mhz != clockMhz) {
        ctx.getLog().info("instance {}: clock {} -> {} MHz ({})", id, clockMhz, mhz, why);
        if (decisionsTo != null) {
          decisionsTo.tell(new Decision((long) clock.nowMs(), "instance", id,
              (clockMhz < 0 ? "clock" : "clock " + clockMhz + " ->") + " " + mhz + " MHz", why, 0));
        }
      }
      clockMhz = mhz;
      lastClockChangeMs = (long) clock.nowMs();
      lastDecision = why;
    }

    private void report() {
      if (start == null) {
        return;
      }
      double now = clock.nowMs();
      double powerW = 0;
      long energyMj = 0;
      for (GpuDevice g : gpus) {
        try {
          powerW += g.powerUsageMw() / 1000.0;
          energyMj += g.totalEnergyMj();
        } catch (GpuException e) {
          ctx.getLog().warn("instance {}: reading GPU {} failed: {}", id, g.uuid(), e.getMessage());
        }
      }
      if (lastEnergyMj >= 0 && energyMj >= lastEnergyMj) {
        energyJ += (energyMj - lastEnergyMj) / 1000.0;
      }
      lastEnergyMj = gpus.isEmpty() ? -1 : energyMj;
      Engine.EngineLoad load = engine == null ? new Engine.EngineLoad(0, 0, 0, 0) : engine.load();
      double dt = Math.max(1e-3, (now - lastEnergyAtMs) / 1000.0);
      double tokensPerS = (load.generatedTokens() - lastTokens) / dt;
      lastTokens = load.generatedTokens();
      lastEnergyAtMs = now;
      double ttft = completions.isEmpty() ? 0 : p99(completions.stream().mapToDouble(c -> c[1]).toArray());
      double tbt = completions.isEmpty() ? 0 : p99(completions.stream().mapToDouble(c -> c[2]).toArray());
      telemetryTo.tell(new InstanceTelemetry(id, start.pool(), (long) now, state, load.waiting(), load.running(),
          tokensPerS, ttft, tbt, powerW, energyJ, Math.max(0, clockMhz), gpus.stream().map(GpuDevice::uuid).toList()));
    }

    private static double p99(double[] v) {
      Arrays.sort(v);
      return v[Math.max(0, (int) Math.ceil(0.99 * v.length) - 1)];
    }

    private static String rootMessage(Throwable t) {
      while (t.getCause() != null && t != t.getCause()) {
        t = t.getCause();
      }
      return t.getMessage();
    }
  }
}
