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
  private static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
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
    NodeSettings s = NodeSettings.fromConfig(root, Map.of()).withPort(0).withAdminPort(0).withOpsPort(0).withDataDir(dataDir)
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
    assertThat(before.get("power_budget_w").isNull()).as("no watt budget").isTrue();
    var r = put("/api/v1/limits", "{\"min_mhz\": 1005, \"max_mhz\": 1605, \"gpu_budget\": 6, \"power_budget_w\": 4500}",
        "Bearer " + TOKEN);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    assertThat(json(r).get("acknowledged").asText()).isEqualTo("majority");
    node.stop(Duration.ofSeconds(20));
    node = start();
    JsonNode after = json(get("/api/v1/limits"));
    assertThat(after.get("min_mhz").asInt()).isEqualTo(1005);
    assertThat(after.get("max_mhz").asInt()).isEqualTo(1605);
    assertThat(after.get("gpu_budget").asInt()).isEqualTo(6);
    assertThat(after.get("power_budget_w").asDouble()).isEqualTo(4500.0);
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
      "PUT | /api/v1/limits | {\"min_mhz\": 1005, \"max_mhz\": 1605, \"power_budget_w\": 50} | Bearer s3cret-token | 422 | 'power_budget_w' must be within",
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

  /** A raw HTTP/1.1 exchange (what no well-behaved client sends); the status line and the rest of the answer. */
  private String[] raw(String request, Duration wait) throws Exception {
    var a = node.adminAddress().orElseThrow();
    try (var socket = new java.net.Socket("127.0.0.1", a.getPort())) {
      socket.setSoTimeout((int) wait.toMillis());
      socket.getOutputStream().write(request.getBytes(java.nio.charset.StandardCharsets.UTF_8));
      socket.getOutputStream().flush();
      var in = new java.io.BufferedReader(new java.io.InputStreamReader(socket.getInputStream(),
          java.nio.charset.StandardCharsets.UTF_8));
      String status = in.readLine();
      StringBuilder rest = new StringBuilder();
      char[] buf = new char[4096];
      try {
        int n;
        while (!rest.toString().contains("}") && (n = in.read(buf)) > 0) {
          rest.append(buf, 0, n);
        }
      } catch (java.net.SocketTimeoutException e) {
        // the answer ended without closing the connection
      }
      return new String[] {status, rest.toString()};
    }
  }

  /** Issue 13's bad input that no route sees, or that takes the cluster's state to judge: JSON errors, in time. */
  @Test
  void oversizeSlowOrMalformedRequestsAndImpossibleBudgetsGetJsonErrors() throws Exception {
    node = start();
    String auth = "Bearer " + TOKEN;
    // a body over 64 KiB: 413 (was 405 "PUT is not supported here; use PUT" past 8 MB)
    var big = put("/api/v1/slos/LS", "{\"ttft_p99_ms\": 600, \"tbt_p99_ms\": 65, \"pad\": \"" + "x".repeat(100_000)
        + "\"}", auth);
    assertThat(big.statusCode()).as(big.body()).isEqualTo(413);
    assertThat(json(big).get("message").asText()).contains("larger than the admin API takes");
    // a Content-Length larger than the body: 408 after the 10-s body timeout, not a hang
    String[] slow = raw("PUT /api/v1/slos/LS HTTP/1.1\r\nHost: localhost\r\nAuthorization: " + auth
        + "\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"ttft_p99_ms\": 600", Duration.ofSeconds(30));
    assertThat(slow[0]).contains(" 408 ");
    assertThat(slow[1]).contains("application/json").contains("did not arrive within 10 s");
    // refused before routing: a URI too long (414), a header too large (431), an unknown method (501): JSON too
    var longUri = get("/api/v1/slos?x=" + "y".repeat(10_000));
    assertThat(longUri.statusCode()).isEqualTo(414);
    assertThat(json(longUri).get("status").asInt()).isEqualTo(414);
    var bigHeader = http.send(HttpRequest.newBuilder(uri("/api/v1/slos")).header("X-Big", "z".repeat(20_000)).GET()
        .build(), HttpResponse.BodyHandlers.ofString());
    assertThat(bigHeader.statusCode()).isEqualTo(431);
    assertThat(json(bigHeader).get("message").asText()).isNotBlank();
    String[] unknown = raw("BREW /api/v1/slos HTTP/1.1\r\nHost: localhost\r\n\r\n", Duration.ofSeconds(10));
    assertThat(unknown[0]).contains(" 501 ");
    assertThat(unknown[1]).contains("application/json").contains("\"status\":501");
    // HEAD: a GET without its body; on a PUT-only resource a 405 that says JSON
    var head = http.send(HttpRequest.newBuilder(uri("/api/v1/slos")).method("HEAD",
        HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(head.statusCode()).isEqualTo(200);
    var headPut = http.send(HttpRequest.newBuilder(uri("/api/v1/slos/LS")).method("HEAD",
        HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(headPut.statusCode()).isEqualTo(405);
    assertThat(headPut.headers().firstValue("Content-Type")).hasValueSatisfying(v -> assertThat(v)
        .contains("application/json"));
    // a GPU budget beyond the cluster's GPUs (this node's simulated host): 422 naming the field and the GPUs there are
    long listed = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (json(get("/api/v1/cluster")).get("hosts").isEmpty() && System.nanoTime() < listed) {
      Thread.sleep(100);
    }
    int gpus = json(get("/api/v1/cluster")).get("hosts").get(0).get("gpus").asInt();
    var tooMany = put("/api/v1/limits", "{\"min_mhz\": 1005, \"max_mhz\": 1980, \"gpu_budget\": " + (gpus + 1) + "}",
        auth);
    assertThat(tooMany.statusCode()).as(tooMany.body()).isEqualTo(422);
    assertThat(json(tooMany).get("message").asText()).contains("'gpu_budget'").contains("(" + gpus + " on 1 hosts)");
    var all = put("/api/v1/limits", "{\"min_mhz\": 1005, \"max_mhz\": 1980, \"gpu_budget\": " + gpus + "}", auth);
    assertThat(all.statusCode()).as(all.body()).isEqualTo(200);
    // nothing refused reached the SLO store
    assertThat(json(get("/api/v1/slos")).get("LS").get("ttft_p99_ms").asDouble())
        .isCloseTo(PROFILE.defaultSlos(5).of(io.dynamollm.protocol.RequestType.LS).ttftP99Ms(),
            org.assertj.core.api.Assertions.within(0.01));
  }
}
