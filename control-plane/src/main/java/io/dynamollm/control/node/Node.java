package io.dynamollm.control.node;

import com.typesafe.config.Config;
import io.dynamollm.control.admin.AdminRoutes;
import io.dynamollm.control.http.JsonParsingErrors;
import io.dynamollm.control.cluster.ClusterLimits;
import io.dynamollm.control.cluster.LimitsStore;
import io.dynamollm.control.cluster.SloStore;
import io.dynamollm.control.frontdoor.FrontDoor;
import io.dynamollm.control.frontdoor.FrontDoorSettings;
import io.dynamollm.control.frontdoor.Tokenizer;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.gpu.GpuBackends;
import io.dynamollm.gpu.GpuInventory;
import io.dynamollm.gpu.GpuSettings;
import io.dynamollm.control.live.EngineConfig;
import io.dynamollm.control.live.LiveControlPlane;
import io.dynamollm.control.live.LiveSettings;
import io.dynamollm.control.live.LiveViews;
import io.dynamollm.control.metrics.NodeMetrics;
import io.dynamollm.control.metrics.Telemetry;
import io.dynamollm.control.ops.NodeHealth;
import io.dynamollm.control.ops.OpsEndpoint;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Profile;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;

/**
 * One dynamollm node: a Pekko cluster member with the SLO store and, on control nodes, the admin HTTP endpoint.
 * {@link #start} returns once the HTTP endpoint is bound; {@link #stop} leaves the cluster (coordinated shutdown).
 */
public final class Node implements AutoCloseable {
  private final ActorSystem<Void> system;
  private final NodeSettings settings;
  private final Optional<ServerBinding> http;
  private final Optional<ServerBinding> frontDoor;
  private final ServerBinding ops;
  private final Telemetry telemetry;
  private final NodeMetrics metrics;
  private final String adminToken;
  private final ActorRef<SloStore.Command> slos;
  private final Optional<ActorRef<HostAgent.Command>> hostAgent;
  private final LiveControlPlane live;
  private final ModelClock clock;
  private volatile boolean stopAsked;

  private Node(ActorSystem<Void> system, NodeSettings settings, Optional<ServerBinding> http,
      Optional<ServerBinding> frontDoor, ServerBinding ops, String adminToken, ActorRef<SloStore.Command> slos,
      Optional<ActorRef<HostAgent.Command>> hostAgent, LiveControlPlane live, ModelClock clock, Telemetry telemetry,
      NodeMetrics metrics) {
    this.ops = ops;
    this.telemetry = telemetry;
    this.metrics = metrics;
    this.frontDoor = frontDoor;
    this.live = live;
    this.clock = clock;
    this.system = system;
    this.settings = settings;
    this.http = http;
    this.adminToken = adminToken;
    this.slos = slos;
    this.hostAgent = hostAgent;
  }

  /**
   * Starts a node: joins the seeds (or starts a cluster of its own when there are none), starts the SLO store; on a
   * gpu-host node the host agent over this host's GPUs ({@code dynamollm.gpu}: NVML when present, else simulated),
   * which resets their clocks; on a control node, binds the admin endpoint.
   *
   * @param root the configuration (application.conf, a user file, reference.conf) the settings came from
   * @param profile the profile admin requests are validated against
   * @param defaults the SLOs of types never changed through the API
   */
  public static Node start(NodeSettings settings, Config root, Profile profile, SloTable defaults) {
    LiveSettings live = LiveSettings.fromConfig(root);
    return start(settings, root, profile, defaults, live, new ModelClock(live.speedup()));
  }

  /**
   * As above, with the live control plane's time scales and the model clock every node of this JVM shares (so that
   * simulated hosts of one demo agree on the time).
   */
  public static Node start(NodeSettings settings, Config root, Profile profile, SloTable defaults, LiveSettings live,
      ModelClock clock) {
    // a GPU host stopped on purpose drains first (HostDrain): up to two engine start-ups and a margin
    Duration drainFor = live.engineStartup().dividedBy((long) Math.max(1, live.speedup())).multipliedBy(2)
        .plusSeconds(10);
    Config config = settings.pekkoConfig(root).withValue("pekko.coordinated-shutdown.phases.before-service-unbind"
        + ".timeout", com.typesafe.config.ConfigValueFactory.fromAnyRef(drainFor.plusSeconds(5).toMillis() + "ms"));
    EngineConfig engines = EngineConfig.fromConfig(root);
    FrontDoorSettings doorSettings = FrontDoorSettings.fromConfig(root, System.getenv());
    // the ports first: a second node on the same ports is told which, before anything is opened
    FreePorts.require(settings.host(), settings.port(), "the cluster port: --port, dynamollm.node.port");
    FreePorts.require(settings.opsInterface(), settings.opsPort(),
        "the ops endpoint: --ops-port, dynamollm.node.ops.port");
    if (settings.isControl()) {
      FreePorts.require(settings.adminInterface(), settings.adminPort(),
          "the admin API: --http-port, dynamollm.node.admin.port");
    }
    if (settings.isControl() && doorSettings.enabled()) {
      FreePorts.require(doorSettings.interfaceName(), doorSettings.port(),
          "the front door: --front-door-port, dynamollm.front-door.port");
    }
    // read the tokenizer before anything starts: a tokenizer file that cannot be read fails the start, naming it
    Optional<Tokenizer> tokenizer = settings.isControl() && doorSettings.enabled()
        ? Optional.of(Tokenizer.of(doorSettings)) : Optional.empty();
    Optional<GpuBackends.Opened> gpus = Optional.empty();
    if (settings.roles().contains(NodeSettings.GPU_HOST)) {
      GpuBackends.Opened opened = GpuBackends.open(GpuSettings.fromConfig(root),
          settings.host() + ":" + settings.port() + "/" + System.nanoTime(), profile, clock::nanoTime,
          Optional.ofNullable(System.getenv("CUDA_VISIBLE_DEVICES")));
      if (opened.inventory() instanceof GpuInventory.Unavailable u) {
        closeQuietly(opened);
        throw new IllegalArgumentException("this node has the gpu-host role but no GPUs: " + u.reason());
      }
      gpus = Optional.of(opened);
    }
    Optional<GpuBackends.Opened> host = gpus;
    Duration sampleEvery = opsSampleEvery(root); // checked before anything starts
    NodeMetrics metrics = new NodeMetrics(engines.model());
    LiveControlPlane.Observers observers = new LiveControlPlane.Observers(metrics, metrics, metrics::decided);
    var storeRef = new CompletableFuture<ActorRef<SloStore.Command>>();
    var limitsRef = new CompletableFuture<ActorRef<LimitsStore.Command>>();
    var agentRef = new CompletableFuture<Optional<ActorRef<HostAgent.Command>>>();
    var liveRef = new CompletableFuture<LiveControlPlane>();
    Behavior<Void> guardian = Behaviors.setup(ctx -> {
      Cluster cluster = Cluster.get(ctx.getSystem());
      if (settings.seeds().isEmpty()) {
        cluster.manager().tell(new Join(cluster.selfMember().address()));
      }
      var store = ctx.spawn(SloStore.create(defaults, settings.majorityTimeout()), "slos");
      storeRef.complete(store);
      var limits = ctx.spawn(LimitsStore.create(settings.majorityTimeout(),
          new ClusterLimits(FrequencyBounds.H100_DEFAULT, 0)), "cluster-limits");
      limitsRef.complete(limits);
      Optional<ActorRef<HostAgent.Command>> agent = host.map(h -> ctx.spawn(
          HostAgent.create(((GpuInventory.Available) h.inventory()).devices()), "host-agent"));
      agentRef.complete(agent);
      try {
        liveRef.complete(LiveControlPlane.start(ctx, settings.roles(), agent, store, limits, defaults, profile, live,
            clock, engines, observers));
      } catch (RuntimeException e) {
        liveRef.completeExceptionally(e);
        throw e;
      }
      return Behaviors.empty();
    });
    ActorSystem<Void> system;
    try {
      system = ActorSystem.create(guardian, settings.clusterName(), config);
    } catch (RuntimeException e) { // e.g. the cluster port taken since FreePorts looked
      host.ifPresent(Node::closeQuietly);
      throw new IllegalArgumentException("cannot start the node: " + e.getMessage(), e);
    }
    // NVML is released after the actors (the host agent resets clocks when it stops)
    system.getWhenTerminated().thenRun(() -> host.ifPresent(Node::closeQuietly));
    try {
      ActorRef<SloStore.Command> store = storeRef.get(30, TimeUnit.SECONDS);
      ActorRef<LimitsStore.Command> limits = limitsRef.get(30, TimeUnit.SECONDS);
      Optional<ActorRef<HostAgent.Command>> agent = agentRef.get(30, TimeUnit.SECONDS);
      LiveControlPlane livePlane = liveRef.get(30, TimeUnit.SECONDS);
      String token = settings.adminToken().orElseGet(Node::randomToken);
      NodeHealth health = NodeHealth.get(system);
      health.stores(store, limits);
      if (tokenizer.isPresent()) {
        health.expectFrontDoor();
      }
      LiveViews views = new LiveViews(system, Optional.of(livePlane), settings.askTimeout());
      Telemetry telemetry = new Telemetry(system, agent, Optional.of(views),
          io.dynamollm.instance.InstanceManager.hostId(system.address()), settings.askTimeout())
          .start(sampleEvery);
      metrics.readFrom(telemetry);
      system.getWhenTerminated().thenRun(telemetry::close);
      OpsEndpoint ops = new OpsEndpoint(metrics);
      ServerBinding opsBinding = Http.get(system).newServerAt(settings.opsInterface(), settings.opsPort())
          .bind(ops.route(Adapter.toClassic(system))).toCompletableFuture().get(30, TimeUnit.SECONDS);
      opsBinding.addToCoordinatedShutdown(Duration.ofSeconds(5), system);
      Optional<ServerBinding> binding = Optional.empty();
      if (settings.isControl()) {
        var routes = new AdminRoutes(system, store, limits, profile, token, settings.askTimeout(), views,
            NodeSettings.testEndpoints(root));
        ServerBinding b = Http.get(system).newServerAt(settings.adminInterface(), settings.adminPort())
            .withSettings(JsonParsingErrors.serverSettings(system, AdminRoutes.ParsingErrors.class))
            .bind(ops.metricsRoute().orElse(new io.dynamollm.control.ops.DashboardRoutes(telemetry).route())
                .orElse(routes.route())).toCompletableFuture().get(30, TimeUnit.SECONDS);
        b.addToCoordinatedShutdown(Duration.ofSeconds(5), system);
        binding = Optional.of(b);
      }
      Optional<ServerBinding> door = Optional.empty();
      if (tokenizer.isPresent()) {
        ServerBinding d = new FrontDoor(system, livePlane.router().orElseThrow(), doorSettings, tokenizer.get(),
            io.dynamollm.protocol.ClassThresholds.DEFAULT, metrics::frontDoorOverhead).bind()
            .toCompletableFuture().get(30, TimeUnit.SECONDS);
        health.frontDoorBound();
        d.addToCoordinatedShutdown(Duration.ofSeconds(5), system);
        system.getWhenTerminated().thenRun(tokenizer.get()::close);
        door = Optional.of(d);
      }
      agent.ifPresent(a -> CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(),
          "drain-gpu-host", () -> HostDrain.run(system, a, drainFor)));
      return new Node(system, settings, binding, door, opsBinding, token, store, agent, livePlane, clock, telemetry,
          metrics);
    } catch (Exception e) {
      system.terminate();
      Throwable cause = e instanceof java.util.concurrent.ExecutionException ? e.getCause() : e;
      throw new IllegalArgumentException("cannot start the node: " + cause.getMessage(), cause);
    }
  }

  public ActorSystem<Void> system() {
    return system;
  }

  public NodeSettings settings() {
    return settings;
  }

  /** Where the admin endpoint listens (control nodes only). */
  public Optional<InetSocketAddress> adminAddress() {
    return http.map(ServerBinding::localAddress);
  }

  /** Where the OpenAI-compatible front door listens (control nodes, unless switched off). */
  public Optional<InetSocketAddress> frontDoorAddress() {
    return frontDoor.map(ServerBinding::localAddress);
  }

  /** Where the ops endpoint (/metrics, /ready, /alive, /cluster/members) listens: every node. */
  public InetSocketAddress opsAddress() {
    return ops.localAddress();
  }

  /** What this node last read of its GPUs and (control nodes) the pools and the cluster. */
  public Telemetry telemetry() {
    return telemetry;
  }

  public NodeMetrics metrics() {
    return metrics;
  }

  private static Duration opsSampleEvery(Config root) {
    Duration d = root.getDuration("dynamollm.node.ops.sample-every");
    if (d.isNegative() || d.isZero()) {
      throw new IllegalArgumentException("dynamollm.node.ops.sample-every must be positive, got " + d);
    }
    return d;
  }

  /** The bearer token mutating admin calls need (generated when none was configured). */
  public String adminToken() {
    return adminToken;
  }

  public ActorRef<SloStore.Command> slos() {
    return slos;
  }

  /** The live control plane's parts on this node. */
  public LiveControlPlane live() {
    return live;
  }

  public ModelClock clock() {
    return clock;
  }

  /** The host agent (gpu-host nodes only). */
  public Optional<ActorRef<HostAgent.Command>> hostAgent() {
    return hostAgent;
  }

  private static void closeQuietly(AutoCloseable c) {
    try {
      c.close();
    } catch (Exception e) {
      org.slf4j.LoggerFactory.getLogger(Node.class).warn("releasing the GPU driver failed: {}", e.toString());
    }
  }

  /** Leaves the cluster and stops (coordinated shutdown); waits up to {@code timeout}. */
  public void stop(Duration timeout) {
    stopAsked = true;
    try {
      CoordinatedShutdown.get(system).runAll(CoordinatedShutdown.unknownReason())
          .toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      system.getWhenTerminated().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      system.terminate();
    }
  }

  /** Waits until the actor system has terminated (after {@link #stop} or when the cluster downed this node). */
  public Done awaitTermination() throws Exception {
    system.getWhenTerminated().toCompletableFuture().get();
    return Done.getInstance();
  }

  @Override
  public void close() {
    stop(Duration.ofSeconds(30));
  }

  /**
   * Why the node stopped, once it has, when no one asked it to ({@link #stop}, Ctrl-C, SIGTERM): the cluster downed
   * it (it was unreachable — frozen, partitioned, overloaded — longer than the split-brain resolver waits, or on the
   * minority side of a partition), it could not join its seeds, or its configuration is incompatible with the
   * cluster's. A supervisor must restart such a node; {@code ./dynamollm node} exits non-zero with this reason.
   */
  public Optional<String> abnormalStop() {
    if (stopAsked || !system.getWhenTerminated().toCompletableFuture().isDone()) {
      return Optional.empty();
    }
    Optional<CoordinatedShutdown.Reason> reason = CoordinatedShutdown.get(system).getShutdownReason();
    if (reason.isEmpty()) {
      return Optional.of("its actor system terminated without a shutdown (see the log above)");
    }
    CoordinatedShutdown.Reason r = reason.get();
    if (r.equals(CoordinatedShutdown.clusterDowningReason())) {
      return Optional.of("the cluster downed this node: it was unreachable (frozen, partitioned or overloaded) for"
          + " longer than the split-brain resolver waits, or it was on the minority side of a partition");
    }
    if (r.equals(CoordinatedShutdown.clusterJoinUnsuccessfulReason())) {
      return Optional.of("it could not join any of its seeds " + settings.seeds() + " in time");
    }
    if (r.equals(CoordinatedShutdown.incompatibleConfigurationDetectedReason())) {
      return Optional.of("its configuration is incompatible with the cluster's (see the log above)");
    }
    if (r.equals(CoordinatedShutdown.clusterLeavingReason()) || r.equals(CoordinatedShutdown.jvmExitReason())
        || r.equals(CoordinatedShutdown.unknownReason())) {
      return Optional.empty();
    }
    return Optional.of("it was shut down: " + r);
  }

  private static String randomToken() {
    byte[] b = new byte[18];
    new SecureRandom().nextBytes(b);
    return HexFormat.of().formatHex(b);
  }
}
