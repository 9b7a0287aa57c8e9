package io.dynamollm.pool;

import io.dynamollm.decision.pool.CapacityCorrection;
import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.PoolReconciler;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.protocol.CborSerializable;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.InstanceTelemetry;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One pool: each pool epoch it runs the {@link PoolPlanner} (on the blocking dispatcher; the result is piped back)
 * for the pool's budget and forecast, reconciles its instances with the plan ({@link PoolReconciler}: start what is
 * missing through the placement, drain what is extra once replacements serve), keeps its instances' bounds and SLO
 * current (which is also their keep-alive), publishes its ready instances to the routers, and sums its instances'
 * telemetry. It never blocks the request path.
 */
public final class PoolManager {

  /** Messages of a pool manager. */
  public sealed interface Command permits Assign, Forecast, Outcomes, GetView, Internal {}

  /**
   * The cluster manager's budget for the coming cluster epoch.
   *
   * @param nativeType the type the pool's instances are sized for
   * @param nativeLoadRps the forecast load in native-equivalent requests per second
   */
  public record Assign(PoolBudget budget, RequestType nativeType, double nativeLoadRps)
      implements Command, CborSerializable {}

  /** The forecast for the next pool epoch (native-equivalent requests per second), each pool epoch. */
  public record Forecast(double nativeLoadRps) implements Command, CborSerializable {}

  /**
   * A router's count of this pool's requests since its last report: completed ones, those that missed their own
   * type's SLO, and the requests routed here per type. The planner learns its capacity correction from them.
   */
  public record Outcomes(long completed, long missed, Map<RequestType, Integer> routed)
      implements Command, CborSerializable {}

  public record GetView(ActorRef<PoolView> replyTo) implements Command, CborSerializable {}

  /** What the pool looks like (for {@code GET /api/v1/pools}). */
  public record PoolView(String pool, List<RequestType> types, int budgetGpus, String plan,
      List<InstanceView> instances, double capacityCorrection) implements CborSerializable {}

  /** One instance as the pool manager last heard of it. */
  public record InstanceView(String id, int tp, List<String> gpus, int freqMhz, InstanceState state, int queued,
      int running, double powerW, double energyJ) implements CborSerializable {}

  /** Where to start an instance: the placement picks a host with free GPUs and names the instance. */
  public record Place(String pool, TensorParallelism tp, ActorRef<Placement> replyTo)
      implements CborSerializable {}

  /** The placement's answer: an instance id, or why there is no room. */
  public record Placement(Optional<String> instanceId, String reason) implements CborSerializable {}

  /**
   * The pool's ready instances, for the routers, with each one's planned capacity (req/s; routers share load in
   * proportion).
   */
  public record Routes(String pool, RequestType nativeType, List<RequestType> types, List<String> readyInstances,
      List<Double> capacities) implements CborSerializable {}

  /** Sends a command to an instance manager wherever it lives (sharding in a cluster, a local map in tests). */
  public interface Instances {
    void tell(String instanceId, InstanceManager.Command command);
  }

  sealed interface Internal extends Command, NoSerializationVerificationNeeded {}

  private enum Tick implements Internal { REPLAN, KEEPALIVE }

  private record Planned(PoolPlanner.Result result, double loadRps) implements Internal {}

  private record Placed(TensorParallelism tp, int clockMhz, Placement placement) implements Internal {}

  private record Reported(InstanceTelemetry telemetry) implements Internal {}

  private record Hosts(org.apache.pekko.actor.typed.receptionist.Receptionist.Listing listing) implements Internal {}

  /** Instances of this pool found in the hosts' ledgers (id → GPUs held); empty when none or no answer. */
  private record Found(Map<String, Integer> instances) implements Internal {}

  /**
   * @param poolEpoch how often the planner runs (model time)
   * @param speedup model time runs this many times faster than the wall clock
   */
  public record Settings(Duration poolEpoch, Duration keepAlive, double speedup,
      CapacityCorrection.Settings correction) {
    public Settings(Duration poolEpoch, Duration keepAlive, double speedup) {
      this(poolEpoch, keepAlive, speedup, CapacityCorrection.Settings.DEFAULT);
    }
  }

  private PoolManager() {}

  /**
   * @param telemetry where the pool's aggregated telemetry goes every keep-alive (the cluster manager)
   */
  public static Behavior<Command> create(String pool, PoolPlanner planner, Instances instances,
      ActorRef<Place> placement, ActorRef<Routes> routes, ActorRef<Decision> decisions,
      ActorRef<PoolTelemetry> telemetry, Settings settings, java.util.function.DoubleSupplier modelNowMs) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
        new Running(pool, ctx, timers, planner, instances, placement, routes, decisions, telemetry, settings,
            modelNowMs).behavior()));
  }

  private static final class Live {
    final String id;
    final TensorParallelism tp;
    int clockTargetMhz;
    InstanceTelemetry last;

    Live(String id, TensorParallelism tp, int clockTargetMhz) {
      this.id = id;
      this.tp = tp;
      this.clockTargetMhz = clockTargetMhz;
    }

    InstanceState state() {
      return last == null ? InstanceState.STARTING : last.state();
    }
  }

  private static final class Running {
    private final String pool;
    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final PoolPlanner planner;
    private final Instances instances;
    private final ActorRef<Place> placement;
    private final ActorRef<Routes> routes;
    private final ActorRef<Decision> decisions;
    private final ActorRef<PoolTelemetry> upward;
    private final Settings settings;
    private final java.util.function.DoubleSupplier now;
    private final Executor blocking;
    private final ActorRef<InstanceTelemetry> telemetryAdapter;
    private final Map<String, Live> live = new LinkedHashMap<>();
    private Assign assign;
    /** The load to plan for: the budget's, then each pool epoch's forecast. */
    private double load;
    private PoolPlan plan = PoolPlan.EMPTY;
    private boolean planning;
    private int pendingPlacements;
    /** Until the hosts' ledgers answered: instances this pool already runs (a restart) are adopted, not duplicated. */
    private boolean adopting = true;
    /** Whether a plan was made for the current budget (nothing is reconciled against an empty placeholder). */
    private boolean hasPlan;
    /** The routers' outcomes since the last plan (for the correction) and since the last telemetry (attainment). */
    private long epochCompleted;
    private long epochMissed;
    private long windowCompleted;
    private long windowMissed;
    private final Map<RequestType, Integer> windowRouted = new java.util.EnumMap<>(RequestType.class);
    private double windowStartMs;
    private CapacityCorrection correction = CapacityCorrection.NONE;
    /**
     * TPs whose instances found no host with room (GPUs are fragmented across hosts): the planner leaves them out
     * until GPUs of this pool free up or the next pool epoch, so the pool grows with what fits instead of waiting —
     * it never drains serving instances to make room.
     */
    private final java.util.Set<TensorParallelism> noRoomFor = new java.util.HashSet<>();
    private boolean warnedNoRoom;
    /** Energy of this pool's instances that have stopped. */
    private double retiredEnergyJ;

    Running(String pool, ActorContext<Command> ctx, TimerScheduler<Command> timers, PoolPlanner planner,
        Instances instances, ActorRef<Place> placement, ActorRef<Routes> routes, ActorRef<Decision> decisions,
        ActorRef<PoolTelemetry> upward, Settings settings, java.util.function.DoubleSupplier now) {
      this.upward = upward;
      this.pool = pool;
      this.ctx = ctx;
      this.timers = timers;
      this.planner = planner;
      this.instances = instances;
      this.placement = placement;
      this.routes = routes;
      this.decisions = decisions;
      this.settings = settings;
      this.now = now;
      this.windowStartMs = now.getAsDouble();
      this.blocking = ctx.getSystem().dispatchers().lookup(DispatcherSelector.blocking());
      this.telemetryAdapter = ctx.messageAdapter(InstanceTelemetry.class, Reported::new);
      ctx.getSystem().receptionist().tell(org.apache.pekko.actor.typed.receptionist.Receptionist.find(
          io.dynamollm.instance.HostAgent.KEY,
          ctx.messageAdapter(org.apache.pekko.actor.typed.receptionist.Receptionist.Listing.class, Hosts::new)));
    }

    /** Asks every host agent which GPUs instances of this pool hold. */
    private Behavior<Command> onHosts(Hosts h) {
      var agents = h.listing().getServiceInstances(io.dynamollm.instance.HostAgent.KEY);
      Map<String, Integer> found = new java.util.concurrent.ConcurrentHashMap<>();
      List<CompletableFuture<?>> asks = new ArrayList<>();
      String marker = "~" + pool + "-";
      for (var a : agents) {
        asks.add(org.apache.pekko.actor.typed.javadsl.AskPattern.<io.dynamollm.instance.HostAgent.Command,
                io.dynamollm.instance.HostAgent.Inventory>ask(a, io.dynamollm.instance.HostAgent.GetInventory::new,
                Duration.ofSeconds(3), ctx.getSystem().scheduler())
            .thenAccept(inv -> inv.holders().values().stream().filter(i -> i.contains(marker))
                .forEach(i -> found.merge(i, 1, Integer::sum)))
            .toCompletableFuture().exceptionally(e -> null));
      }
      ctx.pipeToSelf(CompletableFuture.allOf(asks.toArray(new CompletableFuture[0])), (ok, err) -> new Found(found));
      return Behaviors.same();
    }

    private Behavior<Command> onFound(Found f) {
      adopting = false;
      f.instances().forEach((id, gpus) -> {
        if (live.containsKey(id)) {
          return;
        }
        TensorParallelism tp = TensorParallelism.of(gpus);
        live.put(id, new Live(id, tp, 0));
        instances.tell(id, new InstanceManager.Adopt(pool, telemetryAdapter, decisions));
        decide("pool", "adopt " + id + " (" + tp + ")", "it still runs on its host (found in the GPU ledger)", 0);
      });
      if (hasPlan) {
        reconcile();
      }
      return Behaviors.same();
    }

    private Duration wall(Duration model) {
      return Duration.ofNanos(Math.max(1_000_000, (long) (model.toNanos() / settings.speedup())));
    }

    Behavior<Command> behavior() {
      return Behaviors.receive(Command.class)
          .onMessage(Assign.class, this::onAssign)
          .onMessage(GetView.class, this::onView)
          .onMessage(Forecast.class, f -> {
            load = f.nativeLoadRps();
            return Behaviors.same();
          })
          .onMessage(Outcomes.class, this::onOutcomes)
          .onMessage(Planned.class, this::onPlanned)
          .onMessage(Placed.class, this::onPlaced)
          .onMessage(Reported.class, this::onReported)
          .onMessage(Hosts.class, this::onHosts)
          .onMessage(Found.class, this::onFound)
          .onMessageEquals(Tick.REPLAN, () -> {
            noRoomFor.clear(); // room may have freed up elsewhere: every TP may be tried again
            learnCorrection();
            replan("pool epoch");
            return Behaviors.same();
          })
          .onMessageEquals(Tick.KEEPALIVE, () -> {
            keepAlive();
            return Behaviors.same();
          })
          .build();
    }

    private Behavior<Command> onAssign(Assign a) {
      boolean first = assign == null;
      assign = a;
      load = a.nativeLoadRps();
      decide("pool", "budget " + a.budget().gpus() + " GPUs for " + fmt(a.nativeLoadRps()) + " req/s",
          "cluster epoch " + a.budget().epoch() + ": serves " + a.budget().types(), 0);
      if (first) {
        timers.startTimerWithFixedDelay(Tick.REPLAN, wall(settings.poolEpoch()));
        timers.startTimerWithFixedDelay(Tick.KEEPALIVE, wall(settings.keepAlive()));
      }
      replan("new budget");
      keepAlive();
      return Behaviors.same();
    }

    /** Once a pool epoch: the routers' outcomes refine the profile's capacity (the simulator's DynamoLLM rule). */
    private void learnCorrection() {
      CapacityCorrection before = correction;
      correction = correction.next(epochCompleted, epochMissed, settings.correction());
      if (correction.factor() != before.factor()) {
        decide("pool", "capacity correction " + before + " -> " + correction,
            String.format(Locale.ROOT, "%d of %d requests missed their SLO last pool epoch", epochMissed,
                epochCompleted), 0);
      }
      epochCompleted = 0;
      epochMissed = 0;
    }

    private void replan(String why) {
      if (assign == null || planning) {
        return;
      }
      planning = true;
      RequestType type = assign.nativeType();
      Slo slo = assign.budget().slos().get(type);
      double load = correction.apply(this.load);
      List<TensorParallelism> tps = TensorParallelism.PAPER_DEGREES.stream().filter(tp -> !noRoomFor.contains(tp))
          .toList();
      var req = new PoolPlanner.Request(pool, type, slo, load, assign.budget().gpus(),
          assign.budget().frequencyBounds(), tps.isEmpty() ? TensorParallelism.PAPER_DEGREES : tps,
          plan.groups().isEmpty() ? Optional.empty() : Optional.of(plan), settings.poolEpoch().toSeconds(), false);
      ctx.pipeToSelf(CompletableFuture.supplyAsync(() -> planner.plan(req), blocking),
          (r, err) -> {
            if (err != null) {
              ctx.getLog().error("pool {}: planner failed ({}): keeping the current plan", pool, why, err);
              decide("pool", "planner failed", err + "; the current plan stays", 0);
              return new Planned(null, load);
            }
            return new Planned(r, load);
          });
    }

    private Behavior<Command> onPlanned(Planned p) {
      planning = false;
      if (p.result() == null && !hasPlan) {
        return Behaviors.same(); // no plan yet at all: nothing to reconcile against; the next pool epoch tries again
      }
      hasPlan = true;
      if (p.result() != null) {
        if (p.result().changed() || plan.groups().isEmpty()) {
          decide("pool", p.result().plan().describe(), p.result().outcome() + ": " + p.result().reason(),
              p.result().predictedSavingW());
        }
        plan = p.result().plan();
        if (PoolTelemetry.isShort(plan.capacityRps(), plan.plannedLoadRps())) {
          reportUpward(); // short within the budget: the cluster manager may add GPUs no pool holds
        }
      }
      reconcile();
      return Behaviors.same();
    }

    private void reconcile() {
      List<PoolReconciler.Live> current = new ArrayList<>();
      for (Live l : live.values()) {
        current.add(new PoolReconciler.Live(l.id, l.tp, l.clockTargetMhz, l.state()));
      }
      if (pendingPlacements > 0 || adopting || !hasPlan) {
        // wait for the placements under way, the ledgers' answer, or a first plan before counting again
        publishRoutes();
        return;
      }
      var actions = PoolReconciler.reconcile(plan, current);
      for (PoolPlan.Group g : actions.start()) {
        pendingPlacements++;
        ctx.ask(Placement.class, placement, Duration.ofSeconds(10), reply -> new Place(pool, g.tp(), reply),
            (res, err) -> new Placed(g.tp(), g.clockMhz(),
                res != null ? res : new Placement(Optional.empty(), "placement did not answer: " + err)));
      }
      for (String id : actions.drain()) {
        instances.tell(id, new InstanceManager.Drain("pool " + pool + " no longer needs it"));
        decide("pool", "drain " + id, "not in the plan " + plan.describe(), 0);
        Live l = live.get(id);
        if (l != null && l.last != null) {
          l.last = withState(l.last, InstanceState.DRAINING);
        }
      }
      actions.clockTargets().forEach((id, mhz) -> live.get(id).clockTargetMhz = mhz);
      publishRoutes();
    }

    private Behavior<Command> onPlaced(Placed p) {
      pendingPlacements--;
      if (p.placement().instanceId().isEmpty()) {
        boolean first = noRoomFor.add(p.tp());
        if (first) {
          if (warnedNoRoom) {
            ctx.getLog().debug("pool {}: no room for a {} instance: {}", pool, p.tp(), p.placement().reason());
          } else {
            ctx.getLog().warn("pool {}: no room for a {} instance: {} (it plans around it; later cases are in"
                + " /api/v1/decisions)", pool, p.tp(), p.placement().reason());
            warnedNoRoom = true;
          }
          decide("pool", "cannot start " + p.tp(), p.placement().reason() + "; planning without " + p.tp()
              + " or larger until GPUs free up", 0);
          for (TensorParallelism tp : TensorParallelism.PAPER_DEGREES) {
            if (tp.degree() >= p.tp().degree()) {
              noRoomFor.add(tp);
            }
          }
          if (pendingPlacements == 0) {
            replan("no room for " + p.tp());
          }
        }
        return Behaviors.same();
      }
      String id = p.placement().instanceId().get();
      live.put(id, new Live(id, p.tp(), p.clockMhz()));
      FrequencyBounds bounds = assign.budget().frequencyBounds();
      instances.tell(id, new InstanceManager.Start(pool, assign.nativeType(), p.tp(), bounds,
          assign.budget().slos().get(assign.nativeType()), telemetryAdapter, decisions));
      decide("pool", "start " + id + " (" + p.tp() + ")", "the plan " + plan.describe() + " needs it", 0);
      if (pendingPlacements == 0) {
        reconcile();
      }
      return Behaviors.same();
    }

    private Behavior<Command> onOutcomes(Outcomes o) {
      epochCompleted += o.completed();
      epochMissed += o.missed();
      windowCompleted += o.completed();
      windowMissed += o.missed();
      o.routed().forEach((t, n) -> windowRouted.merge(t, n, Integer::sum));
      return Behaviors.same();
    }

    private Behavior<Command> onReported(Reported r) {
      InstanceTelemetry t = r.telemetry();
      Live l = live.get(t.instanceId());
      if (l == null) {
        return Behaviors.same();
      }
      InstanceState before = l.state();
      l.last = t;
      if (t.state() == InstanceState.STOPPED || t.state() == InstanceState.FAILED) {
        live.remove(t.instanceId());
        retiredEnergyJ += t.energyJ();
        noRoomFor.clear(); // its GPUs are free again
      }
      if (before != t.state()) {
        reconcile(); // a new instance serves (drain the old ones now) or one went away
      }
      return Behaviors.same();
    }

    private void keepAlive() {
      if (assign == null) {
        return;
      }
      var retarget = new InstanceManager.Retarget(assign.budget().frequencyBounds(),
          assign.budget().slos().get(assign.nativeType()));
      for (Live l : live.values()) {
        if (l.state() != InstanceState.STOPPED) {
          instances.tell(l.id, retarget);
        }
      }
      if (hasPlan && !planning && pendingPlacements == 0) {
        reconcile(); // retries starts that found no room, and catches up with instances that changed state
      }
      publishRoutes();
      reportUpward();
    }

    /** The pool's telemetry to the cluster manager: load per type, attainment, power, energy, correction. */
    private void reportUpward() {
      double t = now.getAsDouble();
      double seconds = Math.max(1e-3, (t - windowStartMs) / 1000.0);
      Map<RequestType, Double> rates = new java.util.EnumMap<>(RequestType.class);
      windowRouted.forEach((type, n) -> rates.put(type, n / seconds));
      double power = 0;
      double energy = retiredEnergyJ;
      int gpus = 0;
      for (Live l : live.values()) {
        if (l.last != null) {
          power += l.last.powerW();
          energy += l.last.energyJ();
        }
        gpus += l.tp.degree();
      }
      double attainment = windowCompleted == 0 ? 1.0
          : (double) (windowCompleted - Math.min(windowMissed, windowCompleted)) / windowCompleted;
      upward.tell(new PoolTelemetry(pool, (long) t, rates, attainment, power, energy, live.size(), gpus,
          plan.plannedLoadRps(), plan.capacityRps(), correction.factor()));
      windowStartMs = t;
      windowCompleted = 0;
      windowMissed = 0;
      windowRouted.clear();
    }

    private void publishRoutes() {
      if (assign == null) {
        return;
      }
      List<Live> ready = live.values().stream().filter(l -> l.state() == InstanceState.READY).toList();
      List<Double> capacities = new ArrayList<>();
      for (Live l : ready) {
        double cap = l.tp.degree(); // without a plan group of its TP: in proportion to its GPUs
        for (PoolPlan.Group g : plan.groups()) {
          if (g.tp().equals(l.tp) && g.capacityRps() > 0) {
            cap = g.capacityRps();
            break;
          }
        }
        capacities.add(cap);
      }
      routes.tell(new Routes(pool, assign.nativeType(), List.copyOf(assign.budget().types()),
          ready.stream().map(l -> l.id).toList(), capacities));
    }

    private Behavior<Command> onView(GetView g) {
      List<InstanceView> views = new ArrayList<>();
      for (Live l : live.values()) {
        InstanceTelemetry t = l.last;
        views.add(new InstanceView(l.id, l.tp.degree(), t == null ? List.of() : t.gpus(),
            t == null ? 0 : t.clockMhz(), l.state(),
            t == null ? 0 : t.queued(), t == null ? 0 : t.running(), t == null ? 0 : t.powerW(),
            t == null ? 0 : t.energyJ()));
      }
      List<RequestType> types = assign == null ? List.of()
          : assign.budget().types().stream().sorted().toList();
      g.replyTo().tell(new PoolView(pool, types, assign == null ? 0 : assign.budget().gpus(), plan.describe(), views,
          correction.factor()));
      return Behaviors.same();
    }

    private void decide(String level, String action, String reason, double savingW) {
      decisions.tell(new Decision((long) now.getAsDouble(), level, pool, action, reason, savingW));
    }

    private static InstanceTelemetry withState(InstanceTelemetry t, InstanceState s) {
      return new InstanceTelemetry(t.instanceId(), t.pool(), t.atMillis(), s, t.queued(), t.running(),
          t.tokensPerSecond(), t.ttftP99Ms(), t.tbtP99Ms(), t.powerW(), t.energyJ(), t.clockMhz(), t.gpus());
    }

    private static String fmt(double v) {
      return String.format(Locale.ROOT, "%.2f", v);
    }
  }
}
