package io.dynamollm.control.node;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.net.ServerSocket;
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
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three nodes in one JVM form a real cluster over loopback. An SLO change acknowledged by the first node (the oldest:
 * where the cluster singleton runs) is still there after that node left and came back, and a node that joins with
 * an empty durable folder reads it from the majority.
 */
class SloDurabilityClusterTest {
  private static final String TOKEN = "cluster-test-token";
  private static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  private static final ObjectMapper JSON = new ObjectMapper();
  private final HttpClient http = HttpClient.newHttpClient();
  private final List<Node> nodes = new ArrayList<>();

  @TempDir Path dir;

  @AfterEach
  void stopAll() {
    for (Node n : nodes) {
      n.stop(Duration.ofSeconds(20));
    }
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private Node start(String name, int port, List<Integer> seeds) {
    Config root = ConfigFactory.parseString("pekko.loglevel = WARNING\npekko.cluster.jmx.multi-mbeans-in-same-jvm = on")
        .withFallback(ConfigFiles.load(Optional.empty()));
    NodeSettings s = NodeSettings.fromConfig(root, Map.of()).withPort(port).withAdminPort(0).withOpsPort(0)
        .withDataDir(dir.resolve(name)).withAdminToken(TOKEN).withRoles(Set.of("control", "gpu-host"))
        .withSeeds(seeds.stream().map(p -> "127.0.0.1:" + p).toList());
    Node n = Node.start(s, root, PROFILE, PROFILE.defaultSlos(5));
    nodes.add(n);
    return n;
  }

  private static void awaitUp(Node n, int members) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (System.nanoTime() < deadline) {
      var state = Cluster.get(n.system()).state();
      long up = 0;
      for (var m : state.getMembers()) {
        if (m.status() == MemberStatus.up()) {
          up++;
        }
      }
      if (up == members && state.getUnreachable().isEmpty()) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError("cluster did not reach " + members + " up members: " + Cluster.get(n.system()).state());
  }

  private HttpResponse<String> call(Node n, String method, String path, String body) throws Exception {
    var a = n.adminAddress().orElseThrow();
    var b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.getPort() + path))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
        .header("Authorization", "Bearer " + TOKEN);
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private double ttftOf(Node n, String type) throws Exception {
    return JSON.readTree(call(n, "GET", "/api/v1/slos", null).body()).get(type).get("ttft_p99_ms").asDouble();
  }

  @Test
  void anAcknowledgedChangeSurvivesTheOldestNodeLeavingAndComingBack() throws Exception {
    int pa = freePort();
    int pb = freePort();
    int pc = freePort();
    Node a = start("a", pa, List.of(pa));
    Node b = start("b", pb, List.of(pa));
    Node c = start("c", pc, List.of(pa));
    awaitUp(a, 3);

    var put = call(a, "PUT", "/api/v1/slos/MM", "{\"ttft_p99_ms\": 400, \"tbt_p99_ms\": 55}");
    assertThat(put.statusCode()).as(put.body()).isEqualTo(200);
    // acknowledged means a majority (2 of 3) holds it: at least one other node serves it at once, both soon after
    assertThat(ttftOf(b, "MM") == 400.0 || ttftOf(c, "MM") == 400.0).isTrue();
    awaitTtft(b, "MM", 400.0);
    awaitTtft(c, "MM", 400.0);

    // the oldest node (where the singleton runs) leaves and comes back on the same address and durable folder
    a.stop(Duration.ofSeconds(20));
    nodes.remove(a);
    awaitUp(b, 2);
    Node a2 = start("a", pa, List.of(pb, pc));
    awaitUp(b, 3);
    assertThat(ttftOf(a2, "MM")).isEqualTo(400.0);

    // a brand-new node with an empty durable folder reads it from the majority
    Node d = start("d", freePort(), List.of(pb, pc));
    awaitUp(b, 4);
    awaitTtft(d, "MM", 400.0);
  }

  private void awaitTtft(Node n, String type, double expected) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (ttftOf(n, type) != expected && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertThat(ttftOf(n, type)).isEqualTo(expected);
  }
}
