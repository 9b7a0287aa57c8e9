package io.dynamollm.pool;

import io.dynamollm.decision.DecisionNote;
import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.PoolReconciler;
import io.dynamollm.decision.pool.PoolStep;
import io.dynamollm.decision.routing.RoutingPolicy;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.CborSerializable;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.InstanceTelemetry;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolRoutes;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * One pool: a thin driver of the {@link PoolStep} (the simulator runs the same step). It feeds the step the cluster
 * manager's budgets and forecasts, the routers' outcomes and its instances' telemetry, runs the step's planner
 * requests on the blocking dispatcher (the result comes back with {@code pipeToSelf}), and turns the step's effects
 * into messages: starts through the placement, drains and keep-alives to the instance managers, routes on the routes
 * topic, telemetry to the cluster manager, decisions to the log. It never blocks the request path.
 *
 * <p>A sharded entity ({@link #TYPE_KEY}) on {@code control} nodes. When it starts it asks every host agent's GPU
 * ledger which instances of its pool still run and adopts them (a restart after its node went away) before it
 * reconciles anything.
 */
public final class PoolManager {

  public static final EntityTypeKey<Command> TYPE_KEY = EntityTypeKey.create(Command.class, "pool");

  /** Messages of a pool manager. */
  public sealed interface Command permits Assign, Forecast, Outcomes, GetView, Internal {}

  /** The cluster manager's budget (each cluster epoch, and when the pool gets GPUs between epochs). */
  public record Assign(PoolBudget budget) implements Command, CborSerializable {}

  /**
   * The forecast for the next pool epoch, each pool epoch: the load to plan for and each type's, requests per second.
   */
  public record Forecast(double loadRps, Map<RequestType, Double> typeRps) implements Command, CborSerializable {}

  /**
   * A router's count of this pool's requests since its last report: completed ones, those that missed their own
   * type's SLO, and the requests routed here per type. The pool learns its capacity correction from them.
   */
  public record Outcomes(long completed, long missed, Map<RequestType, Integer> routed)
      implements Command, CborSerializable {}

  public record GetView(ActorRef<PoolView> replyTo) implements Command, CborSerializable {}

  /** What the pool looks like (for {@code GET /api/v1/pools}). */
  public record PoolView(String pool, List<RequestType> types, int budgetGpus, String plan,
      List<InstanceView> instances, double capacityCorrection, double plannedLoadRps, double capacityRps,
      double budgetLoadRps, double powerCapW, int clockCeilingMhz,
      List<InstanceTelemetry.ProfileFactor> profileFactors) implements CborSerializable {}

  /** One instance as the pool manager last heard of it. */
  public record InstanceView(String id, int tp, List<String> gpus, int freqMhz, InstanceState state, int queued,
      int running, double powerW, double energyJ, InstanceTelemetry.Ladder ladder) implements CborSerializable {}

  /** Where to start an instance: the placement picks a host with free GPUs and names the instance. */
  public record Place(String pool, TensorParallelism tp, ActorRef<Placement> replyTo) implements CborSerializable {}

  /** The placement's answer: an instance id, or why there is no room. */
  public record Placement(Optional<String> instanceId, String reason) implements CborSerializable {}

  /** Sends a command to an instance manager wherever it lives (sharding in a cluster, a local map in tests). */
  public interface Instances {
    void tell(String instanceId, InstanceManager.Command command);
  }

  /**
   * What every pool manager of a node is wired to.
   *
   * @param planner the planner (its transitions say how TP changes cost where it runs)
   * @param settings the decisions' tuning
   * @param reshards how TP changes happen (live: start new, drain old)
   * @param routes the routes topic: the pool publishes its ready instances there and reads the other pools'
   * @param telemetry where the pool's telemetry goes (the cluster manager)
   */
  public record Wiring(PoolPlanner planner, DecisionSettings settings, PoolReconciler.Reshards reshards,
      Instances instances, ActorRef<Place> placement, ActorRef<Topic.Command<PoolRoutes>> routes,
      ActorRef<Decision> decisions, ActorRef<PoolTelemetry> telemetry, ModelClock clock, PlannerTimes times) {
    /** Without solve-time observation (tests). */
    public Wiring(PoolPlanner planner, DecisionSettings settings, PoolReconciler.Reshards reshards,
        Instances instances, ActorRef<Place> placement, ActorRef<Topic.Command<PoolRoutes>> routes,
        ActorRef<Decision> decisions, ActorRef<PoolTelemetry> telemetry, ModelClock clock) {
      this(planner, settings, reshards, instances, placement, routes, decisions, telemetry, clock, PlannerTimes.NONE);
    }
  }

  /** Told how long each planner solve took (wall seconds) and how it came out (metrics). Called off the actor. */
  public interface PlannerTimes {
    PlannerTimes NONE = (pool, outcome, seconds) -> {};

    /** @param outcome the solver's outcome (OPTIMAL, FEASIBLE, FALLBACK, INFEASIBLE), or "error" */
    void solved(String pool, String outcome, double seconds);
  }

  sealed interface Internal extends Command, NoSerializationVerificationNeeded {}

  private enum Tick implements Internal { EPOCH, KEEPALIVE }

  private record Planned(PoolPlanner.Result result, String error) implements Internal {}

  private record Placed(PoolStep.Start start, Placement placement) implements Internal {}

  private record Reported(InstanceTelemetry telemetry) implements Internal {}

  private record Hosts(Receptionist.Listing listing) implements Internal {}

  /** The GPU hosts listed now (subscribed): one that withdrew is leaving, its instances are replaced. */
  private record HostsNow(Receptionist.Listing listing) implements Internal {}

  /** One host agent's inventory for the adoption (empty when it did not answer). */
  private record Ledger(Optional<HostAgent.Inventory> inventory) implements Internal {}

  private record OtherRoutes(PoolRoutes routes) implements Internal {}

  /** A cluster member was downed or removed: if it was a GPU host, its instances are gone. */
  private record MemberGone(org.apache.pekko.cluster.Member member) implements Internal {}

  private PoolManager() {}

  public static Behavior<Command> create(String pool, Wiring wiring) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Running(pool, ctx, timers, wiring).behavior()));
  }

  /** Starts pool sharding on this node ({@code control} nodes host the entities). */
  public static void init(ActorSystem<?> system, Wiring wiring) {
    ClusterSharding.get(system).init(Entity.of(TYPE_KEY, ec -> create(ec.getEntityId(), wiring)).withRole("control"));
  }

  private static final class Running {
    private final String pool;
    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final Wiring w;
    private final PoolStep step;
    private final RoutingPolicy routing;
    private final Executor blocking;
    private final ActorRef<InstanceTelemetry> telemetryAdapter;
    /** The other pools' latest routes (for telling instances whether a re-route could find room). */
    private final Map<String, PoolRoutes> others = new HashMap<>();
    private int ledgersPending = -1;
    /** The first host listing came (the adoption of instances that already run is under way or done). */
    private boolean listed;
    private boolean warnedNoRoom;

    Running(String pool, ActorContext<Command> ctx, TimerScheduler<Command> timers, Wiring w) {
      this.pool = pool;
      this.ctx = ctx;
      this.timers = timers;
      this.w = w;
      this.step = new PoolStep(pool, w.settings(), w.reshards(), w.settings().spares().keepMs(
          w.planner().transitions(), w.planner().profile().idlePowerW()), true, w.clock().nowMs());
      this.routing = new RoutingPolicy(w.settings().routing());
      this.blocking = ctx.getSystem().dispatchers().lookup(DispatcherSelector.blocking());
      this.telemetryAdapter = ctx.messageAdapter(InstanceTelemetry.class, Reported::new);
      w.routes().tell(Topic.subscribe(ctx.messageAdapter(PoolRoutes.class, OtherRoutes::new)));
      // one adapter per message class: the first listing of the subscription is also the adoption's
      ctx.getSystem().receptionist().tell(Receptionist.subscribe(HostAgent.KEY,
          ctx.messageAdapter(Receptionist.Listing.class, HostsNow::new)));
      if (ctx.getSystem().settings().config().getString("pekko.actor.provider").equals("cluster")) {
        var subscriptions = org.apache.pekko.cluster.typed.Cluster.get(ctx.getSystem()).subscriptions();
        subscriptions.tell(org.apache.pekko.cluster.typed.Subscribe.create(ctx.messageAdapter(
            org.apache.pekko.cluster.ClusterEvent.MemberDowned.class, e -> new MemberGone(e.member())),
            org.apache.pekko.cluster.ClusterEvent.MemberDowned.class));
        subscriptions.tell(org.apache.pekko.cluster.typed.Subscribe.create(ctx.messageAdapter(
            org.apache.pekko.cluster.ClusterEvent.MemberRemoved.class, e -> new MemberGone(e.member())),
            org.apache.pekko.cluster.ClusterEvent.MemberRemoved.class));
      }
    }

    private Duration wall(long modelMs) {
      return w.clock().wall(Duration.ofMillis(modelMs));
    }

    private double now() {
      return w.clock().nowMs();
    }

    Behavior<Command> behavior() {
      return Behaviors.receive(Command.class)
          .onMessage(Assign.class, a -> {
            if (step.budget().isEmpty()) {
              timers.startTimerWithFixedDelay(Tick.EPOCH, wall(w.settings().poolEpochMs()));
              timers.startTimerWithFixedDelay(Tick.KEEPALIVE, wall(w.settings().poolKeepAliveMs()));
            }
            return apply(step.assign(a.budget(), now()));
          })
          .onMessage(Forecast.class, f -> {
            step.forecast(f.loadRps(), f.typeRps());
            return Behaviors.same();
          })
          .onMessage(Outcomes.class, o -> {
            step.outcomes(o.completed(), o.missed(), o.routed());
            return Behaviors.same();
          })
          .onMessage(GetView.class, this::onView)
          .onMessage(Planned.class, p -> {
            if (p.result() == null) {
              ctx.getLog().error("pool {}: the planner failed: {}; the current plan stays", pool, p.error());
            }
            return apply(step.planned(Optional.ofNullable(p.result()), p.error(), now()));
          })
          .onMessage(Placed.class, this::onPlaced)
          .onMessage(Reported.class, r -> apply(step.reported(r.telemetry(), now())))
          .onMessage(Hosts.class, this::onHosts)
          .onMessage(HostsNow.class, h -> {
            if (!listed) {
              listed = true;
              onHosts(new Hosts(h.listing()));
            }
            // a local agent's path has no host: this system's address names it (none without remoting: no host id)
            Set<String> hosts = new java.util.HashSet<>();
            for (var a : h.listing().getServiceInstances(HostAgent.KEY)) {
              var address = a.path().address().hasGlobalScope() ? a.path().address() : ctx.getSystem().address();
              if (address.host().isDefined() && address.port().isDefined()) {
                hosts.add(InstanceManager.hostId(address));
              }
            }
            return apply(step.hostsListed(hosts, now()));
          })
          .onMessage(MemberGone.class, g -> apply(step.hostLost(InstanceManager.hostId(g.member().address()),
              now())))
          .onMessage(Ledger.class, this::onLedger)
          .onMessage(OtherRoutes.class, o -> {
            if (!o.routes().pool().equals(pool)) {
              others.put(o.routes().pool(), o.routes());
            }
            return Behaviors.same();
          })
          .onMessageEquals(Tick.EPOCH, () -> apply(step.epoch(now())))
          .onMessageEquals(Tick.KEEPALIVE, () -> apply(step.keepAlive(now())))
          .build();
    }

    /** The planner's answer, its solve time told to {@link PlannerTimes} (on the planner's thread). */
    private PoolPlanner.Result timedPlan(PoolPlanner.Request req) {
      long t0 = System.nanoTime();
      String outcome = "error";
      try {
        PoolPlanner.Result r = w.planner().plan(req);
        outcome = r.solverOutcome().name();
        return r;
      } finally {
        w.times().solved(pool, outcome, (System.nanoTime() - t0) / 1e9);
      }
    }

    /** The step's effects, as messages. */
    private Behavior<Command> apply(PoolStep.Effects fx) {
      fx.decisions().forEach(this::log);
      fx.plan().ifPresent(req -> ctx.pipeToSelf(CompletableFuture.supplyAsync(() -> timedPlan(req), blocking),
          (r, err) -> {
            if (err != null) {
              return new Planned(null, err.toString());
            }
            return new Planned(r, "");
          }));
      for (PoolStep.Start s : fx.start()) {
        ctx.ask(Placement.class, w.placement(), Duration.ofSeconds(10), reply -> new Place(pool, s.tp(), reply),
            (res, err) -> new Placed(s, res != null ? res : new Placement(Optional.empty(),
                "placement did not answer: " + err)));
      }
      for (String id : fx.drain()) {
        w.instances().tell(id, new InstanceManager.Drain("pool " + pool + " no longer needs it"));
      }
      if (!fx.reshard().isEmpty()) {
        // live engines re-shard by restart (the reconciler is told so); an in-place re-shard here is a wiring mistake
        ctx.getLog().error("pool {}: in-place re-shards {} are not supported by live engines", pool, fx.reshard());
      }
      if (fx.retarget()) {
        retarget();
      }
      fx.routes().ifPresent(r -> w.routes().tell(Topic.publish(r)));
      fx.up().ifPresent(w.telemetry()::tell);
      return Behaviors.same();
    }

    private Behavior<Command> onPlaced(Placed p) {
      Optional<String> id = p.placement().instanceId();
      if (id.isEmpty() && !warnedNoRoom) {
        ctx.getLog().warn("pool {}: no room for a {} instance: {} (it plans around it; later cases are in"
            + " /api/v1/decisions)", pool, p.start().tp(), p.placement().reason());
        warnedNoRoom = true;
      }
      id.ifPresent(i -> step.budget().ifPresent(b -> step.mixSpec().ifPresent(m -> w.instances().tell(i,
          new InstanceManager.Start(pool, b.nativeType(), p.start().tp(), b.frequencyBounds(), m, telemetryAdapter,
              w.decisions())))));
      return apply(step.placed(p.start(), id, p.placement().reason(), now()));
    }

    /** The keep-alive: bounds and SLO to every instance, and whether a re-route could find another one now. */
    private void retarget() {
      Optional<PoolBudget> b = step.budget();
      if (b.isEmpty() || step.mixSpec().isEmpty()) {
        return;
      }
      List<RoutingPolicy.PoolView> views = new ArrayList<>();
      step.routes().ifPresent(r -> views.add(RoutingPolicy.Pool.of(r, PoolRoutes.Ready::queued)));
      others.values().forEach(r -> views.add(RoutingPolicy.Pool.of(r, PoolRoutes.Ready::queued)));
      for (String id : step.instances().keySet()) {
        boolean canReroute = routing.reroute(b.get().nativeType(), pool, id, views).isPresent();
        w.instances().tell(id, new InstanceManager.Retarget(b.get().frequencyBounds(), step.mixSpec().get(),
            canReroute));
      }
    }

    /** Asks every host agent which GPUs instances of this pool hold (one ask each; answers come back as Ledger). */
    private Behavior<Command> onHosts(Hosts h) {
      Set<ActorRef<HostAgent.Command>> agents = h.listing().getServiceInstances(HostAgent.KEY);
      ledgersPending = agents.size();
      if (agents.isEmpty()) {
        return apply(step.adoptionDone(now()));
      }
      for (var a : agents) {
        ctx.ask(HostAgent.Inventory.class, a, Duration.ofSeconds(3), HostAgent.GetInventory::new,
            (inv, err) -> new Ledger(Optional.ofNullable(inv)));
      }
      return Behaviors.same();
    }

    private Behavior<Command> onLedger(Ledger l) {
      String marker = InstanceManager.HOST_SEPARATOR + pool + "-";
      l.inventory().ifPresent(inv -> {
        Map<String, Integer> gpus = new HashMap<>();
        inv.holders().values().stream().filter(i -> i.contains(marker)).forEach(i -> gpus.merge(i, 1, Integer::sum));
        gpus.forEach((id, n) -> {
          if (!step.instances().containsKey(id)) {
            log(step.adopt(id, TensorParallelism.of(n)));
            w.instances().tell(id, new InstanceManager.Adopt(pool, telemetryAdapter, w.decisions()));
          }
        });
      });
      if (--ledgersPending == 0) {
        return apply(step.adoptionDone(now()));
      }
      return Behaviors.same();
    }

    private Behavior<Command> onView(GetView g) {
      List<InstanceView> views = new ArrayList<>();
      step.telemetry().forEach((id, t) -> views.add(new InstanceView(id, step.instances().get(id).degree(),
          t.map(InstanceTelemetry::gpus).orElse(List.of()), t.map(InstanceTelemetry::clockMhz).orElse(0),
          step.state(id).orElse(InstanceState.STARTING), t.map(InstanceTelemetry::queued).orElse(0),
          t.map(InstanceTelemetry::running).orElse(0), t.map(InstanceTelemetry::powerW).orElse(0.0),
          t.map(InstanceTelemetry::energyJ).orElse(0.0), t.map(InstanceTelemetry::ladder)
              .orElse(InstanceTelemetry.Ladder.NONE))));
      Optional<PoolBudget> b = step.budget();
      g.replyTo().tell(new PoolView(pool, b.map(x -> x.types().stream().sorted().toList()).orElse(List.of()),
          b.map(PoolBudget::gpus).orElse(0), step.plan().describe(), views, step.correction().factor(),
          step.plan().plannedLoadRps(), step.plan().capacityRps(), b.map(PoolBudget::loadRps).orElse(0.0),
          b.map(PoolBudget::powerCapW).orElse(0.0), b.map(x -> x.frequencyBounds().maxMhz()).orElse(0),
          step.profileFactors().list()));
      return Behaviors.same();
    }

    private void log(DecisionNote n) {
      w.decisions().tell(n.at(System.currentTimeMillis(), (long) now()));
    }
  }
}
