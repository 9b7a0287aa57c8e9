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
import io.dynamollm.control.frontdoor.ApiError;
import io.dynamollm.control.frontdoor.ApiRequest;
import io.dynamollm.control.frontdoor.ChatTemplate;
import io.dynamollm.control.frontdoor.OpenAiWire;
import io.dynamollm.control.frontdoor.Tokenizer;
import java.net.InetSocketAddress;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
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
 * The simulated engine as its own process, speaking the OpenAI HTTP API like vLLM's server:
 * {@code POST /v1/completions} and {@code /v1/chat/completions} (validated as the front door does; prompt as text,
 * counted with the bundled tokenizer, or as token ids; the answer is {@link io.dynamollm.instance.engine.SyntheticText}'s,
 * up to {@code max_tokens}, exactly that many with vLLM's {@code ignore_eos}; {@code stream: true} as server-sent
 * events at the engine's pace, a client that goes away cancelling its request), {@code GET /health} (200 once serving,
 * 503 while loading), {@code GET /metrics} (Prometheus text with vLLM's names), and {@code /dynamollm/gpu-clocks}
 * (its simulated GPUs' locked clock: what NVML is to a real host, for {@code profile build --sweep-clocks}). A whole completion carries an extra
 * {@code "dynamollm"} object with its TTFT and TBT in the engine's time, which a client cannot measure without
 * streaming.
 */
public final class EngineSimServer extends AllDirectives implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final ActorSystem<Void> system;
  private final SimulatedEngine engine;
  private final List<SimulatedGpuDevice> gpus;
  private final ServerBinding binding;
  private final AtomicLong ids = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final int maxContext;
  private final Profile profile;
  private final TensorParallelism tp;
  private final List<Integer> gpuLabels;
  private final Tokenizer tokenizer = Tokenizer.bundled("cl100k_base");
  private final Materializer materializer;

  /**
   * Starts serving on {@code port} (0: a free one); the engine loads for {@code startupMs} of model time first. Its
   * simulated GPUs are numbered 0 to TP - 1 in {@code /metrics}.
   */
  public EngineSimServer(Profile profile, TensorParallelism tp, String interfaceName, int port, double speedup,
      double startupMs, int maxContext) throws Exception {
    this(profile, tp, interfaceName, port, speedup, startupMs, maxContext, List.of());
  }

  /**
   * As above, its simulated GPUs numbered {@code gpuLabels} in {@code /metrics} (the indices the engine was given,
   * {@code --gpus}); empty: 0 to TP - 1.
   */
  public EngineSimServer(Profile profile, TensorParallelism tp, String interfaceName, int port, double speedup,
      double startupMs, int maxContext, List<Integer> gpuLabels) throws Exception {
    if (!gpuLabels.isEmpty() && gpuLabels.size() != tp.degree()) {
      throw new IllegalArgumentException(tp + " needs " + tp.degree() + " GPU indices, got " + gpuLabels);
    }
    this.maxContext = maxContext;
    this.profile = profile;
    this.tp = tp;
    this.gpuLabels = gpuLabels.isEmpty()
        ? java.util.stream.IntStream.range(0, tp.degree()).boxed().toList() : List.copyOf(gpuLabels);
    ModelClock clock = new ModelClock(speedup);
    this.gpus = SimulatedGpuDevice.host("engine-sim-" + port, tp.degree(), profile, clock::nanoTime);
    this.engine = new SimulatedEngine(profile, tp, gpus, () -> gpus.get(0).appliedClockMhz(), clock, startupMs);
    this.system = ActorSystem.create(Behaviors.empty(), "engine-sim", ConfigFactory.parseString("""
        pekko.loglevel = WARNING
        pekko.actor.provider = local
        pekko.http.server.request-timeout = 600s
        pekko.http.server.idle-timeout = 660s
        # tokens are small chunks: out at once, not after the client's delayed acknowledgement (Nagle)
        pekko.http.server.socket-options.tcp-no-delay = on
        # every streamed answer holds a connection (Pekko HTTP's default, 1,024, leaves the next client unread)
        pekko.http.server.max-connections = 16384
        """).withFallback(ConfigFactory.load()));
    engine.start();
    this.materializer = Materializer.matFromSystem(system);
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
        path(PathMatchers.segment("dynamollm").slash("gpu-clocks"), () -> concat(
            put(() -> entity(Unmarshaller.entityToString(), this::lockClocks)),
            delete(() -> {
              gpus.forEach(SimulatedGpuDevice::resetLockedGpuClocks);
              return clocks();
            }),
            get(this::clocks))),
        pathPrefix("v1", () -> concat(
            path("completions", () -> post(() ->
                entity(Unmarshaller.entityToString(), b -> completion(Engine.OpenAiCall.COMPLETIONS, b)))),
            path(PathMatchers.segment("chat").slash("completions"), () -> post(() ->
                entity(Unmarshaller.entityToString(), b -> completion(Engine.OpenAiCall.CHAT, b)))))),
        extractUnmatchedPath(p -> error(new ApiError(404, "no such endpoint: " + p, "invalid_request_error", null,
            null))));
  }

  private Route completion(String endpoint, String body) {
    ApiRequest.Parsed parsed = ApiRequest.parse(endpoint, body, ChatTemplate.LLAMA_2);
    if (parsed instanceof ApiRequest.Bad bad) {
      return error(bad.error());
    }
    ApiRequest r = ((ApiRequest.Ok) parsed).request();
    int tokens = r.promptTokenIds() > 0 ? r.promptTokenIds() : tokenizer.count(r.prompt());
    int asked = r.maxTokens().orElse(1);
    if (tokens < 1) {
      return error(badPrompt("the prompt is empty", "prompt"));
    }
    if (tokens + asked > maxContext) {
      return error(new ApiError(400, String.format(Locale.ROOT,
          "This model's maximum context length is %d tokens; the prompt (%d) plus max_tokens (%d) exceed it",
          maxContext, tokens, asked), "invalid_request_error", "prompt", "context_length_exceeded"));
    }
    int cap = r.maxTokens().orElse(maxContext - tokens);
    long id = ids.incrementAndGet();
    var request = new Engine.EngineRequest(id, tokens, cap, Optional.of(r.call(id)));
    var answer = OpenAiWire.Answer.of(id, endpoint.equals(Engine.OpenAiCall.CHAT), r.model());
    if (r.stream()) {
      return stream(request, r, answer);
    }
    CompletionStage<Engine.Completion> done = engine.submit(request);
    return onComplete(done, t -> {
      if (t.isFailure()) {
        failed.incrementAndGet();
        return error(new ApiError(503, "engine unavailable: " + t.failed().get().getMessage(), "server_error", null,
            null));
      }
      Engine.Completion c = t.get();
      ObjectNode whole = answer.whole(c.text(), c.finishReason(), OpenAiWire.usage(tokens, c.outputTokens()));
      ObjectNode ext = whole.putObject("dynamollm");
      ext.put("ttft_ms", c.ttftMs());
      ext.put("tbt_ms", c.tbtMs());
      return complete(HttpResponse.create().withStatus(200).withEntity(ContentTypes.APPLICATION_JSON,
          whole.toString()));
    });
  }

  /** Server-sent events, one per token at the engine's pace; a client that goes away cancels its request. */
  private Route stream(Engine.EngineRequest request, ApiRequest r, OpenAiWire.Answer answer) {
    AtomicBoolean finished = new AtomicBoolean();
    Pair<BoundedSourceQueue<ByteString>, Source<ByteString, NotUsed>> q = Source.<ByteString>queue(
            Math.min(request.outputTokens(), 8192) + 16)
        .watchTermination((mat, end) -> {
          end.whenComplete((ok, err) -> {
            if (!finished.get()) {
              engine.cancel(request.id());
            }
          });
          return mat;
        })
        .preMaterialize(materializer);
    BoundedSourceQueue<ByteString> out = q.first();
    engine.submit(request, (index, text) -> out.offer(OpenAiWire.event(answer.chunk(text, index == 0, null,
        r.includeUsage())))).whenComplete((c, err) -> {
          finished.set(true);
          if (c != null) {
            out.offer(OpenAiWire.event(answer.chunk("", false, c.finishReason(), r.includeUsage())));
            if (r.includeUsage()) {
              out.offer(OpenAiWire.event(answer.usageChunk(OpenAiWire.usage(request.promptTokens(),
                  c.outputTokens()))));
            }
          } else {
            failed.incrementAndGet();
            out.offer(OpenAiWire.event(new ApiError(503, "engine unavailable: " + err.getMessage(), "server_error",
                null, null).json()));
          }
          out.offer(OpenAiWire.DONE);
          out.complete();
        });
    return complete(HttpResponse.create().withStatus(200)
        .withEntity(HttpEntities.createChunked(ContentTypes.create(MediaTypes.TEXT_EVENT_STREAM), q.second())));
  }

  /**
   * {@code PUT /dynamollm/gpu-clocks {"locked_mhz": N}}: locks the simulated GPUs' SM clock, as NVML's locked clocks
   * do a real GPU's (what {@code profile build --sweep-clocks --clock-control engine} drives); {@code DELETE} gives
   * them their own clocks back.
   */
  private Route lockClocks(String body) {
    int mhz;
    try {
      com.fasterxml.jackson.databind.JsonNode n = JSON.readTree(body);
      com.fasterxml.jackson.databind.JsonNode v = n == null ? null : n.get("locked_mhz");
      if (v == null || !v.canConvertToInt() || !v.isIntegralNumber()) {
        return error(new ApiError(422, "expected {\"locked_mhz\": a whole number of MHz}", "invalid_request_error",
            "locked_mhz", null));
      }
      mhz = v.intValue();
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      return error(new ApiError(400, "not valid JSON: " + e.getOriginalMessage(), "invalid_request_error", null,
          null));
    }
    List<Integer> clocks = gpus.get(0).supportedGraphicsClocksMhz();
    int lowest = clocks.get(clocks.size() - 1);
    int highest = clocks.get(0);
    if (mhz < lowest || mhz > highest) {
      return error(new ApiError(422, "locked_mhz must be within the GPUs' " + lowest + "–" + highest + " MHz, got "
          + mhz, "invalid_request_error", "locked_mhz", null));
    }
    gpus.forEach(g -> g.setLockedGpuClocks(mhz, mhz));
    return clocks();
  }

  private Route clocks() {
    ObjectNode o = JSON.createObjectNode();
    gpus.get(0).lockedRangeMhz().ifPresentOrElse(r -> o.put("locked_mhz", r[1]), () -> o.putNull("locked_mhz"));
    o.put("sm_mhz", gpus.get(0).smClockMhz());
    return complete(HttpResponse.create().withStatus(200).withEntity(ContentTypes.APPLICATION_JSON, o.toString()));
  }

  private static ApiError badPrompt(String message, String param) {
    return new ApiError(400, message, "invalid_request_error", param, null);
  }

  /** Tokens in one KV-cache block (vLLM's default block_size). */
  static final int KV_BLOCK_TOKENS = 16;

  /**
   * Prometheus text with vLLM's metric names (its cache configuration as {@code vllm:cache_config_info}), and the
   * simulated GPUs as NVIDIA's DCGM exporter shows real ones: power (W), the energy counter (mJ, engine time) and the
   * SM clock (MHz), one series per GPU labelled {@code gpu} and {@code UUID}.
   */
  String metrics() {
    Engine.EngineLoad l = engine.load();
    StringBuilder out = new StringBuilder(1024);
    out.append("# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running ").append(l.running()).append('\n')
        .append("# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting ").append(l.waiting()).append('\n')
        .append("# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total ")
        .append(l.generatedTokens()).append('\n')
        .append("# TYPE vllm:prompt_tokens_total counter\nvllm:prompt_tokens_total ").append(engine.prefilledTokens())
        .append('\n')
        .append("# TYPE vllm:request_success_total counter\nvllm:request_success_total ").append(l.completed())
        .append('\n')
        .append("# TYPE vllm:cache_config_info gauge\nvllm:cache_config_info{block_size=\"").append(KV_BLOCK_TOKENS)
        .append("\",num_gpu_blocks=\"").append(profile.kvCacheTokens(tp) / KV_BLOCK_TOKENS).append("\"} 1\n");
    double watts = 0;
    StringBuilder power = new StringBuilder("# TYPE DCGM_FI_DEV_POWER_USAGE gauge\n");
    StringBuilder energy = new StringBuilder("# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n");
    StringBuilder clock = new StringBuilder("# TYPE DCGM_FI_DEV_SM_CLOCK gauge\n");
    for (int i = 0; i < gpus.size(); i++) {
      SimulatedGpuDevice g = gpus.get(i);
      String labels = "{gpu=\"" + gpuLabels.get(i) + "\",UUID=\"" + g.uuid() + "\"}";
      double w = g.powerUsageMw() / 1000.0;
      watts += w;
      power.append("DCGM_FI_DEV_POWER_USAGE").append(labels).append(' ')
          .append(String.format(Locale.ROOT, "%.3f", w)).append('\n');
      energy.append("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION").append(labels).append(' ').append(g.totalEnergyMj())
          .append('\n');
      clock.append("DCGM_FI_DEV_SM_CLOCK").append(labels).append(' ').append(g.smClockMhz()).append('\n');
    }
    out.append(power).append(energy).append(clock)
        .append("# TYPE dynamollm:gpu_power_watts gauge\ndynamollm:gpu_power_watts ")
        .append(String.format(Locale.ROOT, "%.1f", watts)).append('\n');
    return out.toString();
  }

  private Route error(ApiError e) {
    return complete(HttpResponse.create().withStatus(e.status()).withEntity(ContentTypes.APPLICATION_JSON,
        e.json().toString()));
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
