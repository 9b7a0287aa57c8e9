package io.dynamollm.app.cli;

import com.typesafe.config.Config;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.config.ProfileSettings;
import io.dynamollm.control.config.SloSettings;
import io.dynamollm.control.node.Node;
import io.dynamollm.control.live.LiveSettings;
import io.dynamollm.control.live.LoadGenerator;
import io.dynamollm.control.node.NodeSettings;
import io.dynamollm.sim.AzureTraceWorkload;
import io.dynamollm.sim.WorkloadZoo;
import io.dynamollm.sim.Workload;
import io.dynamollm.instance.engine.ModelClock;
import java.util.ArrayList;
import java.util.List;
import io.dynamollm.instance.HostAgent;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import io.dynamollm.protocol.profile.Profile;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./dynamollm node}: runs one node of the live control plane until Ctrl-C or SIGTERM. */
@Command(
    name = "node",
    mixinStandardHelpOptions = true,
    description = {
        "Runs one node of the dynamollm cluster: joins the seed nodes (or starts a cluster of its own), keeps the SLOs in "
            + "durable Distributed Data and, on a control node, serves the admin API.",
        "Ctrl-C or SIGTERM leaves the cluster and exits with 0.",
        "Environment: DYNAMOLLM_HOST, DYNAMOLLM_PORT, DYNAMOLLM_SEEDS, DYNAMOLLM_ROLES, DYNAMOLLM_DATA_DIR, "
            + "DYNAMOLLM_ADMIN_TOKEN (flags win over them)."})
final class NodeCommand implements Callable<Integer> {

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--config", paramLabel = "FILE", description = "HOCON file with dynamollm.node / dynamollm.slo settings.")
  Path config;

  @CommandLine.Mixin ProfileOption profileOption = new ProfileOption();

  @Option(names = "--roles", paramLabel = "LIST", description = "control, gpu-host or both (default: both).")
  String roles;

  @Option(names = "--host", paramLabel = "HOST", description = "Address other nodes reach this one at (default 127.0.0.1).")
  String host;

  @Option(names = "--port", paramLabel = "PORT", description = "Cluster (Artery) port; 0 picks a free one (default 2551).")
  Integer port;

  @Option(names = "--seeds", paramLabel = "LIST", description = "host:port of nodes to join, comma-separated.")
  String seeds;

  @Option(names = "--http-port", paramLabel = "PORT", description = "Admin API port; 0 picks a free one (default 8080).")
  Integer httpPort;

  @Option(names = "--front-door-port", paramLabel = "PORT",
      description = "OpenAI-compatible front door port on a control node; 0 picks a free one (default 8000).")
  Integer frontDoorPort;

  @Option(names = "--ops-port", paramLabel = "PORT",
      description = "Ops endpoint port (/metrics, /ready, /alive, /cluster/members); 0 picks a free one (default 7626).")
  Integer opsPort;

  @Option(names = "--status-every", paramLabel = "SECONDS", defaultValue = "10",
      description = "Print a status line (energy, power, attainment per type) this often on a control node; 0: never.")
  int statusEvery;

  @Option(names = "--data-dir", paramLabel = "DIR", description = "Folder of the durable data (default ./dynamollm-data).")
  Path dataDir;

  @Option(names = "--simulated-hosts", paramLabel = "N", defaultValue = "0",
      description = "Also run N simulated DGX hosts, each its own cluster node (role gpu-host) on loopback in this JVM; "
          + "this node then has the control role only (unless --roles says otherwise).")
  int simulatedHosts;

  @Option(names = "--gpus-per-host", paramLabel = "G", description = "GPUs of each simulated host (default 8).")
  Integer gpusPerHost;

  @Option(names = "--workload", paramLabel = "NAME|FILE",
      description = "Replay a workload of the zoo (conversation, coding, bursty, coding-bursty, long-context,"
          + " shifting-mix) or an Azure-format trace CSV through the router.")
  String workload;

  @Option(names = "--through-http",
      description = "Send the workload through the front door over HTTP, as OpenAI completions (the path real clients"
          + " take), instead of straight to the router.")
  boolean throughHttp;

  @Option(names = "--average-rps", paramLabel = "RPS",
      description = "Average rate of a built-in workload (default 5.5 conversation, 4.0 coding).")
  Double averageRps;

  @Option(names = "--speedup", paramLabel = "X",
      description = "Run simulated engines, the workload and every controller epoch X times faster than real time.")
  Double speedup;

  @Override
  public Integer call() throws Exception {
    if (simulatedHosts < 0 || simulatedHosts > 32) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--simulated-hosts must be 0-32, got " + simulatedHosts);
    }
    if (gpusPerHost != null && (gpusPerHost < 1 || gpusPerHost > 16)) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--gpus-per-host must be 1-16, got " + gpusPerHost);
    }
    if (speedup != null && !(speedup >= 1 && speedup <= 1000)) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--speedup must be 1-1000, got " + speedup);
    }
    if (averageRps != null && !(averageRps > 0 && averageRps <= 10_000)) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--average-rps must be > 0 and <= 10000, got " + averageRps);
    }
    if (throughHttp && workload == null) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--through-http needs --workload");
    }
    checkPort("--port", port);
    checkPort("--http-port", httpPort);
    checkPort("--front-door-port", frontDoorPort);
    checkPort("--ops-port", opsPort);
    if (statusEvery < 0 || statusEvery > 86_400) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--status-every must be 0-86400 seconds, got "
          + statusEvery);
    }
    Config cfg = profileOption.apply(ConfigFiles.load(Optional.ofNullable(config)));
    if (frontDoorPort != null) {
      cfg = com.typesafe.config.ConfigFactory.parseString("dynamollm.front-door.port = " + frontDoorPort)
          .withFallback(cfg);
    }
    if (gpusPerHost != null) {
      cfg = com.typesafe.config.ConfigFactory.parseString("dynamollm.gpu.simulated-count = " + gpusPerHost)
          .withFallback(cfg);
    }
    if (simulatedHosts > 0) {
      cfg = com.typesafe.config.ConfigFactory.parseString(
          "pekko.cluster.jmx.multi-mbeans-in-same-jvm = on\ndynamollm.gpu.backend = simulated").withFallback(cfg);
    }
    LiveSettings live = LiveSettings.fromConfig(cfg);
    if (speedup != null) {
      live = live.withSpeedup(speedup);
    }
    Workload replay = workload == null ? null : workload(workload);
    Profile profile = ProfileSettings.profile(cfg);
    var slos = SloSettings.fromConfig(cfg).resolve(profile);
    NodeSettings s = NodeSettings.fromConfig(cfg, System.getenv());
    if (roles != null) {
      s = s.withRoles(new LinkedHashSet<>(NodeSettings.splitList(roles)));
    } else if (simulatedHosts > 0) {
      s = s.withRoles(java.util.Set.of(NodeSettings.CONTROL));
    }
    if (host != null) {
      s = s.withHost(host);
    }
    if (port != null) {
      s = s.withPort(port);
    }
    if (seeds != null) {
      s = s.withSeeds(NodeSettings.splitList(seeds));
    }
    if (httpPort != null) {
      s = s.withAdminPort(httpPort);
    }
    if (opsPort != null) {
      s = s.withOpsPort(opsPort);
    }
    if (dataDir != null) {
      s = s.withDataDir(dataDir);
    }
    PrintWriter out = spec.commandLine().getOut();
    final NodeSettings settings = s;
    ModelClock clock = new ModelClock(live.speedup());
    Node node = Node.start(settings, cfg, profile, slos, live, clock);
    List<Node> hosts = new ArrayList<>();
    String seed = settings.host() + ":" + node.system().address().getPort().get();
    for (int k = 1; k <= simulatedHosts; k++) {
      NodeSettings h = settings.withRoles(java.util.Set.of(NodeSettings.GPU_HOST)).withPort(0).withOpsPort(0)
          .withSeeds(List.of(seed)).withDataDir(settings.dataDir().resolve("simulated-host-" + k));
      hosts.add(Node.start(h, cfg, profile, slos, live, clock));
    }
    Thread stopper = new Thread(() -> {
      hosts.forEach(h -> h.stop(Duration.ofSeconds(30)));
      node.stop(Duration.ofSeconds(30));
    }, "dynamollm-stop");
    installSignalHandlers(stopper);
    out.printf("dynamollm node %s up, roles %s%n", node.system().address(), String.join(",", settings.roles()));
    out.printf("profile: %s on %s%n", profile.model(), profile.hardware());
    node.adminAddress().ifPresent(a -> {
      String base = "http://" + a.getHostString() + ":" + a.getPort();
      out.printf("admin API: %s/api/v1/cluster, %s/api/v1/slos%n", base, base);
      if (settings.adminToken().isEmpty()) {
        out.printf("admin token (generated; set DYNAMOLLM_ADMIN_TOKEN to choose one): %s%n", node.adminToken());
      }
    });
    node.frontDoorAddress().ifPresent(a -> out.printf("front door (OpenAI API): http://%s:%d/v1%n", a.getHostString(),
        a.getPort()));
    node.adminAddress().ifPresent(a -> out.printf("dashboard: http://%s:%d/dashboard%n", a.getHostString(),
        a.getPort()));
    out.printf("ops: http://%s:%d/metrics, /ready, /alive%n", node.opsAddress().getHostString(),
        node.opsAddress().getPort());
    node.hostAgent().ifPresent(agent -> {
      HostAgent.Inventory inv = AskPattern.<HostAgent.Command, HostAgent.Inventory>ask(agent,
          HostAgent.GetInventory::new, Duration.ofSeconds(10), node.system().scheduler()).toCompletableFuture().join();
      out.printf("gpu-host: %d GPUs, clocks reset%s%n", inv.gpus().size(),
          inv.excluded().isEmpty() ? "" : "; kept out (clock reset failed): " + inv.excluded());
    });
    for (int k = 0; k < hosts.size(); k++) {
      out.printf("simulated host %d: node %s, %d GPUs, metrics http://%s:%d/metrics%n", k + 1,
          hosts.get(k).system().address(),
          gpusPerHost != null ? gpusPerHost : io.dynamollm.gpu.GpuSettings.fromConfig(cfg).simulatedCount(),
          hosts.get(k).opsAddress().getHostString(), hosts.get(k).opsAddress().getPort());
    }
    if (live.speedup() > 1) {
      out.printf("time runs %.0fx faster than the wall clock (engines, workload and every controller epoch)%n",
          live.speedup());
    }
    if (replay != null) {
      var router = node.live().router();
      if (router.isEmpty()) {
        throw new DynamoLlmCli.UserError("--workload needs a node with the control role (it replays through the router)");
      }
      Optional<io.dynamollm.control.live.FrontDoorClient> http = Optional.empty();
      if (throughHttp) {
        var door = node.frontDoorAddress().orElseThrow(() -> new DynamoLlmCli.UserError(
            "--through-http needs the front door (dynamollm.front-door.enabled = on)"));
        String url = "http://" + door.getHostString() + ":" + door.getPort() + "/v1";
        var doorSettings = io.dynamollm.control.frontdoor.FrontDoorSettings.fromConfig(cfg, System.getenv());
        http = Optional.of(new io.dynamollm.control.live.FrontDoorClient(url, doorSettings.model(),
            doorSettings.apiKeys().stream().findFirst()));
        out.println("replaying " + replay.name() + " through the front door at " + url);
      } else {
        out.println("replaying " + replay.name() + " through the router");
      }
      new LoadGenerator().start(node.system(), router.get(), replay, clock, 2000, line -> {
        out.println(line);
        out.flush();
      }, true, http);
    }
    if (statusEvery > 0 && settings.isControl()) {
      node.system().scheduler().scheduleAtFixedRate(Duration.ofSeconds(statusEvery), Duration.ofSeconds(statusEvery),
          () -> {
            out.println(io.dynamollm.control.metrics.StatusLine.of(node.telemetry().latest()));
            out.flush();
          }, node.system().executionContext());
    }
    out.println("Ctrl-C to leave the cluster and stop.");
    out.flush();
    node.awaitTermination();
    Optional<String> why = node.abnormalStop();
    if (why.isPresent()) {
      hosts.forEach(h -> h.stop(Duration.ofSeconds(10)));
      spec.commandLine().getErr().println("dynamollm node stopped: " + why.get()
          + "; restart it with the same command (and data dir) to rejoin the cluster");
      spec.commandLine().getErr().flush();
      return EXIT_STOPPED_BY_CLUSTER;
    }
    out.println("left the cluster; stopped.");
    out.flush();
    return 0;
  }

  private Workload workload(String what) {
    if (WorkloadZoo.has(what)) {
      return WorkloadZoo.create(what, null, averageRps, 1, 1);
    }
    Path file = Path.of(what);
    if (!java.nio.file.Files.isRegularFile(file)) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--workload must be a workload of the zoo ("
          + String.join(", ", WorkloadZoo.names()) + ") or a trace CSV file; no such file: " + what);
    }
    return AzureTraceWorkload.read(file, 1.0, 0, 0);
  }

  /** SIGINT and SIGTERM run the coordinated shutdown (leave the cluster, unbind HTTP) instead of killing the JVM. */
  @SuppressWarnings("removal")
  private void checkPort(String flag, Integer value) {
    if (value != null && (value < 0 || value > 65535)) {
      throw new CommandLine.ParameterException(spec.commandLine(), flag + " must be 0-65535, got " + value);
    }
  }

  /**
   * The exit status of a node the cluster stopped (downed, could not join): EX_TEMPFAIL of sysexits.h — a supervisor
   * should restart it.
   */
  public static final int EXIT_STOPPED_BY_CLUSTER = 75;

  private static void installSignalHandlers(Thread stopper) {
    var once = new java.util.concurrent.atomic.AtomicBoolean();
    sun.misc.SignalHandler handler = sig -> {
      if (once.compareAndSet(false, true)) {
        stopper.start();
      }
    };
    sun.misc.Signal.handle(new sun.misc.Signal("INT"), handler);
    sun.misc.Signal.handle(new sun.misc.Signal("TERM"), handler);
  }
}
