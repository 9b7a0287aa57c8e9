package io.dynamollm.control.frontdoor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.InternalServerException;
import com.openai.errors.NotFoundException;
import com.openai.errors.OpenAIServiceException;
import com.openai.errors.RateLimitException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.typesafe.config.ConfigFactory;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.live.Router;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.instance.engine.Engine;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The front door's HTTP contract, with the official OpenAI Java SDK as its client and a probe in place of the
 * router: what reaches the router for each call, how each outcome is answered (whole, streamed, each error), SLO
 * headers, API keys, and a client that goes away.
 */
class FrontDoorRoutesTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String MODEL = "meta-llama/Llama-2-70b-chat-hf";
  private static final Slo SLO = new Slo(200, 50);
  private static ActorTestKit kit;
  private static TestProbe<Router.Command> router;
  private static String base;
  private static String keyedBase;
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  @BeforeAll
  static void start() throws Exception {
    kit = ActorTestKit.create(ConfigFactory.parseString("pekko.loglevel = WARNING"));
    router = kit.createTestProbe();
    var root = ConfigFactory.parseString("""
        dynamollm.front-door { port = 0, max-body = 64k, retry-after = 7s }
        """).withFallback(ConfigFiles.load(Optional.empty()));
    FrontDoorSettings s = FrontDoorSettings.fromConfig(root, Map.of());
    ServerBinding b = new FrontDoor(kit.system(), router.getRef(), s, Tokenizer.of(s), ClassThresholds.DEFAULT).bind().toCompletableFuture()
        .get(10, TimeUnit.SECONDS);
    base = "http://127.0.0.1:" + b.localAddress().getPort() + "/v1";
    FrontDoorSettings keyed = FrontDoorSettings.fromConfig(root, Map.of("DYNAMOLLM_API_KEYS", "k1, k2"));
    ServerBinding kb = new FrontDoor(kit.system(), router.getRef(), keyed, Tokenizer.of(keyed),
        ClassThresholds.DEFAULT).bind()
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    keyedBase = "http://127.0.0.1:" + kb.localAddress().getPort() + "/v1";
  }

  @AfterAll
  static void stop() {
    kit.shutdownTestKit();
  }

  private static OpenAIClient client(String url, String key) {
    return OpenAIOkHttpClient.builder().baseUrl(url).apiKey(key).maxRetries(0).timeout(Duration.ofSeconds(20))
        .build();
  }

  private static OpenAIClient client() {
    return client(base, "unused");
  }

  private static Router.Request nextRequest() {
    return router.expectMessageClass(Router.Request.class, Duration.ofSeconds(10));
  }

  private static Router.Response served(Router.Request r, String text, int tokens, boolean met) {
    var c = new Engine.Completion(r.id(), 42.5, 11.25, tokens, text, "length", 321.5);
    return new Router.Response(r.id(), Optional.of(RequestType.MS), Optional.of("MS"), Optional.of("h~MS-1"),
        Optional.of(c), met, Optional.of(SLO), Optional.empty(), Router.Outcome.SERVED);
  }

  private static Router.Response failed(Router.Request r, Router.Outcome o, String why) {
    return new Router.Response(r.id(), Optional.of(RequestType.MS), Optional.empty(), Optional.empty(),
        Optional.empty(), false, Optional.of(SLO), Optional.of(why), o);
  }

  @Test
  void aCompletionReachesTheRouterCountedAndComesBackWithDynamollmsUsage() throws Exception {
    CompletableFuture<Completion> done = CompletableFuture.supplyAsync(() -> client().completions().create(
        CompletionCreateParams.builder().model(MODEL).prompt("The quick brown fox jumps over the lazy dog")
            .maxTokens(16).temperature(0.0).stop("\n").user("alice").build()));
    Router.Request r = nextRequest();
    assertThat(r.promptTokens()).isEqualTo(9); // cl100k_base: nine words, nine tokens
    assertThat(r.maxTokens()).isEqualTo(16); // the predictor's feature
    assertThat(r.outputTokens()).isEqualTo(16); // at most
    assertThat(r.streamTo()).isEmpty();
    Engine.OpenAiCall call = r.call().orElseThrow();
    assertThat(call.endpoint()).isEqualTo("completions");
    assertThat(call.stop()).containsExactly("\n");
    assertThat(JSON.readTree(call.body()).path("user").asText()).isEqualTo("alice"); // the body passes unchanged
    r.replyTo().tell(served(r, " jumps again", 2, true));
    Completion c = done.get(10, TimeUnit.SECONDS);
    assertThat(c.choices().get(0).text()).isEqualTo(" jumps again");
    assertThat(c.model()).isEqualTo(MODEL);
    var usage = c.usage().orElseThrow();
    assertThat(usage.promptTokens()).isEqualTo(9);
    assertThat(usage.completionTokens()).isEqualTo(2);
    JsonNode ext = dynamollm(usage._additionalProperties());
    assertThat(ext.path("type").asText()).isEqualTo("MS");
    assertThat(ext.path("pool").asText()).isEqualTo("MS");
    assertThat(ext.path("instance").asText()).isEqualTo("h~MS-1");
    assertThat(ext.path("ttft_ms").asDouble()).isEqualTo(42.5);
    assertThat(ext.path("tpot_ms").asDouble()).isEqualTo(11.25);
    assertThat(ext.path("slo_met").asBoolean()).isTrue();
    assertThat(ext.path("slo").path("ttft_ms").asDouble()).isEqualTo(200);
    assertThat(ext.path("energy_j").asDouble()).isEqualTo(321.5);
  }

  @Test
  void aStreamedChatSendsEachTokenAsItComesThenTheFinishTheUsageAndDone() throws Exception {
    var params = ChatCompletionCreateParams.builder().model(MODEL).addSystemMessage("Be brief.")
        .addUserMessage("Hello there").maxCompletionTokens(50)
        .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
    CompletableFuture<List<ChatCompletionChunk>> chunks = CompletableFuture.supplyAsync(() -> {
      try (StreamResponse<ChatCompletionChunk> s = client().chat().completions().createStreaming(params)) {
        return s.stream().toList();
      }
    });
    Router.Request r = nextRequest();
    assertThat(r.call().orElseThrow().endpoint()).isEqualTo("chat/completions");
    assertThat(r.maxTokens()).isEqualTo(50); // max_completion_tokens
    var to = r.streamTo().orElseThrow();
    to.tell(new InstanceManager.Token(r.id(), "h~MS-1", 0, "Hi"));
    to.tell(new InstanceManager.Token(r.id(), "h~MS-1", 1, " there"));
    to.tell(new InstanceManager.Token(r.id(), "h~MS-1", 2, "."));
    Thread.sleep(200);
    r.replyTo().tell(served(r, "Hi there.", 3, false));
    List<ChatCompletionChunk> got = chunks.get(10, TimeUnit.SECONDS);
    StringBuilder text = new StringBuilder();
    got.forEach(c -> c.choices().forEach(ch -> ch.delta().content().ifPresent(text::append)));
    assertThat(text.toString()).isEqualTo("Hi there.");
    assertThat(got.get(0).choices().get(0).delta().role()).isPresent();
    assertThat(got.stream().flatMap(c -> c.choices().stream()).filter(ch -> ch.finishReason().isPresent()))
        .hasSize(1);
    ChatCompletionChunk last = got.get(got.size() - 1);
    assertThat(last.choices()).isEmpty();
    assertThat(last.usage().orElseThrow().completionTokens()).isEqualTo(3);
    assertThat(dynamollm(last.usage().orElseThrow()._additionalProperties()).path("slo_met").asBoolean()).isFalse();
  }

  @Test
  void tokensThatArriveAfterTheAnswerAreStillStreamedBeforeTheFinish() throws Exception {
    // across nodes the answer (through the router) can overtake the instance's last tokens
    var params = ChatCompletionCreateParams.builder().model(MODEL).addUserMessage("Hello").maxCompletionTokens(5)
        .build();
    CompletableFuture<List<ChatCompletionChunk>> chunks = CompletableFuture.supplyAsync(() -> {
      try (StreamResponse<ChatCompletionChunk> s = client().chat().completions().createStreaming(params)) {
        return s.stream().toList();
      }
    });
    Router.Request r = nextRequest();
    var to = r.streamTo().orElseThrow();
    to.tell(new InstanceManager.Token(r.id(), "h~MS-1", 0, "One"));
    Thread.sleep(200);
    r.replyTo().tell(served(r, "One two three", 3, true));
    Thread.sleep(200);
    to.tell(new InstanceManager.Token(r.id(), "h~MS-1", 1, " two"));
    to.tell(new InstanceManager.Token(r.id(), "h~MS-1", 2, " three"));
    List<ChatCompletionChunk> got = chunks.get(10, TimeUnit.SECONDS);
    StringBuilder text = new StringBuilder();
    got.forEach(c -> c.choices().forEach(ch -> ch.delta().content().ifPresent(text::append)));
    assertThat(text.toString()).isEqualTo("One two three");
    assertThat(got.stream().flatMap(c -> c.choices().stream()).filter(ch -> ch.finishReason().isPresent()))
        .hasSize(1);
  }

  @Test
  void sloHeadersBecomeTheRequestsOwnObjectiveOursAndLlmDs() throws Exception {
    var req = HttpRequest.newBuilder(URI.create(base + "/completions")).header("x-slo-ttft-ms", "250")
        .header("x-llm-d-slo-tpot-ms", "30").POST(HttpRequest.BodyPublishers.ofString(
            "{\"model\": \"" + MODEL + "\", \"prompt\": \"hi\", \"max_tokens\": 3}")).build();
    var done = HTTP.sendAsync(req, HttpResponse.BodyHandlers.ofString());
    Router.Request r = nextRequest();
    Slo own = r.slo().orElseThrow().over(new Slo(1000, 100));
    assertThat(own).isEqualTo(new Slo(250, 30));
    r.replyTo().tell(served(r, "a b c", 3, true));
    var resp = done.get(10, TimeUnit.SECONDS);
    assertThat(resp.statusCode()).isEqualTo(200);
    assertThat(resp.headers().firstValue("x-dynamollm-slo-met")).contains("true");
    // only one of the two: the other is the type's
    var half = HttpRequest.newBuilder(URI.create(base + "/completions")).header("x-llm-d-slo-ttft-ms", "90")
        .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"" + MODEL + "\", \"prompt\": \"hi\"}")).build();
    var d2 = HTTP.sendAsync(half, HttpResponse.BodyHandlers.ofString());
    Router.Request r2 = nextRequest();
    assertThat(r2.slo().orElseThrow().over(new Slo(1000, 100))).isEqualTo(new Slo(90, 100));
    assertThat(r2.outputTokens()).isEqualTo(8192 - 1); // no max_tokens: what the context leaves
    r2.replyTo().tell(served(r2, "x", 1, true));
    assertThat(d2.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    for (String bad : List.of("0", "-5", "abc", "1e300", "NaN")) {
      var resp3 = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/completions")).header("x-slo-tpot-ms", bad)
          .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"" + MODEL + "\", \"prompt\": \"hi\"}")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(resp3.statusCode()).as(bad).isEqualTo(400);
      assertThat(error(resp3.body()).path("message").asText()).contains("x-slo-tpot-ms");
    }
  }

  @Test
  void eachRouterOutcomeIsAnsweredWithItsStatusAndOpenAisErrorShape() throws Exception {
    record Case(Router.Outcome outcome, Class<? extends OpenAIServiceException> error, int status) {}
    for (Case k : List.of(new Case(Router.Outcome.NO_INSTANCE, InternalServerException.class, 503),
        new Case(Router.Outcome.OVERLOADED, RateLimitException.class, 429),
        new Case(Router.Outcome.REJECTED, BadRequestException.class, 400),
        new Case(Router.Outcome.FAILED, InternalServerException.class, 502))) {
      var f = CompletableFuture.supplyAsync(() -> client().completions().create(
          CompletionCreateParams.builder().model(MODEL).prompt("hello").maxTokens(5).build()));
      Router.Request r = nextRequest();
      r.replyTo().tell(failed(r, k.outcome(), "because"));
      assertThatThrownBy(() -> f.get(10, TimeUnit.SECONDS)).cause().isInstanceOf(k.error())
          .satisfies(e -> {
            OpenAIServiceException s = (OpenAIServiceException) e;
            assertThat(s.statusCode()).isEqualTo(k.status());
            assertThat(s.getMessage()).contains("because");
            if (k.status() == 429 || k.status() == 503) {
              assertThat(s.headers().values("Retry-After")).containsExactly("7");
            }
          });
    }
  }

  @Test
  void badRequestsAreRefusedBeforeTheRouterWithOpenAisErrors() throws Exception {
    // through the SDK: unknown model, prompt over the context, n > 1
    assertThatThrownBy(() -> client().completions().create(CompletionCreateParams.builder().model("gpt-4")
        .prompt("hi").build())).isInstanceOf(NotFoundException.class)
        .satisfies(e -> assertThat(((NotFoundException) e).code()).contains("model_not_found"));
    assertThatThrownBy(() -> client().completions().create(CompletionCreateParams.builder().model(MODEL)
        .prompt("hi ".repeat(6000)).maxTokens(3000).build())).isInstanceOf(BadRequestException.class)
        .satisfies(e -> {
          assertThat(((BadRequestException) e).code()).contains("context_length_exceeded");
          assertThat(e.getMessage()).contains("maximum context of 8192 tokens", "6001", "3000");
        });
    assertThatThrownBy(() -> client().chat().completions().create(ChatCompletionCreateParams.builder().model(MODEL)
        .addUserMessage("hi").n(3).build())).isInstanceOf(BadRequestException.class)
        .satisfies(e -> assertThat(((BadRequestException) e).param()).contains("n"));
    // raw bodies a client library would not send
    Map<String, String> bodies = Map.of(
        "{\"model\": \"" + MODEL + "\", \"prompt\": ", "could not parse the JSON",
        "[1, 2]", "must be a JSON object",
        "{\"prompt\": \"hi\"}", "model parameter",
        "{\"model\": \"" + MODEL + "\"}", "'prompt'",
        "{\"model\": \"" + MODEL + "\", \"prompt\": \"hi\", \"max_tokens\": \"ten\"}", "'max_tokens'",
        "{\"model\": \"" + MODEL + "\", \"prompt\": \"hi\", \"temperature\": 7}", "'temperature'",
        "{\"model\": \"" + MODEL + "\", \"prompt\": \"hi\"} {\"again\": 1}", "could not parse the JSON",
        "{\"model\": \"" + MODEL + "\", \"prompt\": \"hi\", \"stream\": \"yes\"}", "'stream'",
        "{\"model\": \"" + MODEL + "\", \"prompt\": \"hi\", \"stream_options\": {\"include_usage\": true}}",
        "only allowed when 'stream' is true");
    for (var b : bodies.entrySet()) {
      var resp = post("/completions", b.getKey());
      assertThat(resp.statusCode()).as(b.getKey()).isEqualTo(400);
      assertThat(error(resp.body()).path("message").asText()).as(b.getKey()).contains(b.getValue());
      assertThat(error(resp.body()).has("type")).isTrue();
      assertThat(error(resp.body()).has("param")).isTrue();
      assertThat(error(resp.body()).has("code")).isTrue();
    }
    var chat = post("/chat/completions", "{\"model\": \"" + MODEL + "\", \"messages\": [{\"role\": \"wizard\", "
        + "\"content\": \"hi\"}]}");
    assertThat(chat.statusCode()).isEqualTo(400);
    assertThat(error(chat.body()).path("param").asText()).isEqualTo("messages[0].role");
    assertThat(post("/chat/completions", "{\"model\": \"" + MODEL + "\"}").body()).contains("'messages'");
    var big = postTooLarge("/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": \"" + "a".repeat(70_000)
        + "\"}");
    assertThat(big.statusCode()).isEqualTo(413);
    assertThat(error(big.body()).path("code").asText()).isEqualTo("request_too_large");
    var get = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/completions")).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(get.statusCode()).isEqualTo(405);
    assertThat(error(get.body()).path("message").asText()).contains("use POST");
    var unknown = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/embeddings")).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(unknown.statusCode()).isEqualTo(404);
    // refused by Pekko HTTP before any route (a URI too long, a header too large): OpenAI's error shape too
    var longUri = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/models?q=" + "q".repeat(10_000))).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(longUri.statusCode()).isEqualTo(414);
    assertThat(error(longUri.body()).path("type").asText()).isEqualTo("invalid_request_error");
    var bigHeader = HTTP.send(HttpRequest.newBuilder(URI.create(base + "/models")).header("X-Big", "h".repeat(20_000))
        .GET().build(), HttpResponse.BodyHandlers.ofString());
    assertThat(bigHeader.statusCode()).isEqualTo(431);
    assertThat(error(bigHeader.body()).path("message").asText()).isNotBlank();
    router.expectNoMessage(Duration.ofMillis(200)); // none of them reached the router
  }

  @Test
  void theModelListNamesTheServedModel() {
    var models = client().models().list();
    assertThat(models.data()).hasSize(1);
    assertThat(models.data().get(0).id()).isEqualTo(MODEL);
    assertThat(client().models().retrieve(MODEL).id()).isEqualTo(MODEL);
    assertThatThrownBy(() -> client().models().retrieve("other")).isInstanceOf(NotFoundException.class);
  }

  @Test
  void withApiKeysConfiguredOnlyTheirHoldersGetIn() {
    assertThatThrownBy(() -> client(keyedBase, "wrong").models().list()).isInstanceOf(UnauthorizedException.class)
        .satisfies(e -> assertThat(((UnauthorizedException) e).code()).contains("invalid_api_key"));
    assertThat(client(keyedBase, "k2").models().list().data()).hasSize(1);
    assertThat(client(keyedBase, "k1").models().list().data()).hasSize(1);
  }

  @Test
  void aClientThatGoesAwayMidStreamCancelsItsRequestAtTheRouter() throws Exception {
    var req = HttpRequest.newBuilder(URI.create(base + "/completions")).POST(HttpRequest.BodyPublishers.ofString(
        "{\"model\": \"" + MODEL + "\", \"prompt\": \"tell me a long story\", \"max_tokens\": 2000, "
            + "\"stream\": true}")).build();
    var resp = HTTP.sendAsync(req, HttpResponse.BodyHandlers.ofInputStream());
    Router.Request r = nextRequest();
    r.streamTo().orElseThrow().tell(new InstanceManager.Token(r.id(), "h~MS-1", 0, "Once"));
    InputStream in = resp.get(10, TimeUnit.SECONDS).body();
    byte[] first = new byte[40];
    assertThat(in.read(first)).isPositive();
    assertThat(new String(first, StandardCharsets.UTF_8)).startsWith("data: ");
    in.close(); // the client hangs up; the engine goes on generating until the front door notices, at a write
    Router.Cancel c = null;
    for (int k = 1; k < 200 && c == null; k++) {
      r.streamTo().orElseThrow().tell(new InstanceManager.Token(r.id(), "h~MS-1", k, " upon"));
      try {
        c = (Router.Cancel) router.receiveMessage(Duration.ofMillis(50));
      } catch (AssertionError nothingYet) {
        // not noticed yet
      }
    }
    assertThat(c).as("a cancel reached the router").isNotNull();
    assertThat(c.id()).isEqualTo(r.id());
    r.replyTo().tell(failed(r, Router.Outcome.CANCELLED, "cancelled by the client"));
  }

  @Test
  void tokensOfASecondInstanceAfterAFirstEndTheStreamWithAnErrorEvent() throws Exception {
    var req = HttpRequest.newBuilder(URI.create(base + "/completions")).POST(HttpRequest.BodyPublishers.ofString(
        "{\"model\": \"" + MODEL + "\", \"prompt\": \"hi\", \"max_tokens\": 20, \"stream\": true}")).build();
    var resp = HTTP.sendAsync(req, HttpResponse.BodyHandlers.ofString());
    Router.Request r = nextRequest();
    var to = r.streamTo().orElseThrow();
    to.tell(new InstanceManager.Token(r.id(), "a", 0, "One"));
    to.tell(new InstanceManager.Token(r.id(), "b", 0, "Two"));
    String body = resp.get(10, TimeUnit.SECONDS).body();
    assertThat(body).contains("\"One\"").doesNotContain("\"Two\"").contains("\"code\":\"instance_lost\"")
        .endsWith("data: [DONE]\n\n");
    assertThat(router.expectMessageClass(Router.Cancel.class, Duration.ofSeconds(5)).id()).isEqualTo(r.id());
    // a failure after the first token: the stream (already 200) ends with an error event
    var resp2 = HTTP.sendAsync(req, HttpResponse.BodyHandlers.ofString());
    Router.Request r2 = nextRequest();
    r2.streamTo().orElseThrow().tell(new InstanceManager.Token(r2.id(), "a", 0, "One"));
    Thread.sleep(200);
    r2.replyTo().tell(failed(r2, Router.Outcome.FAILED, "engine stopped (after its first tokens)"));
    var got = resp2.get(10, TimeUnit.SECONDS);
    assertThat(got.statusCode()).isEqualTo(200);
    List<JsonNode> events = new ArrayList<>();
    for (String line : got.body().split("\n")) {
      if (line.startsWith("data: {")) {
        events.add(JSON.readTree(line.substring(6)));
      }
    }
    assertThat(events.get(events.size() - 1).path("error").path("message").asText()).contains("engine stopped");
  }

  /** dynamollm's extension of OpenAI's usage object. */
  static JsonNode dynamollm(Map<String, JsonValue> usageExtras) {
    assertThat(usageExtras).containsKey("dynamollm");
    return usageExtras.get("dynamollm").convert(JsonNode.class);
  }

  private static HttpResponse<String> post(String path, String body) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(base + path)).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  /**
   * A body over the limit: the server answers 413 and closes without reading the rest, so a client still sending may
   * see the connection close before the answer (a race of the transport, not of the server's answer): try again.
   */
  private static HttpResponse<String> postTooLarge(String path, String body) throws Exception {
    java.io.IOException last = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      try {
        return post(path, body);
      } catch (java.io.IOException e) {
        last = e;
      }
    }
    throw last;
  }

  private static JsonNode error(String body) throws Exception {
    JsonNode n = JSON.readTree(body);
    assertThat(n.has("error")).as(body).isTrue();
    return n.get("error");
  }
}
