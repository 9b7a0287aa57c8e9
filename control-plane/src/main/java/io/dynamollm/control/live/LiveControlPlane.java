package io.dynamollm.control.live;

import io.dynamollm.control.cluster.ArrivalHistoryStore;
import io.dynamollm.control.cluster.LayoutStore;
import io.dynamollm.control.cluster.LimitsStore;
import io.dynamollm.control.cluster.SloStore;
import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.decision.instance.InstanceStep;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.PoolReconciler;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.decision.routing.RoutingPolicy;
import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.instance.engine.SimulatedEngine;
import io.dynamollm.pool.PoolManager;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolRoutes;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Profile;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.ClusterSingletonSettings;
import org.apache.pekko.cluster.typed.SingletonActor;

/**
 * Wires the live control plane into a node, from its guardian: instance managers as sharded entities on the node of
 * their GPU host ({@link InstanceManager#init}), pool managers as sharded entities on control nodes
 * ({@link PoolManager#init}), the cluster manager as a Cluster Singleton on control nodes, and on each control node a
 * router, a placement and a decision log; routes and decisions travel on cluster topics. Every decision is built from
 * one {@link DecisionSettings} — the simulator's.
 */
public final class LiveControlPlane {
  private final ActorRef<Router.Command> router;
  private final ActorRef<DecisionLog.Command> decisionLog;
  private final ActorRef<ClusterManager.Command> clusterManager;
  private final ClusterSharding sharding;

  private LiveControlPlane(ActorRef<Router.Command> router, ActorRef<DecisionLog.Command> decisionLog,
      ActorRef<ClusterManager.Command> clusterManager, ClusterSharding sharding) {
    this.router = router;
    this.decisionLog = decisionLog;
    this.clusterManager = clusterManager;
    this.sharding = sharding;
  }

  /**
   * Who is told what the live parts do, for metrics: each request's outcome (the router), each planner solve (pool
   * managers), each decision made on this node (before it is published).
   */
  public record Observers(Router.Outcomes outcomes, PoolManager.PlannerTimes plannerTimes,
      java.util.function.Consumer<Decision> decided) {
    public static final Observers NONE = new Observers(Router.Outcomes.NONE, PoolManager.PlannerTimes.NONE, d -> {});
  }

  /**
   * Starts the live parts this node's roles call for, from the guardian's context.
   *
   * @param hostAgent this node's host agent (gpu-host nodes)
   * @param slos this node's SLO store
   * @param observers who is told of outcomes, solves and decisions (metrics)
   */
  public static LiveControlPlane start(ActorContext<?> ctx, Set<String> roles, Optional<ActorRef<HostAgent.Command>> hostAgent,
      ActorRef<SloStore.Command> slos, ActorRef<LimitsStore.Command> limits, SloTable defaultSlos, Profile profile,
      LiveSettings live, ModelClock clock, EngineConfig engineConfig, Observers observers) {
    var system = ctx.getSystem();
    Address self = Cluster.get(system).selfMember().address();
    String selfHost = InstanceManager.hostId(self);
    ClusterSharding sharding = ClusterSharding.get(system);
    DecisionSettings decisions = live.decisions();
    FrequencyGovernor governor = new FrequencyGovernor(profile, decisions.governor());
    double startupMs = live.engineStartup().toMillis();

    InstanceManager.StepFactory steps = (id, s, clocks, nowMs) -> new InstanceStep(profile, governor,
        new InstanceStep.Instance(id, s.nativeType(), s.tp(), clocks), s.bounds(), s.mix(),
        decisions.instanceEpochMs(), live.poolSilence().toMillis(), nowMs);
    InstanceManager.init(system, hostAgent, selfHost, self, id -> engineConfig.process()
            ? (tp, devices) -> engineConfig.httpEngine(id, tp, devices, live.speedup())
            : (tp, devices) -> new SimulatedEngine(profile, tp, devices,
                () -> devices.get(0).underlying() instanceof SimulatedGpuDevice s ? s.appliedClockMhz() : devices.get(0).smClockMhz(),
                clock, startupMs),
        steps, clock, new InstanceManager.Settings(Duration.ofMillis(decisions.instanceEpochMs()),
            Duration.ofMillis(decisions.ladderIntervalMs()), live.poolSilence()));
    hostAgent.ifPresent(a -> system.receptionist().tell(Receptionist.register(HostAgent.KEY, a)));
    if (!roles.contains("control")) {
      return new LiveControlPlane(null, null, null, sharding);
    }

    ActorRef<Topic.Command<Decision>> decisionsTopic = ctx.spawn(Topic.create(Decision.class, DecisionLog.TOPIC),
        "decisions-topic");
    ActorRef<Topic.Command<PoolRoutes>> routesTopic =
        ctx.spawn(Topic.create(PoolRoutes.class, Router.ROUTES_TOPIC), "routes-topic");
    ActorRef<DecisionLog.Command> log = ctx.spawn(DecisionLog.create(decisionsTopic, 500), "decision-log");
    ActorRef<Decision> publish = ctx.spawn(DecisionLog.publisher(decisionsTopic, observers.decided()),
        "decision-publisher");
    var placement = ctx.spawn(Placement.create(agent -> agent.path().address().hasGlobalScope()
        ? InstanceManager.hostId(agent.path().address()) : selfHost), "placement");
    ActorRef<PoolManager.Place> placementFront = ctx.spawn(Placement.front(placement), "placement-front");
    ClusterManager.PoolRefs pools = (pool, cmd) -> sharding.entityRefFor(PoolManager.TYPE_KEY, pool).tell(cmd);
    ActorRef<LayoutStore.Command> layouts = ctx.spawn(LayoutStore.create(Duration.ofSeconds(5)), "pool-layout");
    ActorRef<ArrivalHistoryStore.Command> history = ctx.spawn(ArrivalHistoryStore.create(Duration.ofSeconds(5)),
        "arrival-history");
    // a TP change live starts a new engine and drains the old one: the planner weighs it as a restart
    ReshardCost restart = ReshardCost.restart(live.engineStartup().toMillis());
    PoolPlanner.Transitions transitions = new PoolPlanner.Transitions(restart, live.engineStartup().toMillis(),
        profile.loadingPowerW());
    ActorRef<ClusterManager.Command> cm = ClusterSingleton.get(system).init(SingletonActor.of(
            Behaviors.supervise(ClusterManager.create(new ClusterManager.Wiring(profile, decisions, transitions, pools,
                    slos,
                    limits, layouts, history, publish, FrequencyBounds.H100_DEFAULT, clock::nowMs, clock.speedup())))
                .onFailure(SupervisorStrategy.restartWithBackoff(Duration.ofSeconds(1), Duration.ofSeconds(30), 0.2)),
            "cluster-manager")
        .withStopMessage(new ClusterManager.Stop())
        .withSettings(ClusterSingletonSettings.create(system).withRole("control")));
    // pool managers' telemetry goes up to the cluster manager, wherever the singleton runs
    ActorRef<PoolTelemetry> poolTelemetry = ctx.spawn(Behaviors.receive(PoolTelemetry.class)
        .onMessage(PoolTelemetry.class, t -> {
          cm.tell(new ClusterManager.PoolReport(t));
          return Behaviors.same();
        }).build(), "pool-telemetry");

    PoolPlanner planner = new PoolPlanner(profile, decisions.planner(), transitions);
    PoolManager.Instances instances = (id, cmd) -> sharding.entityRefFor(InstanceManager.TYPE_KEY, id).tell(cmd);
    PoolManager.init(system, new PoolManager.Wiring(planner, decisions, PoolReconciler.Reshards.byRestart(restart),
        instances, placementFront, routesTopic, publish, poolTelemetry, clock, observers.plannerTimes()));

    ActorRef<Router.Command> router = ctx.spawn(Router.create(new Router.Wiring(ClassThresholds.DEFAULT,
        new RoutingPolicy(decisions.routing()), id -> sharding.entityRefFor(InstanceManager.TYPE_KEY, id), routesTopic,
        cm, pools, slos, defaultSlos, live.reportEvery(), clock, observers.outcomes())), "router");
    return new LiveControlPlane(router, log, cm, sharding);
  }

  public Optional<ActorRef<Router.Command>> router() {
    return Optional.ofNullable(router);
  }

  public Optional<ActorRef<DecisionLog.Command>> decisionLog() {
    return Optional.ofNullable(decisionLog);
  }

  public Optional<ActorRef<ClusterManager.Command>> clusterManager() {
    return Optional.ofNullable(clusterManager);
  }

  /** Sends to a pool manager. */
  public org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef<PoolManager.Command> pool(String name) {
    return sharding.entityRefFor(PoolManager.TYPE_KEY, name);
  }
}
