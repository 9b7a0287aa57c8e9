package io.dynamollm.control.live;

import io.dynamollm.control.cluster.LayoutStore;
import io.dynamollm.control.cluster.LimitsStore;
import io.dynamollm.control.cluster.SloStore;
import io.dynamollm.decision.cluster.ClusterLayout;
import io.dynamollm.decision.cluster.PoolBudgeter;
import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.instance.engine.SimulatedEngine;
import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.pool.PoolManager;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Profile;
import java.time.Duration;
import java.util.Set;
import java.util.Optional;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.sharding.external.ExternalShardAllocation;
import org.apache.pekko.cluster.sharding.external.ExternalShardAllocationStrategy;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.ShardingMessageExtractor;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.SingletonActor;

/**
 * Wires the live control plane into a node: instance managers as sharded entities placed on the node of their GPU
 * host (external shard allocation: each host's shard is its own address; an entity that finds its GPUs are not local
 * refuses to run), pool managers as sharded entities on control nodes, the cluster manager as a Cluster Singleton on
 * control nodes, and on each control node a router, a placement and a decision log; routes and decisions travel on
 * cluster topics.
 */
public final class LiveControlPlane {
  public static final EntityTypeKey<InstanceManager.Command> INSTANCE =
      EntityTypeKey.create(InstanceManager.Command.class, "instance");
  public static final EntityTypeKey<PoolManager.Command> POOL = EntityTypeKey.create(PoolManager.Command.class, "pool");
  static final char HOST_SEPARATOR = '~';

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

  /** This node's host id: its cluster address, host:port. */
  public static String hostId(Address a) {
    return a.host().get() + ":" + a.port().get();
  }

  /**
   * Starts the live parts this node's roles call for, from the guardian's context.
   *
   * @param hostAgent this node's host agent (gpu-host nodes)
   * @param slos this node's SLO store
   */
  public static LiveControlPlane start(ActorContext<?> ctx, Set<String> roles, Optional<ActorRef<HostAgent.Command>> hostAgent,
      ActorRef<SloStore.Command> slos, ActorRef<LimitsStore.Command> limits, SloTable defaultSlos, Profile profile,
      LiveSettings live, ModelClock clock, EngineConfig engineConfig) {
    var system = ctx.getSystem();
    Address self = Cluster.get(system).selfMember().address();
    String selfHost = hostId(self);
    ClusterSharding sharding = ClusterSharding.get(system);

    // instances: shard = host id, placed on that host by external allocation
    ShardingMessageExtractor<ShardingEnvelope<InstanceManager.Command>, InstanceManager.Command> byHost =
        new ShardingMessageExtractor<>() {
          @Override
          public String entityId(ShardingEnvelope<InstanceManager.Command> envelope) {
            return envelope.entityId();
          }

          @Override
          public String shardId(String entityId) {
            int i = entityId.indexOf(HOST_SEPARATOR);
            return i > 0 ? entityId.substring(0, i) : entityId;
          }

          @Override
          public InstanceManager.Command unwrapMessage(ShardingEnvelope<InstanceManager.Command> envelope) {
            return envelope.message();
          }
        };
    InstanceManager.Settings instanceSettings = new InstanceManager.Settings(live.instanceEpoch(), live.poolSilence(),
        Duration.ofMillis(FrequencyGovernor.Settings.DEFAULT.minChangeIntervalMs()), Duration.ofSeconds(30));
    FrequencyGovernor governor = new FrequencyGovernor(profile, FrequencyGovernor.Settings.DEFAULT);
    double startupMs = live.engineStartup().toMillis();
    sharding.init(Entity.of(INSTANCE, ec -> {
          String id = ec.getEntityId();
          String host = byHost.shardId(id);
          if (hostAgent.isEmpty() || !host.equals(selfHost)) {
            return Behaviors.setup(c -> {
              c.getLog().error("instance {} refuses to run on {}: its GPUs are on {}", id, selfHost, host);
              return Behaviors.stopped();
            });
          }
          InstanceManager.EngineFactory engines = engineConfig.process()
              ? (tp, devices) -> engineConfig.httpEngine(id, tp, devices, live.speedup())
              : (tp, devices) -> new SimulatedEngine(profile, tp, devices,
                  () -> devices.get(0) instanceof SimulatedGpuDevice s ? s.appliedClockMhz() : devices.get(0).smClockMhz(),
                  clock, startupMs);
          return InstanceManager.create(id, hostAgent.get(), engines, governor, clock, instanceSettings);
        })
        .withRole("gpu-host")
        .withMessageExtractor(byHost)
        .withAllocationStrategy(ExternalShardAllocationStrategy.create(system, INSTANCE.name(), Duration.ofSeconds(5))));
    if (hostAgent.isPresent()) {
      ExternalShardAllocation.get(system).getClient(INSTANCE.name()).setShardLocation(selfHost, self);
      system.receptionist().tell(Receptionist.register(HostAgent.KEY, hostAgent.get()));
    }
    if (!roles.contains("control")) {
      return new LiveControlPlane(null, null, null, sharding);
    }

    ActorRef<Topic.Command<Decision>> decisionsTopic = ctx.spawn(Topic.create(Decision.class, DecisionLog.TOPIC),
        "decisions-topic");
    ActorRef<Topic.Command<PoolManager.Routes>> routesTopic =
        ctx.spawn(Topic.create(PoolManager.Routes.class, Router.ROUTES_TOPIC), "routes-topic");
    ActorRef<DecisionLog.Command> log = ctx.spawn(DecisionLog.create(decisionsTopic, 500), "decision-log");
    ActorRef<Decision> publish = ctx.spawn(DecisionLog.publisher(decisionsTopic), "decision-publisher");
    ActorRef<PoolManager.Routes> publishRoutes = ctx.spawn(Behaviors.receive(PoolManager.Routes.class)
        .onMessage(PoolManager.Routes.class, r -> {
          routesTopic.tell(Topic.publish(r));
          return Behaviors.same();
        }).build(), "routes-publisher");
    var placement = ctx.spawn(Placement.create(agent -> agent.path().address().hasGlobalScope()
        ? hostId(agent.path().address()) : selfHost), "placement");
    ActorRef<PoolManager.Place> placementFront = ctx.spawn(Placement.front(placement), "placement-front");
    ClusterManager.PoolRefs pools = (pool, cmd) -> sharding.entityRefFor(POOL, pool).tell(cmd);
    ClusterLayout clusterLayout = new ClusterLayout(new PoolBudgeter(profile,
        new PoolBudgeter.Settings(0.5, 0.9, live.engineStartup().toMillis(), 1.15, 1.0)), profile, 0.9);
    ActorRef<LayoutStore.Command> layouts = ctx.spawn(LayoutStore.create(Duration.ofSeconds(5)), "pool-layout");
    ActorRef<ClusterManager.Command> cm = ClusterSingleton.get(system).init(SingletonActor.of(
            Behaviors.supervise(ClusterManager.create(clusterLayout, pools, slos, limits, layouts, publish,
                new ClusterManager.Settings(live.clusterEpoch(), live.poolEpoch(), live.warmup(), live.speedup(),
                    FrequencyBounds.H100_DEFAULT), clock::nowMs))
                .onFailure(org.apache.pekko.actor.typed.SupervisorStrategy.restartWithBackoff(
                    Duration.ofSeconds(1), Duration.ofSeconds(30), 0.2)),
            "cluster-manager")
        .withStopMessage(new ClusterManager.Stop())
        .withSettings(org.apache.pekko.cluster.typed.ClusterSingletonSettings.create(system).withRole("control")));
    // pool managers' telemetry goes up to the cluster manager, wherever the singleton runs
    ActorRef<PoolTelemetry> poolTelemetry = ctx.spawn(Behaviors.receive(PoolTelemetry.class)
        .onMessage(PoolTelemetry.class, t -> {
          cm.tell(new ClusterManager.PoolReport(t));
          return Behaviors.same();
        }).build(), "pool-telemetry");

    // a TP change live starts a new engine and drains the old one: the planner weighs it as a restart
    PoolPlanner planner = new PoolPlanner(profile, PoolPlanner.Settings.DEFAULT
        .withReshardCost(ReshardCost.restart(live.engineStartup().toMillis()))
        .withStartupMs(live.engineStartup().toMillis())
        .withTransitionPowerW(profile.loadingPowerW()));
    PoolManager.Instances instances = (id, cmd) -> sharding.entityRefFor(INSTANCE, id).tell(cmd);
    var poolSettings = new PoolManager.Settings(live.poolEpoch(), live.keepAlive(), live.speedup());
    sharding.init(Entity.of(POOL, ec -> PoolManager.create(ec.getEntityId(), planner, instances, placementFront,
        publishRoutes, publish, poolTelemetry, poolSettings, clock::nowMs)).withRole("control"));

    ActorRef<Router.Command> router = ctx.spawn(Router.create(ClassThresholds.DEFAULT,
        id -> sharding.entityRefFor(INSTANCE, id), routesTopic, cm, pools,
        slos, defaultSlos, live.reportEvery(), live.speedup(), clock::nowMs), "router");
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
    return sharding.entityRefFor(POOL, name);
  }
}
