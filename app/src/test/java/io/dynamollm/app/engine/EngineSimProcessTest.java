package io.dynamollm.app.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.instance.engine.Engine;
import io.dynamollm.instance.engine.HttpEngine;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The process path: HttpEngine starts {@code dynamollm engine-sim} as its own JVM, serves through it, stops it. */
class EngineSimProcessTest {
  @TempDir Path dir;

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void httpEngineDrivesAnEngineSimProcess() throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> command = List.of(java, "-cp", System.getProperty("java.class.path"),
        "io.dynamollm.app.cli.DynamoLlmCli", "engine-sim", "--port", "{port}", "--tp", "{tp}", "--gpus", "{gpus}",
        "--speedup", "20", "--startup-s", "5");
    Path log = dir.resolve("engine.log");
    var engine = new HttpEngine(new HttpEngine.Settings(command, "llama2-70b", false, Duration.ofSeconds(60), log, 20),
        freePort(), 4, List.of(0, 1, 2, 3));
    try {
      engine.start().toCompletableFuture().get(60, TimeUnit.SECONDS);
      assertThat(engine.healthy()).isTrue();
      List<CompletableFuture<Engine.Completion>> all = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        all.add(engine.submit(new Engine.EngineRequest(i, 500, 30)).toCompletableFuture());
      }
      for (var f : all) {
        Engine.Completion c = f.get(30, TimeUnit.SECONDS);
        assertThat(c.outputTokens()).isEqualTo(30);
        assertThat(c.ttftMs()).isPositive();
        assertThat(c.tbtMs()).isPositive();
      }
      long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
      while (engine.load().completed() < 20 && System.nanoTime() < deadline) {
        Thread.sleep(100);
      }
      assertThat(engine.load().completed()).isEqualTo(20); // read from the process's /metrics
      // polled every 500 ms: the online refinement times intervals between polls by this
      assertThat(engine.loadAgeMs()).isBetween(0.0, 2_000.0);
      engine.drain().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } finally {
      engine.close();
    }
    // SIGTERM: engine-sim drains and exits with 0
    assertThat(engine.exitCode()).hasValue(0);
    assertThat(Files.readString(log)).contains("engine-sim serving on").contains("engine-sim stopped");
  }
}
