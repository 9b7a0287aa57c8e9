package io.dynamollm.control.live;

import io.dynamollm.instance.HostAgent;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.node.Node;
import io.dynamollm.control.node.NodeSettings;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.profile.Profile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A real 3-node cluster in one JVM for the live (and node) tests: one control node and two simulated 8-GPU hosts, every interval
 * and engine {@code speedup} times faster than real time, each node with its own data folder under {@code dir}.
 */
public final class ThreeNodeCluster implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final HttpClient http = HttpClient.newHttpClient();
  public final List<Node> nodes = new ArrayList<>();
  final Node control;
  final ModelClock clock;
  final LiveSettings live;

  public ThreeNodeCluster(Path dir, Profile profile, double speedup) {
    this(dir, profile, speedup, "");
  }

  /** With {@code extra} HOCON over the test defaults. */
  ThreeNodeCluster(Path dir, Profile profile, double speedup, String extra) {
    Config root = ConfigFactory.parseString(extra).withFallback(ConfigFactory.parseString("""
        pekko.loglevel = WARNING
        pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
        dynamollm.gpu.backend = simulated
        dynamollm.live.speedup = %s
        """.formatted(speedup))).withFallback(ConfigFiles.load(Optional.empty()));
    live = LiveSettings.fromConfig(root);
    clock = new ModelClock(live.speedup());
    NodeSettings base = NodeSettings.fromConfig(root, Map.of()).withPort(0).withAdminPort(0).withOpsPort(0).withAdminToken("t");
    control = Node.start(base.withRoles(Set.of("control")).withDataDir(dir.resolve("c")), root, profile,
        profile.defaultSlos(5), live, clock);
    nodes.add(control);
    String seed = "127.0.0.1:" + control.system().address().getPort().get();
    for (int k = 1; k <= 2; k++) {
      nodes.add(Node.start(base.withRoles(Set.of("gpu-host")).withSeeds(List.of(seed)).withDataDir(dir.resolve("h" + k)),
          root, profile, profile.defaultSlos(5), live, clock));
    }
  }

  /** GET on the control node's admin API; asserts 200 and returns the JSON. */
  JsonNode get(String path) throws Exception {
    var a = control.adminAddress().orElseThrow();
    var r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.getPort() + path)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  /** Waits up to 30 s for both GPU hosts to be listed; asserts they are. */
  public void awaitHosts() throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (get("/api/v1/cluster").get("hosts").size() < 2 && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertThat(get("/api/v1/cluster").get("hosts").size()).isEqualTo(2);
  }

  /** Every host's GPUs together: their energy counters (mJ) and the GPUs held. */
  public long[] hostTotals() throws Exception {
    long energy = 0;
    long held = 0;
    for (Node n : nodes) {
      if (n.hostAgent().isPresent()) {
        HostAgent.Inventory inv = AskPattern.<HostAgent.Command, HostAgent.Inventory>ask(n.hostAgent().get(),
            HostAgent.GetInventory::new, Duration.ofSeconds(5), n.system().scheduler()).toCompletableFuture().get();
        energy += inv.totalEnergyMj();
        held += inv.holders().size();
      }
    }
    return new long[] {energy, held};
  }

  /** Stops the hosts, then the control node. */
  @Override
  public void close() {
    for (int k = nodes.size() - 1; k >= 0; k--) {
      nodes.get(k).stop(Duration.ofSeconds(20));
    }
  }
}
