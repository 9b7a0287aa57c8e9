package io.dynamollm.control.node;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.protocol.profile.Llama2H100Profile;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The admin API of a real one-node cluster over HTTP, with {@code pekko.actor.serialize-messages = on} so that every
 * message between actors goes through its serializer; and the durability of an acknowledged SLO change across a
 * restart of the node.
 */
class AdminApiTest {
  private static final String TOKEN = "s3cret-token";
  private static final Profile PROFILE = MemoizedProfile.of(new Llama2H100Profile());
  private static final ObjectMapper JSON = new ObjectMapper();
  private final HttpClient http = HttpClient.newHttpClient();

  @TempDir Path dataDir;
  private Node node;

  @AfterEach
  void stop() {
    if (node != null) {
      node.stop(Duration.ofSeconds(20));
    }
  }

  private Node start() {
    Config root = ConfigFactory.parseString("pekko.actor.serialize-messages = on\npekko.loglevel = WARNING")
        .withFallback(ConfigFiles.load(Optional.empty()));
    NodeSettings s = NodeSettings.fromConfig(root, Map.of()).withPort(0).withAdminPort(0).withDataDir(dataDir)
        .withAdminToken(TOKEN).withRoles(Set.of("control", "gpu-host"));
    return Node.start(s, root, PROFILE, PROFILE.defaultSlos(5));
  }

  private URI uri(String path) {
    var a = node.adminAddress().orElseThrow();
    return URI.create("http://127.0.0.1:" + a.getPort() + path);
  }

  private HttpResponse<String> get(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(uri(path)).GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> put(String path, String body, String auth) throws Exception {
    var b = HttpRequest.newBuilder(uri(path)).PUT(HttpRequest.BodyPublishers.ofString(body))
        .header("Content-Type", "application/json");
    if (auth != null) {
      b.header("Authorization", auth);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static JsonNode json(HttpResponse<String> r) throws Exception {
    assertThat(r.headers().firstValue("Content-Type")).hasValueSatisfying(v -> assertThat(v).contains("application/json"));
    return JSON.readTree(r.body());
  }

  @Test
  void clusterAndSlosAreReadableWithoutAToken() throws Exception {
    node = start();
    var cluster = get("/api/v1/cluster");
    assertThat(cluster.statusCode()).isEqualTo(200);
    JsonNode c = json(cluster);
    assertThat(c.get("members")).hasSize(1);
    JsonNode me = c.get("members").get(0);
    assertThat(me.get("address").asText()).isEqualTo(c.get("self").asText());
    assertThat(me.get("roles").toString()).contains("control").contains("gpu-host");
    assertThat(me.get("reachable").asBoolean()).isTrue();

    var slos = get("/api/v1/slos");
    assertThat(slos.statusCode()).isEqualTo(200);
    JsonNode s = json(slos);
    assertThat(s.size()).isEqualTo(9);
    assertThat(s.get("SS").get("ttft_p99_ms").asDouble())
        .isCloseTo(PROFILE.defaultSlos(5).of(io.dynamollm.protocol.RequestType.SS).ttftP99Ms(),
            org.assertj.core.api.Assertions.within(0.01));
  }

  @Test
  void anAcknowledgedChangeIsServedAtOnceAndSurvivesARestartOfTheNode() throws Exception {
    node = start();
    var r = put("/api/v1/slos/LS", "{\"ttft_p99_ms\": 600, \"tbt_p99_ms\": 65}", "Bearer " + TOKEN);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(json(r).get("acknowledged").asText()).isEqualTo("majority");
    assertThat(json(get("/api/v1/slos")).get("LS").get("ttft_p99_ms").asDouble()).isEqualTo(600.0);

    node.stop(Duration.ofSeconds(20));
    node = start(); // same durable folder, a new actor system
    JsonNode after = json(get("/api/v1/slos"));
    assertThat(after.get("LS").get("ttft_p99_ms").asDouble()).isEqualTo(600.0);
    assertThat(after.get("LS").get("tbt_p99_ms").asDouble()).isEqualTo(65.0);
  }

  @Test
  void theOperatorsLimitsAreStoredWithAMajorityAndSurviveARestart() throws Exception {
    node = start();
    JsonNode before = json(get("/api/v1/limits"));
    assertThat(before.get("min_mhz").asInt()).isEqualTo(800);
    assertThat(before.get("max_mhz").asInt()).isEqualTo(1980);
    assertThat(before.get("gpu_budget").isNull()).as("every GPU").isTrue();
    var r = put("/api/v1/limits", "{\"min_mhz\": 1005, \"max_mhz\": 1605, \"gpu_budget\": 6}", "Bearer " + TOKEN);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(json(r).get("acknowledged").asText()).isEqualTo("majority");
    node.stop(Duration.ofSeconds(20));
    node = start();
    JsonNode after = json(get("/api/v1/limits"));
    assertThat(after.get("min_mhz").asInt()).isEqualTo(1005);
    assertThat(after.get("max_mhz").asInt()).isEqualTo(1605);
    assertThat(after.get("gpu_budget").asInt()).isEqualTo(6);
    // the hosts' GPUs, their power and energy (once the host agent's registration has reached the receptionist)
    JsonNode hosts = json(get("/api/v1/cluster")).get("hosts");
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (hosts.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(100);
      hosts = json(get("/api/v1/cluster")).get("hosts");
    }
    assertThat(hosts).hasSize(1);
    assertThat(hosts.get(0).get("gpus").asInt()).isPositive();
    assertThat(hosts.get(0).get("power_w").asDouble()).isPositive();
  }

  @ParameterizedTest(name = "{0} {1} with {3} -> {4}")
  @CsvSource(delimiter = '|', value = {
      "PUT | /api/v1/slos/LS | {\"ttft_p99_ms\": 600, \"tbt_p99_ms\": 65} | none | 401 | Authorization: Bearer",
      "PUT | /api/v1/slos/LS | {\"ttft_p99_ms\": 600, \"tbt_p99_ms\": 65} | Basic abc | 401 | Authorization: Bearer",
      "PUT | /api/v1/slos/LS | {\"ttft_p99_ms\": 600, \"tbt_p99_ms\": 65} | Bearer wrong | 403 | token is wrong",
      "PUT | /api/v1/slos/XL | {\"ttft_p99_ms\": 600, \"tbt_p99_ms\": 65} | Bearer s3cret-token | 404 | unknown request type 'XL'",
      "PUT | /api/v1/slos/LS | {\"ttft_p99_ms\": 600 | Bearer s3cret-token | 400 | not valid JSON",
      "PUT | /api/v1/slos/LS | {\"tbt_p99_ms\": 65} | Bearer s3cret-token | 422 | missing field 'ttft_p99_ms'",
      "PUT | /api/v1/slos/LS | {\"ttft_p99_ms\": \"fast\", \"tbt_p99_ms\": 65} | Bearer s3cret-token | 422 | 'ttft_p99_ms' must be a number",
      "PUT | /api/v1/slos/LS | {\"ttft_p99_ms\": -3, \"tbt_p99_ms\": 65} | Bearer s3cret-token | 422 | positive, finite",
      "PUT | /api/v1/slos/LS | {\"ttft_p99_ms\": 1e999, \"tbt_p99_ms\": 65} | Bearer s3cret-token | 422 | positive, finite",
      "PUT | /api/v1/slos/LS | {\"ttft_p99_ms\": 10, \"tbt_p99_ms\": 65} | Bearer s3cret-token | 422 | below what any configuration reaches",
      "PUT | /api/v1/limits | {\"min_mhz\": 1005, \"max_mhz\": 1605} | none | 401 | Authorization: Bearer",
      "PUT | /api/v1/limits | {\"min_mhz\": 1005, \"max_mhz\": 1605} | Bearer wrong | 403 | token is wrong",
      "PUT | /api/v1/limits | [1005, 1605] | Bearer s3cret-token | 400 | must be a JSON object",
      "PUT | /api/v1/limits | {\"max_mhz\": 1605} | Bearer s3cret-token | 422 | missing field 'min_mhz'",
      "PUT | /api/v1/limits | {\"min_mhz\": 1005.5, \"max_mhz\": 1605} | Bearer s3cret-token | 422 | 'min_mhz' must be a whole number",
      "PUT | /api/v1/limits | {\"min_mhz\": 1005, \"max_mhz\": 2500} | Bearer s3cret-token | 422 | 'max_mhz' must be within the GPU's clock range",
      "PUT | /api/v1/limits | {\"min_mhz\": 1605, \"max_mhz\": 1005} | Bearer s3cret-token | 422 | must not exceed 'max_mhz'",
      "PUT | /api/v1/limits | {\"min_mhz\": 1006, \"max_mhz\": 1100} | Bearer s3cret-token | 422 | no clock the planner knows",
      "PUT | /api/v1/limits | {\"min_mhz\": 1005, \"max_mhz\": 1605, \"gpu_budget\": 1} | Bearer s3cret-token | 422 | 'gpu_budget' must be at least 2",
      "GET | /api/v1/nothing | '' | none | 404 | no such resource",
      "GET | /api/v1/decisions?limit=lots | '' | none | 400 | limit must be a whole number 1-500, got 'lots'",
      "GET | /api/v1/decisions?limit=0 | '' | none | 400 | limit must be a whole number 1-500, got 0",
      "PUT | /api/v1/pools | {} | Bearer s3cret-token | 405 | PUT is not supported",
      "DELETE | /api/v1/slos | '' | none | 405 | DELETE is not supported",
      "POST | /api/v1/slos/LS | {} | Bearer s3cret-token | 405 | POST is not supported",
  })
  void badRequestsGetAJsonErrorNamingTheProblem(String method, String path, String body, String auth, int status,
      String message) throws Exception {
    node = start();
    var b = HttpRequest.newBuilder(uri(path)).method(method, HttpRequest.BodyPublishers.ofString(body));
    if (!auth.equals("none")) {
      b.header("Authorization", auth);
    }
    var r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
    JsonNode e = json(r);
    assertThat(e.get("status").asInt()).isEqualTo(status);
    assertThat(e.get("message").asText()).contains(message);
    if (status == 401) {
      assertThat(r.headers().firstValue("WWW-Authenticate")).contains("Bearer");
    }
    // nothing rejected reached the stores
    assertThat(json(get("/api/v1/limits")).get("max_mhz").asInt()).isEqualTo(1980);
    assertThat(json(get("/api/v1/slos")).get("LS").get("ttft_p99_ms").asDouble())
        .isCloseTo(PROFILE.defaultSlos(5).of(io.dynamollm.protocol.RequestType.LS).ttftP99Ms(),
            org.assertj.core.api.Assertions.within(0.01));
  }
}
