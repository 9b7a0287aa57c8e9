package io.dynamollm.control.cli;

import com.typesafe.config.Config;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.config.ProfileSettings;
import io.dynamollm.control.config.SloSettings;
import io.dynamollm.control.node.Node;
import io.dynamollm.control.node.NodeSettings;
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

  @Option(names = "--data-dir", paramLabel = "DIR", description = "Folder of the durable data (default ./dynamollm-data).")
  Path dataDir;

  @Override
  public Integer call() throws Exception {
    Config cfg = ConfigFiles.load(Optional.ofNullable(config));
    Profile profile = ProfileSettings.profile(cfg);
    var slos = SloSettings.fromConfig(cfg).resolve(profile);
    NodeSettings s = NodeSettings.fromConfig(cfg, System.getenv());
    if (roles != null) {
      s = s.withRoles(new LinkedHashSet<>(NodeSettings.splitList(roles)));
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
    if (dataDir != null) {
      s = s.withDataDir(dataDir);
    }
    PrintWriter out = spec.commandLine().getOut();
    final NodeSettings settings = s;
    Node node = Node.start(settings, cfg, profile, slos);
    Thread stopper = new Thread(() -> node.stop(Duration.ofSeconds(30)), "dynamollm-stop");
    installSignalHandlers(stopper);
    out.printf("dynamollm node %s up, roles %s%n", node.system().address(), String.join(",", settings.roles()));
    node.adminAddress().ifPresent(a -> {
      String base = "http://" + a.getHostString() + ":" + a.getPort();
      out.printf("admin API: %s/api/v1/cluster, %s/api/v1/slos%n", base, base);
      if (settings.adminToken().isEmpty()) {
        out.printf("admin token (generated; set DYNAMOLLM_ADMIN_TOKEN to choose one): %s%n", node.adminToken());
      }
    });
    node.hostAgent().ifPresent(agent -> {
      HostAgent.Inventory inv = AskPattern.<HostAgent.Command, HostAgent.Inventory>ask(agent,
          HostAgent.GetInventory::new, Duration.ofSeconds(10), node.system().scheduler()).toCompletableFuture().join();
      out.printf("gpu-host: %d GPUs, clocks reset%s%n", inv.gpus().size(),
          inv.excluded().isEmpty() ? "" : "; kept out (clock reset failed): " + inv.excluded());
    });
    out.println("Ctrl-C to leave the cluster and stop.");
    out.flush();
    node.awaitTermination();
    out.println("left the cluster; stopped.");
    out.flush();
    return 0;
  }

  /** SIGINT and SIGTERM run the coordinated shutdown (leave the cluster, unbind HTTP) instead of killing the JVM. */
  @SuppressWarnings("removal")
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
