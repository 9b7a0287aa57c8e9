package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.node.Node;
import io.dynamollm.control.node.NodeSettings;
import io.dynamollm.control.sim.SyntheticWorkload;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.profile.Llama2H100Profile;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The live control plane end to end on a real 3-node cluster in one JVM (one control node, two simulated 8-GPU hosts),
 * 50× faster than real time: a conversation workload drives budgets to pools, instances start on the hosts through
 * sharding, clocks change, requests are served, and the admin API shows it all.
 */
class LiveClusterTest {
  private static final Profile PROFILE = MemoizedProfile.of(new Llama2H100Profile());
  private static final ObjectMapper JSON = new ObjectMapper();
  private final HttpClient http = HttpClient.newHttpClient();
  private final List<Node> nodes = new ArrayList<>();

  @TempDir Path dir;

  @AfterEach
  void stop() {
    for (int k = nodes.size() - 1; k >= 0; k--) {
      nodes.get(k).stop(Duration.ofSeconds(20));
    }
  }

  private JsonNode get(Node n, String path) throws Exception {
    var a = n.adminAddress().orElseThrow();
    var r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.getPort() + path)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  @Test
  void aWorkloadDrivesPoolsInstancesAndClocksAcrossNodes() throws Exception {
    Config root = ConfigFactory.parseString("""
        pekko.loglevel = WARNING
        pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
        dynamollm.gpu.backend = simulated
        dynamollm.live.speedup = 50
        """).withFallback(ConfigFiles.load(Optional.empty()));
    LiveSettings live = LiveSettings.fromConfig(root);
    ModelClock clock = new ModelClock(live.speedup());
    NodeSettings base = NodeSettings.fromConfig(root, Map.of()).withPort(0).withAdminPort(0).withAdminToken("t");
    Node control = Node.start(base.withRoles(Set.of("control")).withDataDir(dir.resolve("c")), root, PROFILE,
        PROFILE.defaultSlos(5), live, clock);
    nodes.add(control);
    String seed = "127.0.0.1:" + control.system().address().getPort().get();
    for (int k = 1; k <= 2; k++) {
      nodes.add(Node.start(base.withRoles(Set.of("gpu-host")).withSeeds(List.of(seed)).withDataDir(dir.resolve("h" + k)),
          root, PROFILE, PROFILE.defaultSlos(5), live, clock));
    }
    LoadGenerator load = new LoadGenerator().start(control.system(), control.live().router().orElseThrow(),
        new SyntheticWorkload(SyntheticWorkload.Kind.CONVERSATION, 1, 3.0, 7), clock, 1_000_000, line -> {});

    // within a minute of wall time (50 minutes of model time): pools with serving instances on the hosts' GPUs
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    JsonNode pools = null;
    Set<String> levels = new HashSet<>();
    boolean clockChange = false;
    while (System.nanoTime() < deadline) {
      pools = get(control, "/api/v1/pools");
      for (JsonNode d : get(control, "/api/v1/decisions?limit=500")) {
        levels.add(d.get("level").asText());
        clockChange |= d.get("level").asText().equals("instance") && d.get("action").asText().contains("->");
      }
      boolean serving = false;
      for (JsonNode p : pools) {
        for (JsonNode i : p.get("instances")) {
          serving |= i.get("state").asText().equals("ready");
        }
      }
      if (serving && levels.containsAll(Set.of("cluster", "pool", "instance")) && clockChange && load.served() > 200) {
        break;
      }
      Thread.sleep(500);
    }
    load.stop();
    assertThat(levels).contains("cluster", "pool", "instance");
    assertThat(clockChange).as("an instance changed its clock").isTrue();
    assertThat(load.served()).isGreaterThan(200);
    Set<String> hosts = new HashSet<>();
    for (JsonNode p : pools) {
      for (JsonNode i : p.get("instances")) {
        hosts.add(i.get("host").asText());
        assertThat(i.get("tp").asInt()).isIn(2, 4, 8);
      }
    }
    // instances live on the GPU hosts, never on the control node
    String controlHost = LiveControlPlane.hostId(control.system().address());
    assertThat(hosts).isNotEmpty().doesNotContain(controlHost);
    JsonNode instances = get(control, "/api/v1/instances");
    assertThat(instances.size()).isGreaterThan(0);
    assertThat(instances.get(0).has("pool")).isTrue();
  }
}
