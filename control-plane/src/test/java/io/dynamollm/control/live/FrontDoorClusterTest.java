package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.RateLimitException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.core.JsonValue;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The front door on a real 3-node cluster (a control node, two simulated 8-GPU hosts in their own cluster nodes, 50×
 * faster than real time), driven by the official OpenAI Java SDK: requests are classified, routed to a pool's
 * instance on a GPU host, served by the simulated engine token by token (streamed across nodes), and answered with
 * their latency, SLO verdict and energy; a burst past the queue bound is shed with 429; an instance stopped mid-stream
 * ends its stream with an error event.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FrontDoorClusterTest {
  private static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  private static final String MODEL = "meta-llama/Llama-2-70b-chat-hf";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static ThreeNodeCluster cluster;
  private static OpenAIClient client;
  private static String base;

  @TempDir static Path dir;

  @BeforeAll
  static void start() throws Exception {
    cluster = new ThreeNodeCluster(dir, PROFILE, 50, "dynamollm.decisions.routing.max-outstanding = 6");
    var door = cluster.control.frontDoorAddress().orElseThrow();
    base = "http://127.0.0.1:" + door.getPort() + "/v1";
    client = OpenAIOkHttpClient.builder().baseUrl(base).apiKey("none").maxRetries(0)
        .timeout(Duration.ofSeconds(60)).build();
    // the cluster's first pool serves once its instance loaded (a minute of model time): wait for it
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (System.nanoTime() < deadline) {
      if (readyInstances() > 0) {
        return;
      }
      Thread.sleep(250);
    }
    throw new AssertionError("no instance became ready within 60 s");
  }

  private static int readyInstances() throws Exception {
    int n = 0;
    for (JsonNode p : cluster.get("/api/v1/pools")) {
      for (JsonNode i : p.get("instances")) {
        n += i.get("state").asText().equals("ready") ? 1 : 0;
      }
    }
    return n;
  }

  @AfterAll
  static void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private static JsonNode ext(Map<String, JsonValue> extras) {
    return extras.get("dynamollm").convert(JsonNode.class);
  }

  @Test
  void completionsAndChatsAreServedByAPoolsInstanceWithTheirLatencyVerdictAndEnergy() {
    Completion c = client.completions().create(CompletionCreateParams.builder().model(MODEL)
        .prompt("Write a haiku about energy efficient inference clusters").maxTokens(24).temperature(0.0).build());
    assertThat(c.choices().get(0).text()).isNotBlank();
    var u = c.usage().orElseThrow();
    assertThat(u.promptTokens()).isBetween(8L, 14L);
    assertThat(u.completionTokens()).isBetween(1L, 24L);
    JsonNode d = ext(u._additionalProperties());
    assertThat(d.path("type").asText()).matches("[SML][SML]");
    assertThat(d.path("instance").asText()).contains("~").startsWith(d.path("instance").asText().split("~")[0]);
    assertThat(d.path("ttft_ms").asDouble()).isPositive();
    assertThat(d.path("energy_j").asDouble()).isPositive();
    assertThat(d.path("slo_met").isBoolean()).isTrue();
    // temperature 0: the same prompt, the same answer
    Completion again = client.completions().create(CompletionCreateParams.builder().model(MODEL)
        .prompt("Write a haiku about energy efficient inference clusters").maxTokens(24).temperature(0.0).build());
    assertThat(again.choices().get(0).text()).isEqualTo(c.choices().get(0).text());

    ChatCompletion chat = client.chat().completions().create(ChatCompletionCreateParams.builder().model(MODEL)
        .addSystemMessage("You are terse.").addUserMessage("Name three GPUs.").maxCompletionTokens(16).build());
    assertThat(chat.choices().get(0).message().content()).isPresent();
    assertThat(chat.choices().get(0).finishReason().asString()).isIn("length", "stop");
    // a TTFT objective no engine meets: the answer says it was missed
    ChatCompletion strict = client.chat().completions().create(ChatCompletionCreateParams.builder().model(MODEL)
        .addUserMessage("Hello").maxCompletionTokens(4).putAdditionalHeader("x-slo-ttft-ms", "0.001").build());
    JsonNode s = ext(strict.usage().orElseThrow()._additionalProperties());
    assertThat(s.path("slo_met").asBoolean()).isFalse();
    assertThat(s.path("slo").path("ttft_ms").asDouble()).isEqualTo(0.001);
  }

  @Test
  void aStreamCarriesTheEnginesTokensAcrossNodesAtItsPace() {
    var params = ChatCompletionCreateParams.builder().model(MODEL).addUserMessage("Tell me about DVFS.")
        .maxCompletionTokens(40).streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build())
        .build();
    List<ChatCompletionChunk> chunks = new ArrayList<>();
    List<Long> at = new ArrayList<>();
    try (StreamResponse<ChatCompletionChunk> st = client.chat().completions().createStreaming(params)) {
      st.stream().forEach(ch -> {
        chunks.add(ch);
        at.add(System.nanoTime());
      });
    }
    long texts = chunks.stream().filter(ch -> !ch.choices().isEmpty()
        && ch.choices().get(0).delta().content().isPresent()).count();
    var usage = chunks.get(chunks.size() - 1).usage().orElseThrow();
    assertThat(texts).isEqualTo(usage.completionTokens());
    assertThat(ext(usage._additionalProperties()).path("energy_j").asDouble()).isPositive();
    if (texts >= 10) { // tokens arrive one iteration after the other, not all at once at the end
      assertThat((at.get((int) texts - 1) - at.get(0)) / 1e6).isGreaterThan(5.0);
    }
  }

  @Test
  void aBurstPastThePoolsQueueBoundIsShedWith429AndRetryAfter() throws Exception {
    List<CompletableFuture<Object>> all = new ArrayList<>();
    for (int k = 0; k < 40; k++) {
      all.add(CompletableFuture.supplyAsync(() -> {
        try {
          return client.completions().create(CompletionCreateParams.builder().model(MODEL).prompt("burst " + Math.random())
              .maxTokens(300).build());
        } catch (RateLimitException e) {
          return e;
        }
      }));
    }
    int served = 0;
    int shed = 0;
    int shedByAdmission = 0;
    for (var f : all) {
      Object r = f.get(120, TimeUnit.SECONDS);
      if (r instanceof RateLimitException e) {
        shed++;
        assertThat(e.statusCode()).isEqualTo(429);
        assertThat(e.headers().values("Retry-After")).isNotEmpty();
        // shed by admission (the pool's queue past its bound), or — on a loaded machine — by the instance's ladder
        // for a request already past its TTFT deadline: both are overload, both 429
        assertThat(e.getMessage()).containsAnyOf("max-outstanding 6", "past its TTFT deadline");
        if (e.getMessage().contains("max-outstanding 6")) {
          shedByAdmission++;
        }
      } else {
        served++;
      }
    }
    assertThat(shed).isPositive();
    assertThat(shedByAdmission).as("sheds by the admission bound").isPositive();
    assertThat(served).isPositive();
    assertThat(served + shed).isEqualTo(40); // every request got an answer
  }

  @Test
  @Order(Integer.MAX_VALUE - 1) // after the unordered tests (MAX_VALUE / 2): their requests are in the counters
  void everyNodeServesPrometheusMetricsAndHealthChecks() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    var control = cluster.control;
    // the telemetry reads every 2 s: wait for a reading that saw the pools and the GPU hosts
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (System.nanoTime() < deadline && (control.telemetry().latest().cluster().isEmpty()
        || control.telemetry().latest().exportedPools().isEmpty())) {
      Thread.sleep(200);
    }
    String adminScrape = get(http, control.adminAddress().orElseThrow().getPort(), "/metrics").body();
    java.nio.file.Files.createDirectories(Path.of("target"));
    java.nio.file.Files.writeString(Path.of("target", "metrics-control.prom"), adminScrape); // promtool in CI
    var c = io.dynamollm.control.metrics.ExpositionText.parse(adminScrape);
    assertThat(c.sum("dynamollm_requests_total")).as("requests counted").isGreaterThan(0);
    assertThat(c.named("dynamollm_requests_total")).anySatisfy(x -> {
      assertThat(x.labels()).containsKeys("pool", "type").containsEntry("outcome", "served");
    });
    assertThat(c.sum("dynamollm_request_ttft_seconds_count")).isGreaterThan(0);
    assertThat(c.sum("dynamollm_request_tpot_seconds_count")).isGreaterThan(0);
    assertThat(c.sum("dynamollm_request_energy_joules_count")).isGreaterThan(0);
    assertThat(c.sum("dynamollm_front_door_overhead_seconds_count")).isGreaterThan(0);
    assertThat(c.sum("dynamollm_planner_solve_seconds_count")).isGreaterThan(0);
    assertThat(c.named("dynamollm_decisions_total")).anySatisfy(x ->
        assertThat(x.labels()).containsEntry("level", "pool").containsKeys("action", "reason"));
    assertThat(c.types).containsEntry("dynamollm_slo_misses_total", "counter")
        .containsEntry("dynamollm_request_ttft_seconds", "histogram")
        .containsKeys("jvm_memory_used_bytes", "jvm_threads_current");
    // the control node runs the cluster manager: it exports the pools and the cluster totals
    assertThat(c.named("dynamollm_pool_instances")).anySatisfy(x ->
        assertThat(x.labels()).containsKeys("pool", "tp", "state"));
    assertThat(c.named("dynamollm_pool_planned_load_rps")).isNotEmpty();
    assertThat(c.named("dynamollm_pool_capacity_correction")).isNotEmpty();
    assertThat(c.named("vllm:num_requests_running")).anySatisfy(x ->
        assertThat(x.labels()).containsEntry("model_name", MODEL).containsKeys("instance", "pool"));
    assertThat(c.named("vllm:num_requests_waiting")).isNotEmpty();
    assertThat(c.sum("dynamollm_cluster_gpus")).isEqualTo(16);
    assertThat(c.sum("dynamollm_cluster_gpu_power_watts")).isGreaterThan(0);
    // a GPU host serves its GPUs' metrics under DCGM exporter's names and labels on its ops endpoint
    var host = cluster.nodes.stream().filter(n -> n.hostAgent().isPresent()).findFirst().orElseThrow();
    String hostScrape = get(http, host.opsAddress().getPort(), "/metrics").body();
    java.nio.file.Files.writeString(Path.of("target", "metrics-gpu-host.prom"), hostScrape);
    var h = io.dynamollm.control.metrics.ExpositionText.parse(hostScrape);
    assertThat(h.named("DCGM_FI_DEV_POWER_USAGE")).hasSize(8).allSatisfy(x -> {
      assertThat(x.labels()).containsKeys("gpu", "UUID", "Hostname");
      assertThat(x.value()).isGreaterThan(0);
    });
    assertThat(h.named("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")).hasSize(8);
    assertThat(h.named("DCGM_FI_DEV_SM_CLOCK")).hasSize(8);
    assertThat(h.named("dynamollm_gpu_energy_joules_total")).hasSize(8);
    // a held GPU shows the clock its instance locked next to the one it applies
    assertThat(h.named("dynamollm_gpu_sm_clock_requested_mhz")).anySatisfy(x -> assertThat(x.value()).isPositive());
    assertThat(h.named("dynamollm_pool_instances")).as("pools are exported once, by the manager's node").isEmpty();
    // health: Pekko Management's checks on every node's ops endpoint, its cluster read endpoints
    for (var n : cluster.nodes) {
      assertThat(get(http, n.opsAddress().getPort(), "/ready").statusCode()).isEqualTo(200);
      assertThat(get(http, n.opsAddress().getPort(), "/alive").statusCode()).isEqualTo(200);
    }
    var members = JSON.readTree(get(http, control.opsAddress().getPort(), "/cluster/members").body());
    assertThat(members.get("members")).hasSize(3);
    // the Grafana dashboard we ship queries only metrics these scrapes expose
    java.util.Set<String> exposed = new java.util.HashSet<>();
    c.samples.forEach(x -> exposed.add(x.name()));
    h.samples.forEach(x -> exposed.add(x.name()));
    JsonNode grafana = JSON.readTree(Path.of("..", "deploy", "grafana", "dynamollm.json").toFile());
    java.util.regex.Pattern metric = java.util.regex.Pattern.compile("\\b(DCGM_[A-Z_]+|dynamollm_[a-z_]+|vllm:[a-z_]+"
        + "|jvm_[a-z_]+)");
    int queried = 0;
    for (JsonNode panel : grafana.get("panels")) {
      for (JsonNode t : panel.get("targets")) {
        var m = metric.matcher(t.get("expr").asText());
        while (m.find()) {
          queried++;
          assertThat(exposed).as("panel '" + panel.get("title").asText() + "' queries " + m.group(1)).contains(
              m.group(1));
        }
      }
    }
    assertThat(queried).isGreaterThan(15);
  }

  @Test
  void aPlanPreviewAnswersWhatTheClusterWouldRunWithoutApplyingIt() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    int port = cluster.control.adminAddress().orElseThrow().getPort();
    double lsBefore = cluster.get("/api/v1/slos").get("LS").get("ttft_p99_ms").asDouble();
    // no token: a preview is read-only
    var r = post(http, port, "{\"slos\": {\"LS\": {\"ttft_p99_ms\": 900, \"tbt_p99_ms\": 90}},"
        + " \"limits\": {\"min_mhz\": 1200, \"max_mhz\": 1400}}");
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    JsonNode a = JSON.readTree(r.body());
    assertThat(a.get("host_gpus").asInt()).isEqualTo(16);
    for (String side : List.of("now", "proposed")) {
      assertThat(a.get(side).get("pools")).isNotEmpty();
      assertThat(a.get(side).get("predicted_power_w").asDouble()).isPositive();
      assertThat(a.get(side).get("types")).hasSize(9);
    }
    assertThat(a.get("proposed").get("types").get("LS").get("ttft_p99_ms").asDouble()).isEqualTo(900);
    // the proposed limits hold in the proposed plans: no instance above 1400 MHz
    for (JsonNode p : a.get("proposed").get("pools")) {
      for (JsonNode g : p.get("instances")) {
        assertThat(g.get("clock_mhz").asInt()).isBetween(1200, 1400);
      }
    }
    assertThat(a.get("difference").get("power_w").asDouble())
        .isCloseTo(a.get("proposed").get("predicted_power_w").asDouble()
            - a.get("now").get("predicted_power_w").asDouble(), org.assertj.core.api.Assertions.within(0.2));
    // nothing applied
    assertThat(cluster.get("/api/v1/slos").get("LS").get("ttft_p99_ms").asDouble()).isEqualTo(lsBefore);
    // a watt budget below what the cluster would draw: the proposal says how it is held (the bootstrap layout, with
    // no forecast to cap by, by the governor on measurements; a forecast layout by capping its pools, each planned
    // under its cap)
    double nowW = a.get("now").get("predicted_power_w").asDouble();
    double budget = Math.max(3000, Math.round(0.5 * nowW));
    var capped = post(http, port, "{\"limits\": {\"min_mhz\": 800, \"max_mhz\": 1980, \"power_budget_w\": " + budget
        + "}}");
    assertThat(capped.statusCode()).as(capped.body()).isEqualTo(200);
    JsonNode c = JSON.readTree(capped.body());
    assertThat(c.get("proposed").get("layout_reason").asText()).contains(Math.round(budget) + " W budget");
    for (JsonNode p : c.get("proposed").get("pools")) {
      if (p.get("power_cap_w").isNumber()) {
        assertThat(p.get("predicted_power_w").asDouble()).isLessThanOrEqualTo(p.get("power_cap_w").asDouble() + 1);
      }
    }
    assertThat(cluster.get("/api/v1/limits").get("power_budget_w").isNull()).as("nothing applied").isTrue();
    assertThat(post(http, port, "{\"limits\": {\"min_mhz\": 800, \"max_mhz\": 1980, \"power_budget_w\": -1}}")
        .body()).contains("power_budget_w");
    // validated as the PUTs are
    var bad = post(http, port, "{\"slos\": {\"XX\": {\"ttft_p99_ms\": 1, \"tbt_p99_ms\": 1}}}");
    assertThat(bad.statusCode()).isEqualTo(422);
    assertThat(bad.body()).contains("slos.XX").contains("unknown request type");
    assertThat(post(http, port, "{\"limits\": {\"min_mhz\": 1500, \"max_mhz\": 1000}}").statusCode())
        .isEqualTo(422);
    assertThat(post(http, port, "{\"slo\": {}}").body()).contains("unknown field 'slo'");
    assertThat(post(http, port, "{\"slos\": ").statusCode()).isEqualTo(400);
  }

  private static HttpResponse<String> post(HttpClient http, int port, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/v1/plan/preview"))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> get(HttpClient http, int port, String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  @Order(Integer.MAX_VALUE) // it stops the instances: last
  void anInstanceThatStopsMidStreamEndsItsStreamWithAnErrorEvent() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    var req = HttpRequest.newBuilder(URI.create(base + "/completions")).POST(HttpRequest.BodyPublishers.ofString(
        "{\"model\": \"" + MODEL + "\", \"prompt\": \"a very long story\", \"max_tokens\": 3000, \"ignore_eos\": true,"
            + " \"stream\": true}")).build();
    HttpResponse<java.io.InputStream> resp = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
    assertThat(resp.statusCode()).isEqualTo(200);
    try (var in = new BufferedReader(new InputStreamReader(resp.body(), StandardCharsets.UTF_8))) {
      String first = in.readLine();
      assertThat(first).startsWith("data: {");
      // stop every ready instance (the one serving it among them)
      var sharding = ClusterSharding.get(cluster.control.system());
      for (JsonNode p : cluster.get("/api/v1/pools")) {
        for (JsonNode i : p.get("instances")) {
          if (i.get("state").asText().equals("ready")) {
            sharding.entityRefFor(InstanceManager.TYPE_KEY, i.get("id").asText())
                .tell(new InstanceManager.Stop("test: the instance dies mid-stream"));
          }
        }
      }
      String line;
      JsonNode last = null;
      boolean done = false;
      while ((line = in.readLine()) != null) {
        if (line.startsWith("data: {")) {
          last = JSON.readTree(line.substring(6));
        } else if (line.equals("data: [DONE]")) {
          done = true;
        }
      }
      assertThat(done).isTrue();
      assertThat(last.path("error").path("message").asText()).contains("after its first tokens");
    }
  }
}
