package io.dynamollm.control.node;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Operator changes reach the cluster manager through the SLO store's subscription and bring a budget within the
 * rebudget delay — and a stream of changes never postpones it: sixty PUTs, one per model second, and the cluster
 * budgets again 30 model seconds after the first, while they still arrive.
 */
class RebudgetTest {
  private static final String TOKEN = "t";
  private static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Model time runs 60 times faster: one model second is 16.7 ms of wall time. */
  private static final double SPEEDUP = 60;
  private final HttpClient http = HttpClient.newHttpClient();

  @TempDir Path dataDir;
  private Node node;

  @AfterEach
  void stop() {
    if (node != null) {
      node.stop(Duration.ofSeconds(20));
    }
  }

  private URI uri(String path) {
    return URI.create("http://127.0.0.1:" + node.adminAddress().orElseThrow().getPort() + path);
  }

  /** The cluster manager's epochs so far: model time of each. */
  private List<Long> epochs() throws Exception {
    var r = http.send(HttpRequest.newBuilder(uri("/api/v1/decisions?limit=500")).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    List<Long> out = new ArrayList<>();
    for (JsonNode d : JSON.readTree(r.body())) {
      if (d.get("level").asText().equals("cluster") && d.get("action").asText().startsWith("epoch ")) {
        out.add(d.get("model_ms").asLong());
      }
    }
    return out;
  }

  @Test
  void sixtyPutsOnePerModelSecondDoNotStopClusterEpochs() throws Exception {
    // a pool epoch of 25 model minutes: the bootstrap layout is not looked at again during the test, so any epoch in
    // it is the operator's rebudget
    Config root = ConfigFactory.parseString("""
        pekko.loglevel = WARNING
        dynamollm.gpu.backend = simulated
        dynamollm.live.speedup = %s
        dynamollm.decisions.pool-epoch = 25m
        dynamollm.decisions.cluster-epoch = 30m
        """.formatted(SPEEDUP)).withFallback(ConfigFiles.load(Optional.empty()));
    NodeSettings s = NodeSettings.fromConfig(root, Map.of()).withPort(0).withAdminPort(0).withOpsPort(0).withDataDir(dataDir)
        .withAdminToken(TOKEN).withRoles(Set.of("control", "gpu-host"));
    node = Node.start(s, root, PROFILE, PROFILE.defaultSlos(5));
    // the first epoch comes within the rebudget delay of the start
    long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
    while (epochs().isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertThat(epochs()).hasSize(1);

    double t0 = node.clock().nowMs();
    List<Integer> statuses = new ArrayList<>();
    for (int k = 0; k < 60; k++) {
      while (node.clock().nowMs() < t0 + k * 1000) {
        LockSupport.parkNanos(1_000_000);
      }
      String body = String.format(Locale.ROOT, "{\"ttft_p99_ms\": %d, \"tbt_p99_ms\": 65}", 600 + k);
      var r = http.send(HttpRequest.newBuilder(uri("/api/v1/slos/LS")).PUT(HttpRequest.BodyPublishers.ofString(body))
          .header("Authorization", "Bearer " + TOKEN).build(), HttpResponse.BodyHandlers.ofString());
      statuses.add(r.statusCode());
    }
    double tEnd = node.clock().nowMs();
    assertThat(statuses).as("every change acknowledged by the majority").allMatch(c -> c == 200);
    assertThat(tEnd - t0).as("sixty PUTs spread over about a model minute").isGreaterThan(59_000);
    // the operator's rebudget: 30 model s after the first change (plus messaging, a few model seconds at 60x), while
    // the changes still came in — had each change pushed it back, the first would come 30 s after the last
    List<Long> during = epochs().stream().filter(m -> m > t0 && m < tEnd).toList();
    assertThat(during).as("epochs while the changes arrived").isNotEmpty();
    assertThat(during.stream().mapToLong(Long::longValue).min().orElseThrow())
        .isBetween((long) t0 + 30_000, (long) t0 + 45_000);
  }
}
