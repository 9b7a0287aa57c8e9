package io.dynamollm.instance.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * HttpEngine against a stand-in OpenAI-compatible server (this test's HTTP server) and a stand-in process: health
 * check, streamed latencies, vLLM metrics, drain. The end-to-end path with a real process is tested with engine-sim
 * in the control plane's tests.
 */
class HttpEngineTest {

  @Test
  void readsVllmMetrics() {
    String text = """
        # HELP vllm:num_requests_running Number of requests currently running on GPU.
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{model_name="llama"} 3.0
        vllm:num_requests_waiting{model_name="llama"} 7.0
        vllm:generation_tokens_total{model_name="llama"} 1234.0
        vllm:request_success_total{finished_reason="length",model_name="llama"} 10.0
        vllm:request_success_total{finished_reason="stop",model_name="llama"} 5.0
        vllm:something_else 99
        """;
    assertThat(HttpEngine.parseMetrics(text)).isEqualTo(new Engine.EngineLoad(3, 7, 1234, 15));
  }

  @Test
  void fillsTheCommandTemplate() {
    var e = new HttpEngine(new HttpEngine.Settings(List.of("vllm", "serve", "{model}", "--port", "{port}",
        "--tensor-parallel-size", "{tp}", "--note={gpus}"), "meta-llama/Llama-2-70b-hf", true, Duration.ofSeconds(5),
        null, 1), 8123, 4, List.of(4, 5, 6, 7));
    assertThat(e.command()).containsExactly("vllm", "serve", "meta-llama/Llama-2-70b-hf", "--port", "8123",
        "--tensor-parallel-size", "4", "--note=4,5,6,7");
    assertThatThrownBy(() -> new HttpEngine(new HttpEngine.Settings(List.of("x"), "m", true, Duration.ofSeconds(1),
        null, 1), 1, 4, List.of(0, 1))).hasMessageContaining("TP4 needs 4 GPUs");
  }

  @Test
  void measuresStreamedLatenciesAndDrains() throws Exception {
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
    server.createContext("/health", x -> {
      x.sendResponseHeaders(200, -1);
      x.close();
    });
    server.createContext("/metrics", x -> {
      byte[] b = "vllm:num_requests_running 1\nvllm:num_requests_waiting 0\n".getBytes(StandardCharsets.UTF_8);
      x.sendResponseHeaders(200, b.length);
      x.getResponseBody().write(b);
      x.close();
    });
    server.createContext("/v1/completions", x -> {
      String body = new String(x.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(body).contains("\"max_tokens\":5").contains("\"ignore_eos\":true").contains("\"stream\":true");
      x.getResponseHeaders().add("Content-Type", "text/event-stream");
      x.sendResponseHeaders(200, 0);
      try (OutputStream out = x.getResponseBody()) {
        sleep(100); // time to first token
        for (int i = 0; i < 5; i++) {
          out.write(("data: {\"choices\":[{\"text\":\" t\"}]}\n\n").getBytes(StandardCharsets.UTF_8));
          out.flush();
          sleep(20);
        }
        out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
      }
    });
    server.start();
    int port = server.getAddress().getPort();
    // the "engine process" is a stand-in that just stays alive; the test's server answers for it
    var engine = new HttpEngine(new HttpEngine.Settings(List.of("sleep", "60"), "m", true, Duration.ofSeconds(10),
        null, 1), port, 2, List.of(0, 1));
    try {
      engine.start().toCompletableFuture().get(10, TimeUnit.SECONDS);
      assertThat(engine.healthy()).isTrue();
      var c = engine.submit(new Engine.EngineRequest(1, 50, 5)).toCompletableFuture().get(10, TimeUnit.SECONDS);
      assertThat(c.outputTokens()).isEqualTo(5);
      assertThat(c.ttftMs()).isBetween(90.0, 1000.0);
      assertThat(c.tbtMs()).isBetween(10.0, 200.0);
      long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
      while (engine.load().running() != 1 && System.nanoTime() < deadline) {
        sleep(50);
      }
      assertThat(engine.load().running()).isEqualTo(1);
      engine.drain().toCompletableFuture().get(5, TimeUnit.SECONDS);
      assertThatThrownBy(() -> engine.submit(new Engine.EngineRequest(2, 5, 5)).toCompletableFuture().get())
          .hasCauseInstanceOf(Engine.EngineUnavailable.class).hasMessageContaining("draining");
    } finally {
      engine.close();
      server.stop(0);
    }
    assertThat(engine.exitCode()).isPresent(); // the process was stopped
  }

  @Test
  void aProcessThatDiesBeforeServingFailsTheStartWithItsExitCode() {
    var engine = new HttpEngine(new HttpEngine.Settings(List.of("sh", "-c", "exit 3"), "m", false,
        Duration.ofSeconds(10), null, 1), 1, 2, List.of(0, 1));
    assertThatThrownBy(() -> engine.start().toCompletableFuture().get(10, TimeUnit.SECONDS))
        .hasCauseInstanceOf(Engine.EngineUnavailable.class).hasMessageContaining("exited with 3");
    engine.close();
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
