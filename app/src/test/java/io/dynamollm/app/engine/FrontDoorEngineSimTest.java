package io.dynamollm.app.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.live.LiveSettings;
import io.dynamollm.control.node.Node;
import io.dynamollm.control.node.NodeSettings;
import io.dynamollm.instance.engine.Engine;
import io.dynamollm.instance.engine.HttpEngine;
import io.dynamollm.instance.engine.ModelClock;
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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The front door over server processes: instances run {@code dynamollm engine-sim} as their own JVMs under
 * {@link HttpEngine}, which passes each client's call through unchanged (streaming switched on) and streams the
 * server's tokens back as they come; a cancelled request closes its connection and the server stops it.
 */
class FrontDoorEngineSimTest {
  private static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  private static final String MODEL = "meta-llama/Llama-2-70b-chat-hf";

  @TempDir Path dir;

  private static List<String> engineSim(String... more) {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> c = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
        "io.dynamollm.app.cli.DynamoLlmCli", "engine-sim", "--port", "{port}", "--tp", "{tp}", "--gpus", "{gpus}"));
    c.addAll(List.of(more));
    return c;
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void httpEnginePassesACallThroughStreamsItsTokensAndCancelsIt() throws Exception {
    var engine = new HttpEngine(new HttpEngine.Settings(engineSim("--speedup", "1", "--startup-s", "1"), MODEL, true,
        Duration.ofSeconds(60), dir.resolve("engine.log"), 1), freePort(), 2, List.of(0, 1));
    try {
      engine.start().toCompletableFuture().get(60, TimeUnit.SECONDS);
      String body = "{\"model\": \"" + MODEL + "\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], "
          + "\"max_tokens\": 12, \"temperature\": 0}";
      var call = new Engine.OpenAiCall(Engine.OpenAiCall.CHAT, body, 1, List.of(), false);
      List<String> pieces = new ArrayList<>();
      Engine.Completion c = engine.submit(new Engine.EngineRequest(1, 10, 12, Optional.of(call)),
          (i, t) -> pieces.add(t)).toCompletableFuture().get(30, TimeUnit.SECONDS);
      assertThat(pieces).isNotEmpty();
      assertThat(String.join("", pieces)).isEqualTo(c.text());
      assertThat(c.outputTokens()).isEqualTo(pieces.size()); // from the server's usage event
      assertThat(c.ttftMs()).isPositive();
      // a long answer, cancelled after its first tokens: the connection closes and the server drops it
      var longCall = new Engine.OpenAiCall(Engine.OpenAiCall.COMPLETIONS, "{\"model\": \"" + MODEL
          + "\", \"prompt\": \"go\", \"max_tokens\": 3000, \"ignore_eos\": true}", 2, List.of(), true);
      CountDownLatch first = new CountDownLatch(3);
      var f = engine.submit(new Engine.EngineRequest(2, 1, 3000, Optional.of(longCall)), (i, t) -> first.countDown())
          .toCompletableFuture();
      assertThat(first.await(20, TimeUnit.SECONDS)).isTrue();
      assertThat(engine.cancel(2)).isTrue();
      assertThatThrownBy(() -> f.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(Engine.Cancelled.class);
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while ((engine.load().running() > 0 || engine.load().completed() < 1) && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      assertThat(engine.load().running()).as("the server stopped generating for it").isZero();
    } finally {
      engine.close();
    }
  }

  @Test
  void theFrontDoorServesThroughEngineSimProcesses() throws Exception {
    Config root = ConfigFactory.parseString("""
        pekko.loglevel = WARNING
        dynamollm.gpu.backend = simulated
        dynamollm.live.speedup = 20
        dynamollm.engine.kind = process
        # a JVM per engine takes seconds of wall time to serve, minutes of model time at 20x: requests wait for it
        dynamollm.decisions.routing.hold-timeout = 30m
        """).withValue("dynamollm.engine.command", ConfigValueFactory.fromIterable(
            engineSim("--speedup", "20", "--startup-s", "60")))
        .withValue("dynamollm.engine.log-dir", ConfigValueFactory.fromAnyRef(dir.resolve("engines").toString()))
        .withFallback(ConfigFiles.load(Optional.empty()));
    LiveSettings live = LiveSettings.fromConfig(root);
    NodeSettings s = NodeSettings.fromConfig(root, Map.of()).withPort(0).withAdminPort(0).withOpsPort(0).withAdminToken("t")
        .withRoles(Set.of("control", "gpu-host")).withDataDir(dir.resolve("node"));
    Node node = Node.start(s, root, PROFILE, PROFILE.defaultSlos(5), live, new ModelClock(live.speedup()));
    try {
      String base = "http://127.0.0.1:" + node.frontDoorAddress().orElseThrow().getPort() + "/v1";
      OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(base).apiKey("none").maxRetries(0)
          .timeout(Duration.ofSeconds(90)).build();
      // the first request waits (held by the router) until the engine process serves, then is answered
      Completion c = client.completions().create(CompletionCreateParams.builder().model(MODEL)
          .prompt("Explain tensor parallelism in one sentence.").maxTokens(20).build());
      assertThat(c.choices().get(0).text()).isNotBlank();
      JsonNode d = c.usage().orElseThrow()._additionalProperties().get("dynamollm").convert(JsonNode.class);
      assertThat(d.path("instance").asText()).contains("~");
      assertThat(d.path("ttft_ms").asDouble()).isPositive();
      var params = ChatCompletionCreateParams.builder().model(MODEL).addUserMessage("Stream me something.")
          .maxCompletionTokens(15).streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build())
          .build();
      StringBuilder text = new StringBuilder();
      long usage;
      try (StreamResponse<ChatCompletionChunk> st = client.chat().completions().createStreaming(params)) {
        List<ChatCompletionChunk> all = st.stream().toList();
        all.forEach(ch -> ch.choices().forEach(x -> x.delta().content().ifPresent(text::append)));
        usage = all.get(all.size() - 1).usage().orElseThrow().completionTokens();
      }
      assertThat(text.toString()).isNotBlank();
      assertThat(usage).isBetween(1L, 15L);
      var models = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(base + "/models")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertThat(models.body()).contains(MODEL);
    } finally {
      node.stop(Duration.ofSeconds(30));
    }
  }
}
