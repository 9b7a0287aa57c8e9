package io.dynamollm.control.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.ConfigFactory;
import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.instance.engine.Engine;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.instance.engine.SimulatedEngine;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;

/**
 * The simulated engine as its own process, speaking the subset of the OpenAI HTTP API that dynamollm's
 * {@code HttpEngine} uses, like vLLM's server: {@code POST /v1/completions} (prompt as a string — one token per
 * whitespace-separated word — or as token ids; {@code max_tokens} tokens are generated, as with vLLM's
 * {@code ignore_eos}), {@code GET /health} (200 once serving, 503 while loading), {@code GET /metrics} (Prometheus
 * text with vLLM's names). A completion carries an extra {@code "dynamollm"} object with its TTFT and TBT in the
 * engine's time, which a client cannot measure without streaming (not supported here).
 */
public final class EngineSimServer extends AllDirectives implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final ActorSystem<Void> system;
  private final SimulatedEngine engine;
  private final List<SimulatedGpuDevice> gpus;
  private final ServerBinding binding;
  private final AtomicLong ids = new AtomicLong();
  private final AtomicLong promptTokens = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final int maxContext;

  /**
   * Starts serving on {@code port} (0: a free one); the engine loads for {@code startupMs} of model time first.
   */
  public EngineSimServer(Profile profile, TensorParallelism tp, String interfaceName, int port, double speedup,
      double startupMs, int maxContext) throws Exception {
    this.maxContext = maxContext;
    ModelClock clock = new ModelClock(speedup);
    this.gpus = SimulatedGpuDevice.host("engine-sim-" + port, tp.degree(), profile, clock::nanoTime);
    this.engine = new SimulatedEngine(profile, tp, gpus, () -> gpus.get(0).appliedClockMhz(), clock, startupMs);
    this.system = ActorSystem.create(Behaviors.empty(), "engine-sim", ConfigFactory.parseString("""
        pekko.loglevel = WARNING
        pekko.actor.provider = local
        pekko.http.server.request-timeout = 600s
        pekko.http.server.idle-timeout = 660s
        """).withFallback(ConfigFactory.load()));
    engine.start();
    this.binding = Http.get(system).newServerAt(interfaceName, port).bind(route()).toCompletableFuture()
        .get(30, TimeUnit.SECONDS);
  }

  public InetSocketAddress address() {
    return binding.localAddress();
  }

  Route route() {
    return concat(
        path("health", () -> get(() -> complete(engine.healthy()
            ? HttpResponse.create().withStatus(200)
            : HttpResponse.create().withStatus(503).withEntity("loading")))),
        path("metrics", () -> get(() -> complete(HttpResponse.create().withStatus(200)
            .withEntity(ContentTypes.TEXT_PLAIN_UTF8, metrics())))),
        pathPrefix("v1", () -> path("completions", () -> post(() ->
            entity(Unmarshaller.entityToString(), this::completion)))),
        extractUnmatchedPath(p -> error(404, "no such endpoint: " + p)));
  }

  private Route completion(String body) {
    JsonNode req;
    try {
      req = JSON.readTree(body);
    } catch (Exception e) {
      return error(400, "the body is not valid JSON");
    }
    if (req == null || !req.isObject()) {
      return error(400, "the body must be a JSON object");
    }
    if (req.path("stream").asBoolean(false)) {
      return error(400, "engine-sim does not stream; send \"stream\": false");
    }
    JsonNode prompt = req.get("prompt");
    int tokens;
    if (prompt == null) {
      return error(400, "missing field 'prompt'");
    } else if (prompt.isArray()) {
      tokens = prompt.size();
    } else if (prompt.isTextual()) {
      tokens = prompt.asText().isBlank() ? 0 : prompt.asText().trim().split("\\s+").length;
    } else {
      return error(400, "'prompt' must be a string or an array of token ids");
    }
    JsonNode maxTokens = req.get("max_tokens");
    if (maxTokens == null || !maxTokens.canConvertToInt() || maxTokens.asInt() < 1) {
      return error(400, "'max_tokens' must be a whole number >= 1");
    }
    int out = maxTokens.asInt();
    if (tokens < 1) {
      return error(400, "the prompt is empty");
    }
    if (tokens + out > maxContext) {
      return error(400, String.format(Locale.ROOT,
          "This model's maximum context length is %d tokens; the prompt (%d) plus max_tokens (%d) exceed it",
          maxContext, tokens, out));
    }
    long id = ids.incrementAndGet();
    promptTokens.addAndGet(tokens);
    CompletionStage<Engine.Completion> done = engine.submit(new Engine.EngineRequest(id, tokens, out));
    String model = req.path("model").asText("simulated");
    return onComplete(done, t -> {
      if (t.isFailure()) {
        failed.incrementAndGet();
        return error(503, "engine unavailable: " + t.failed().get().getMessage());
      }
      Engine.Completion c = t.get();
      ObjectNode r = JSON.createObjectNode();
      r.put("id", "cmpl-sim-" + id);
      r.put("object", "text_completion");
      r.put("created", System.currentTimeMillis() / 1000);
      r.put("model", model);
      ArrayNode choices = r.putArray("choices");
      ObjectNode ch = choices.addObject();
      ch.put("index", 0);
      ch.put("text", " tok".repeat(Math.min(out, 64)));
      ch.put("finish_reason", "length");
      ObjectNode usage = r.putObject("usage");
      usage.put("prompt_tokens", tokens);
      usage.put("completion_tokens", out);
      usage.put("total_tokens", tokens + out);
      ObjectNode ext = r.putObject("dynamollm");
      ext.put("ttft_ms", c.ttftMs());
      ext.put("tbt_ms", c.tbtMs());
      return complete(HttpResponse.create().withStatus(200).withEntity(ContentTypes.APPLICATION_JSON, r.toString()));
    });
  }

  /** Prometheus text with vLLM's metric names (and the simulated GPUs' power). */
  String metrics() {
    Engine.EngineLoad l = engine.load();
    double watts = gpus.stream().mapToDouble(g -> g.powerUsageMw() / 1000.0).sum();
    return "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running " + l.running() + "\n"
        + "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting " + l.waiting() + "\n"
        + "# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total " + l.generatedTokens() + "\n"
        + "# TYPE vllm:prompt_tokens_total counter\nvllm:prompt_tokens_total " + promptTokens.get() + "\n"
        + "# TYPE vllm:request_success_total counter\nvllm:request_success_total " + l.completed() + "\n"
        + "# TYPE dynamollm:gpu_power_watts gauge\ndynamollm:gpu_power_watts " + String.format(Locale.ROOT, "%.1f", watts)
        + "\n";
  }

  private Route error(int status, String message) {
    ObjectNode e = JSON.createObjectNode();
    ObjectNode inner = e.putObject("error");
    inner.put("message", message);
    inner.put("type", status >= 500 ? "server_error" : "invalid_request_error");
    inner.put("code", status);
    return complete(HttpResponse.create().withStatus(status).withEntity(ContentTypes.APPLICATION_JSON, e.toString()));
  }

  /** Stops taking requests, lets those in flight finish (up to {@code seconds}), then stops. */
  public void drainAndStop(long seconds) {
    try {
      engine.drain().toCompletableFuture().get(seconds, TimeUnit.SECONDS);
    } catch (Exception e) {
      // stop anyway
    }
    close();
  }

  @Override
  public void close() {
    engine.close();
    binding.unbind();
    system.terminate();
  }

  /** Waits until the server has stopped. */
  public void awaitTermination() throws Exception {
    system.getWhenTerminated().toCompletableFuture().get();
  }
}
