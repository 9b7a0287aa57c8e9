package io.dynamollm.instance;

import io.dynamollm.decision.DecisionNote;
import io.dynamollm.decision.instance.InstanceStep;
import io.dynamollm.decision.instance.ProfileRefinement;
import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.GpuException;
import io.dynamollm.instance.engine.Engine;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.CborSerializable;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.InstanceTelemetry;
import io.dynamollm.protocol.MixSpec;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiFunction;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.sharding.external.ExternalShardAllocation;
import org.apache.pekko.cluster.sharding.external.ExternalShardAllocationStrategy;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.ShardingMessageExtractor;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * One inference-engine instance: takes its GPUs from the host agent, owns their clock, runs its engine, and reports
 * telemetry every second. A thin driver of the {@link InstanceStep} (the simulator runs the same step): every instance
 * epoch the step's governor picks the clock (through its clock guard), every ladder interval the step's emergency
 * ladder looks at the engine's waiting queue — reorders it, raises the clock, sends requests that have not started
 * back to the router to be re-routed, rejects those past their deadline. If the pool manager is silent for
 * {@code poolSilence}, the clock goes back to the maximum. Stopping (or crashing) releases the GPUs to the host agent,
 * which resets their clocks.
 *
 * <p>A sharded entity ({@link #TYPE_KEY}) that always lives on the node of its GPU host: its id starts with the host's
 * id, which is its shard, and external shard allocation puts each host's shard on that host ({@link #init}).
 *
 * <p>Times are model times ({@link ModelClock}): with a speedup the epochs shrink with the workload.
 */
public final class InstanceManager {

  public static final EntityTypeKey<Command> TYPE_KEY = EntityTypeKey.create(Command.class, "instance");
  /** Separates an instance id's host from the rest: {@code <host>~<pool>-<n>}. */
  public static final char HOST_SEPARATOR = io.dynamollm.protocol.InstanceIds.HOST_SEPARATOR;

  /** Messages of an instance manager. */
  public sealed interface Command permits Start, Adopt, Retarget, Submit, Cancel, Drain, Stop, GetStatus, Internal {}

  /**
   * Start serving {@code nativeType}'s pool at {@code tp} within the clock bounds, for the pool's mix of requests (its
   * governor plans with it); telemetry goes to {@code telemetryTo}.
   */
  public record Start(String pool, RequestType nativeType, TensorParallelism tp, FrequencyBounds bounds, MixSpec mix,
      ActorRef<InstanceTelemetry> telemetryTo, ActorRef<Decision> decisionsTo) implements Command, CborSerializable {}

  /**
   * A restarted pool manager takes this running instance over: telemetry and decisions go to it from now on (it found
   * the instance in its host's GPU ledger).
   */
  public record Adopt(String pool, ActorRef<InstanceTelemetry> telemetryTo, ActorRef<Decision> decisionsTo)
      implements Command, CborSerializable {}

  /**
   * New bounds or mix from the pool manager (also its keep-alive); {@code canReroute}: another ready instance of the
   * pool or of a larger one could take a request now (the emergency ladder's third rung).
   */
  public record Retarget(FrequencyBounds bounds, MixSpec mix, boolean canReroute) implements Command, CborSerializable {}

  /**
   * A request to serve; the reply comes when it finished, failed, or was taken out before it started.
   *
   * @param type the type it was routed as (its predicted type)
   * @param slo the SLO it is judged by (the ladder's deadline; the governor judges the latency against it)
   * @param streamTo where each output token goes as it comes out (a client's stream), if anywhere
   */
  public record Submit(Engine.EngineRequest request, RequestType type, Slo slo, ActorRef<Served> replyTo,
      Optional<ActorRef<Token>> streamTo) implements Command, CborSerializable {
    public Submit(Engine.EngineRequest request, RequestType type, Slo slo, ActorRef<Served> replyTo) {
      this(request, type, slo, replyTo, Optional.empty());
    }
  }

  /** One piece of a request's output, from instance {@code instance}, as it comes out ({@code index} from 0). */
  public record Token(long requestId, String instance, int index, String text) implements CborSerializable {}

  /** The request's client went away: stop serving it (it is answered as failed, "cancelled"). */
  public record Cancel(long requestId) implements Command, CborSerializable {}

  /**
   * The answer to a {@link Submit}: {@code completion} present when served, else {@code error}; {@code reroute}: the
   * emergency ladder took it out of the queue before it started — send it to another instance; {@code streamed}:
   * output tokens of it went out to its stream before it failed (it cannot be served again elsewhere);
   * {@code cancelled}: it was cancelled.
   */
  public record Served(long id, Optional<Engine.Completion> completion, Optional<String> error, boolean reroute,
      boolean streamed, boolean cancelled) implements CborSerializable {
    public Served(long id, Optional<Engine.Completion> completion, Optional<String> error, boolean reroute) {
      this(id, completion, error, reroute, false, false);
    }
  }

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

  private record Finished(Submit submit, Engine.Completion completion, Throwable error,
      java.util.concurrent.atomic.AtomicInteger streamed) implements Internal {}

  private record Drained() implements Internal {}

  private record Released(HostAgent.Released released) implements Internal {}

  private enum Tick implements Internal { GOVERN, LADDER, TELEMETRY }

  /**
   * @param instanceEpoch the step's governor runs this often (model time)
   * @param ladderInterval the step's ladder looks at the queue this often
   * @param poolSilence after this long without a word from the pool manager the clock returns to the maximum
   */
  public record Settings(Duration instanceEpoch, Duration ladderInterval, Duration poolSilence) {}

  /** Makes an instance's step once it has its GPUs and knows its start. */
  public interface StepFactory {
    InstanceStep create(String id, Start start, List<Integer> supportedClocksMhz, double nowMs);
  }

  /** Makes the engine for a start: its GPUs and how to read their clock. */
  public interface EngineFactory extends BiFunction<TensorParallelism, List<GpuDevice>, Engine> {}

  private InstanceManager() {}

  public static Behavior<Command> create(String instanceId, ActorRef<HostAgent.Command> hostAgent,
      EngineFactory engines, StepFactory steps, ModelClock clock, Settings settings) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
        new Running(instanceId, ctx, timers, hostAgent, engines, steps, clock, settings).idle()));
  }

  /**
   * Starts instance sharding on this node: every instance's shard is its host's id, placed on that host's node by
   * external shard allocation (a gpu-host node registers its own address for its id). An instance whose id names
   * another host (one that left the cluster: its shard moved here) does not run here: it answers requests with an
   * error at once and logs that once.
   *
   * @param hostAgent this node's host agent (gpu-host nodes), empty elsewhere
   * @param engines makes the engine of an instance of this node ({@code id} → factory)
   */
  public static void init(ActorSystem<?> system, Optional<ActorRef<HostAgent.Command>> hostAgent, String selfHost,
      Address selfAddress, java.util.function.Function<String, EngineFactory> engines, StepFactory steps,
      ModelClock clock, Settings settings) {
    ShardingMessageExtractor<ShardingEnvelope<Command>, Command> byHost = new ShardingMessageExtractor<>() {
      @Override
      public String entityId(ShardingEnvelope<Command> envelope) {
        return envelope.entityId();
      }

      @Override
      public String shardId(String entityId) {
        return hostOf(entityId);
      }

      @Override
      public Command unwrapMessage(ShardingEnvelope<Command> envelope) {
        return envelope.message();
      }
    };
    ClusterSharding.get(system).init(Entity.of(TYPE_KEY, ec -> {
          String id = ec.getEntityId();
          String host = hostOf(id);
          if (hostAgent.isEmpty() || !host.equals(selfHost)) {
            // its host is not in the cluster (its shard came here when the host left): said once, not per message;
            // a request sent to it is answered at once (the router tries elsewhere), nothing else is done
            return Behaviors.setup(c -> {
              c.getLog().warn("instance {} cannot run on {}: its GPUs are on {} (not in the cluster now); it refuses"
                  + " what is sent to it", id, selfHost, host);
              return Behaviors.receive(Command.class)
                  .onMessage(Submit.class, sub -> {
                    sub.replyTo().tell(new Served(sub.request().id(), Optional.empty(), Optional.of("instance " + id
                        + " is on " + host + ", which is not in the cluster"), false));
                    return Behaviors.same();
                  })
                  .onAnyMessage(m -> Behaviors.same())
                  .build();
            });
          }
          return create(id, hostAgent.get(), engines.apply(id), steps, clock, settings);
        })
        .withRole("gpu-host")
        .withMessageExtractor(byHost)
        .withAllocationStrategy(ExternalShardAllocationStrategy.create(system, TYPE_KEY.name(), Duration.ofSeconds(5))));
    if (hostAgent.isPresent()) {
      ExternalShardAllocation.get(system).getClient(TYPE_KEY.name()).setShardLocation(selfHost, selfAddress);
    }
  }

  /** A GPU host's id, {@code host:port} of its cluster address: what its instances' ids begin with. */
  public static String hostId(org.apache.pekko.actor.Address a) {
    return a.host().get() + ":" + a.port().get();
  }

  /** The host part of an instance id. */
  public static String hostOf(String instanceId) {
    return io.dynamollm.protocol.InstanceIds.hostOf(instanceId);
  }

  private static final class Running {
    private final String id;
    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final ActorRef<HostAgent.Command> hostAgent;
    private final EngineFactory engines;
    private final StepFactory steps;
    private final ModelClock clock;
    private final Settings settings;

    private Start start;
    private ActorRef<InstanceTelemetry> telemetryTo;
    private ActorRef<Decision> decisionsTo;
    private InstanceState state = InstanceState.STOPPED;
    private List<GpuDevice> gpus = List.of();
    private Engine engine;
    private InstanceStep step;
    private boolean canReroute;
    private String lastDecision = "not started";
    /** Requests in the engine: id → the SLO they were routed with (the ladder's deadlines). */
    private final Map<Long, Slo> inFlight = new HashMap<>();
    private final ProfileRefinement.AlonePrefill alone = new ProfileRefinement.AlonePrefill();
    private long lastEnergyMj = -1;
    private double lastEnergyAtMs;
    private double energyJ;
    private long lastTokens;

    Running(String id, ActorContext<Command> ctx, TimerScheduler<Command> timers, ActorRef<HostAgent.Command> hostAgent,
        EngineFactory engines, StepFactory steps, ModelClock clock, Settings settings) {
      this.id = id;
      this.ctx = ctx;
      this.timers = timers;
      this.hostAgent = hostAgent;
      this.engines = engines;
      this.steps = steps;
      this.clock = clock;
      this.settings = settings;
    }

    private Duration wall(Duration model) {
      return clock.wall(model);
    }

    Behavior<Command> idle() {
      return Behaviors.receive(Command.class)
          .onMessage(Start.class, this::onStart)
          .onMessage(GotGpus.class, this::onGotGpus)
          .onMessage(EngineReady.class, this::onEngineReady)
          .onMessage(Retarget.class, this::onRetarget)
          .onMessage(Adopt.class, this::onAdopt)
          .onMessage(Submit.class, this::onSubmit)
          .onMessage(Cancel.class, c -> {
            if (engine != null) {
              engine.cancel(c.requestId());
            }
            return Behaviors.same();
          })
          .onMessage(Finished.class, this::onFinished)
          .onMessage(Drain.class, this::onDrain)
          .onMessage(Drained.class, d -> stopNow("drained"))
          .onMessage(Stop.class, s -> stopNow("stopped: " + s.reason()))
          .onMessage(Released.class, this::onReleased)
          .onMessage(GetStatus.class, this::onStatus)
          .onMessageEquals(Tick.GOVERN, this::onGovern)
          .onMessageEquals(Tick.LADDER, this::onLadder)
          .onMessageEquals(Tick.TELEMETRY, () -> {
            report();
            return Behaviors.same();
          })
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
      state = InstanceState.STARTING;
      ctx.ask(HostAgent.Reservation.class, hostAgent, Duration.ofSeconds(10),
          reply -> new HostAgent.Reserve(id, s.tp().degree(), reply),
          (res, err) -> new GotGpus(res != null ? res : new HostAgent.Refused(id, "host agent did not answer: " + err)));
      return Behaviors.same();
    }

    private Behavior<Command> onAdopt(Adopt a) {
      if (start != null && start.pool().equals(a.pool())) {
        telemetryTo = a.telemetryTo();
        decisionsTo = a.decisionsTo();
        if (step != null) {
          step.retarget(start.bounds(), start.mix(), clock.nowMs());
        }
        ctx.getLog().info("instance {}: adopted by a new manager of pool {}", id, a.pool());
        report();
      }
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
      step = steps.create(id, start, gpus.get(0).supportedGraphicsClocksMhz(), clock.nowMs());
      lockClock(-1, step.clockMhz(), "the maximum clock until the governor decides", "engine start", 0);
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
        timers.startTimerWithFixedDelay(Tick.GOVERN, wall(settings.instanceEpoch()));
        timers.startTimerWithFixedDelay(Tick.LADDER, wall(settings.ladderInterval()));
      }
      report();
      return Behaviors.same();
    }

    private Behavior<Command> onRetarget(Retarget r) {
      if (step != null) {
        step.retarget(r.bounds(), r.mix(), clock.nowMs());
      }
      canReroute = r.canReroute();
      return Behaviors.same();
    }

    private Behavior<Command> onSubmit(Submit s) {
      if (state != InstanceState.READY) {
        s.replyTo().tell(new Served(s.request().id(), Optional.empty(), Optional.of("instance " + id + " is " + state),
            false));
        return Behaviors.same();
      }
      step.arrived(s.type());
      alone.submitted(s.request().id(), inFlight.isEmpty(), clock.nowMs(), step.clockMhz());
      inFlight.put(s.request().id(), s.slo());
      var streamed = new java.util.concurrent.atomic.AtomicInteger();
      Engine.TokenSink sink = s.streamTo().<Engine.TokenSink>map(to -> (index, text) -> {
        streamed.incrementAndGet();
        to.tell(new Token(s.request().id(), id, index, text));
      }).orElse(null);
      ctx.pipeToSelf(sink == null ? engine.submit(s.request()) : engine.submit(s.request(), sink),
          (c, err) -> new Finished(s, c, err, streamed));
      return Behaviors.same();
    }

    private Behavior<Command> onFinished(Finished f) {
      long rid = f.submit().request().id();
      inFlight.remove(rid);
      Engine.Completion c = f.completion();
      int aloneAtMhz = c == null ? alone.finished(rid, 0, 0, 0) : alone.finished(rid, c.ttftMs(), c.tbtMs(),
          c.outputTokens());
      if (c != null) {
        step.completed(clock.nowMs(), c.ttftMs(), c.tbtMs(), f.submit().slo());
        if (aloneAtMhz > 0) {
          step.observedPrefill(f.submit().request().promptTokens(), f.completion().ttftMs(), aloneAtMhz)
              .ifPresent(factors -> corrected(factors, clock.nowMs()));
        }
        f.submit().replyTo().tell(new Served(rid, Optional.of(f.completion()), Optional.empty(), false));
        return Behaviors.same();
      }
      Throwable cause = root(f.error());
      boolean streamed = f.streamed().get() > 0;
      if (cause instanceof Engine.Withdrawn w) {
        f.submit().replyTo().tell(new Served(rid, Optional.empty(), Optional.of(w.getMessage()), w.reroute(), streamed,
            false));
      } else {
        f.submit().replyTo().tell(new Served(rid, Optional.empty(), Optional.of(String.valueOf(cause.getMessage())),
            false, streamed, cause instanceof Engine.Cancelled));
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

    private Behavior<Command> onGovern() {
      if (state == InstanceState.READY) {
        step.govern(clock.nowMs())
            .ifPresent(c -> lockClock(c.fromMhz(), c.toMhz(), c.reason(), c.detail(), c.predictedSavingW()));
      }
      return Behaviors.same();
    }

    /** The step's emergency ladder on the engine's waiting queue. */
    private Behavior<Command> onLadder() {
      if (state != InstanceState.READY) {
        return Behaviors.same();
      }
      double now = clock.nowMs();
      observeEngine(now);
      List<Engine.Queued> waiting = engine.waiting();
      if (waiting.isEmpty()) {
        return Behaviors.same();
      }
      List<InstanceStep.Queued> queued = new ArrayList<>(waiting.size());
      for (Engine.Queued q : waiting) {
        // a request it does not know the SLO of (adopted, submitted before a restart): the pool's tightest
        Slo slo = inFlight.computeIfAbsent(q.requestId(), k -> start.mix().slos().values().stream()
            .min(java.util.Comparator.comparingDouble(Slo::ttftP99Ms)).orElseThrow());
        queued.add(new InstanceStep.Queued(q.seq(), q.arrivalMs(), q.promptTokens(), slo.ttftP99Ms()));
      }
      var a = step.ladder(now, queued, engine.busyUntilMs(now), canReroute);
      if (!a.any()) {
        return Behaviors.same();
      }
      engine.reorder(a.order());
      a.raise().ifPresent(c -> lockClock(c.fromMhz(), c.toMhz(), c.reason(), c.detail(), c.predictedSavingW()));
      // a request the engine took into a batch meanwhile is served here after all, and not counted
      a.reroute().stream().filter(seq -> !engine.withdraw(seq, true, "would miss its TTFT deadline on " + id
          + ": re-routed")).forEach(seq -> step.notWithdrawn(true));
      a.reject().stream().filter(seq -> !engine.withdraw(seq, false, "rejected: already past its TTFT deadline"))
          .forEach(seq -> step.notWithdrawn(false));
      if (!a.reroute().isEmpty() || !a.reject().isEmpty()) {
        ctx.getLog().debug("instance {}: ladder re-routes {} and rejects {} waiting requests", id, a.reroute().size(),
            a.reject().size());
      }
      return Behaviors.same();
    }

    private Behavior<Command> onStatus(GetStatus g) {
      g.replyTo().tell(new Status(id, state, gpus.stream().map(GpuDevice::uuid).toList(),
          step == null ? -1 : step.clockMhz(), lastDecision));
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
              Map.of("*", "host agent did not answer: " + err))));
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

    /**
     * Locks every GPU of the instance at {@code mhz} (the step chose it; its guard checked it); on failure the step
     * learns the clock is still {@code fromMhz}.
     */
    private void lockClock(int fromMhz, int mhz, String reason, String detail, double savingW) {
      for (GpuDevice g : gpus) {
        try {
          g.setLockedGpuClocks(mhz, mhz);
        } catch (GpuException e) {
          ctx.getLog().error("instance {}: locking GPU {} at {} MHz failed: {}", id, g.uuid(), mhz, e.getMessage());
          if (fromMhz > 0) {
            step.clockNotApplied(fromMhz);
          }
          return;
        }
      }
      ctx.getLog().info("instance {}: clock {} MHz ({}: {})", id, mhz, reason, detail);
      lastDecision = reason + " (" + detail + ")";
      if (decisionsTo != null) {
        String action = (fromMhz > 0 ? "clock " + fromMhz + " -> " + mhz : "clock " + mhz) + " MHz: " + detail;
        decisionsTo.tell(new DecisionNote(Decision.INSTANCE, id, action, reason, savingW)
            .at(System.currentTimeMillis(), (long) clock.nowMs()));
      }
    }

    /** The engine's counters and the GPUs' power, for the online refinement of the profile ({@link InstanceStep}). */
    private void observeEngine(double now) {
      double ageMs = engine.loadAgeMs();
      if (Double.isNaN(ageMs)) {
        return;
      }
      Engine.EngineLoad load = engine.load();
      // the moment the counters were read: a server process's are polled, so the intervals between polls are timed
      double readAt = now - ageMs * clock.speedup();
      double watts = 0;
      for (GpuDevice g : gpus) {
        try {
          watts += g.powerUsageMw() / 1000.0;
        } catch (GpuException e) {
          return; // no reading, no observation
        }
      }
      step.observedEngine(new ProfileRefinement.Snapshot(readAt, load.running(),
          load.waiting(), load.generatedTokens(), load.completed(), step.clockMhz(),
          gpus.isEmpty() ? 0 : watts / gpus.size())).ifPresent(f -> corrected(f, now));
    }

    /** Says that the governor decides on a corrected profile from now on. */
    private void corrected(io.dynamollm.protocol.profile.ProfileFactors factors, double now) {
      ctx.getLog().info("instance {}: profile corrected: {}", id, factors);
      if (decisionsTo != null) {
        decisionsTo.tell(new DecisionNote(Decision.INSTANCE, id, "profile corrected: " + factors,
            "observed over predicted: decode steps and power while the engine only decoded, prefills it ran alone",
            0).at(System.currentTimeMillis(), (long) now));
      }
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
      InstanceStep.LadderCounts l = step == null ? new InstanceStep.LadderCounts(0, 0, 0, 0) : step.ladderCounts();
      telemetryTo.tell(new InstanceTelemetry(id, start.pool(), (long) now, state, load.waiting(), load.running(),
          tokensPerS, step == null ? 0 : step.ttftP99Ms(now), step == null ? 0 : step.tbtP99Ms(now), powerW, energyJ,
          step == null ? 0 : step.clockMhz(), gpus.stream().map(GpuDevice::uuid).toList(),
          new InstanceTelemetry.Ladder(l.reordered(), l.maxClockRaises(), l.rerouted(), l.rejected()),
          step == null ? List.of() : step.profileFactors()));
    }

    private static Throwable root(Throwable t) {
      while (t.getCause() != null && t != t.getCause()) {
        t = t.getCause();
      }
      return t;
    }
  }
}
