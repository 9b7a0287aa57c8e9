package io.dynamollm.instance.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
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
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An OpenAI-compatible inference server such as vLLM as an {@link Engine}: started from a command template on the
 * instance's GPUs ({@code CUDA_VISIBLE_DEVICES} set to them), health-checked on {@code /health} until it serves, its
 * load read from {@code /metrics} (vLLM's {@code vllm:num_requests_running}, {@code vllm:num_requests_waiting},
 * {@code vllm:generation_tokens_total}, {@code vllm:request_success_total}) every second in the background, requests
 * sent to {@code /v1/completions} with {@code max_tokens} and {@code ignore_eos} so that a replayed request generates
 * its recorded length. TTFT and TBT come from streaming (first and last token of the server-sent events) or, when the
 * server reports them itself (dynamollm's {@code engine-sim} adds a {@code "dynamollm"} object), from the response.
 * Drained before stop: no new requests, then the process is stopped once those in flight finished.
 */
public final class HttpEngine implements Engine {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * @param command the command, each argument a template: {@code {port}}, {@code {tp}}, {@code {gpus}} (the indices,
   *     comma-separated), {@code {model}} are replaced
   * @param model the model name sent with each request
   * @param streaming whether to ask for server-sent events (to measure TTFT at the client); off for engine-sim
   * @param startTimeout how long the server may take to answer 200 on /health
   * @param log where the server's output goes
   * @param speedup latencies measured at the client are multiplied by this (model time), as the server runs faster
   */
  public record Settings(List<String> command, String model, boolean streaming, Duration startTimeout, Path log,
      double speedup) {
    public Settings {
      command = List.copyOf(command);
      if (command.isEmpty()) {
        throw new IllegalArgumentException("the engine command must not be empty");
      }
      Objects.requireNonNull(model, "model");
    }
  }

  private final Settings settings;
  private final int port;
  private final int tp;
  private final List<Integer> gpuIndices;
  private final List<? extends io.dynamollm.gpu.GpuDevice> devices;
  private final TokenEnergyLedger energy = new TokenEnergyLedger();
  /** Streams being read, by request id (cancelling one closes its connection: the server sees the client go). */
  private final Map<Long, EventReader> open = new java.util.concurrent.ConcurrentHashMap<>();
  private long lastEnergyMj = -1;
  private long lastServerTokens = -1;
  /** HTTP/1.1 as vLLM speaks it (no h2c upgrade attempt on every request). */
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();
  private final ScheduledExecutorService poller = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "http-engine-poller");
    t.setDaemon(true);
    return t;
  });
  private final AtomicReference<EngineLoad> load = new AtomicReference<>(new EngineLoad(0, 0, 0, 0));
  /** When {@link #load} was last read from the server ({@link System#nanoTime}); -1: never. */
  private volatile long polledAtNanos = -1;
  private final AtomicInteger inFlight = new AtomicInteger();
  private final CompletableFuture<Void> started = new CompletableFuture<>();
  private final CompletableFuture<Void> drained = new CompletableFuture<>();
  private volatile boolean serving;
  private volatile boolean draining;
  private volatile boolean healthy;
  private Process process;

  public HttpEngine(Settings settings, int port, int tp, List<Integer> gpuIndices) {
    this(settings, port, tp, gpuIndices, List.of());
  }

  /**
   * @param devices the instance's GPUs, whose energy counter is apportioned to requests ({@link TokenEnergyLedger});
   *     empty: energy per request unknown
   */
  public HttpEngine(Settings settings, int port, int tp, List<Integer> gpuIndices,
      List<? extends io.dynamollm.gpu.GpuDevice> devices) {
    this.settings = settings;
    this.port = port;
    this.tp = tp;
    this.gpuIndices = List.copyOf(gpuIndices);
    this.devices = List.copyOf(devices);
    if (gpuIndices.size() != tp) {
      throw new IllegalArgumentException("TP" + tp + " needs " + tp + " GPUs, got " + gpuIndices);
    }
  }

  /** The command with its placeholders filled in. */
  List<String> command() {
    String gpus = String.join(",", gpuIndices.stream().map(String::valueOf).toList());
    List<String> out = new ArrayList<>();
    for (String a : settings.command()) {
      out.add(a.replace("{port}", Integer.toString(port)).replace("{tp}", Integer.toString(tp))
          .replace("{gpus}", gpus).replace("{model}", settings.model()));
    }
    return out;
  }

  private URI uri(String path) {
    return URI.create("http://127.0.0.1:" + port + path);
  }

  @Override
  public synchronized CompletionStage<Void> start() {
    if (process != null) {
      return started;
    }
    ProcessBuilder pb = new ProcessBuilder(command());
    Map<String, String> env = pb.environment();
    env.put("CUDA_VISIBLE_DEVICES", String.join(",", gpuIndices.stream().map(String::valueOf).toList()));
    pb.redirectErrorStream(true);
    pb.redirectOutput(settings.log() == null ? ProcessBuilder.Redirect.DISCARD
        : ProcessBuilder.Redirect.appendTo(settings.log().toFile()));
    try {
      process = pb.start();
    } catch (IOException e) {
      started.completeExceptionally(new EngineUnavailable("cannot start " + command().get(0) + ": " + e.getMessage()));
      return started;
    }
    long deadline = System.nanoTime() + settings.startTimeout().toNanos();
    poller.scheduleWithFixedDelay(() -> {
      if (!started.isDone()) {
        if (!process.isAlive()) {
          started.completeExceptionally(new EngineUnavailable("the engine exited with " + process.exitValue()
              + " before it served" + (settings.log() == null ? "" : "; see " + settings.log())));
          return;
        }
        if (System.nanoTime() > deadline) {
          started.completeExceptionally(new EngineUnavailable("the engine did not answer 200 on /health within "
              + settings.startTimeout().toSeconds() + " s"));
          process.destroy();
          return;
        }
        if (get("/health").map(r -> r.statusCode() == 200).orElse(false)) {
          serving = true;
          healthy = true;
          started.complete(null);
        }
        return;
      }
      pollMetrics();
    }, 0, 500, TimeUnit.MILLISECONDS);
    return started;
  }

  private java.util.Optional<HttpResponse<String>> get(String path) {
    try {
      return java.util.Optional.of(http.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(2)).GET().build(),
          HttpResponse.BodyHandlers.ofString()));
    } catch (IOException e) {
      return java.util.Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return java.util.Optional.empty();
    }
  }

  private void pollMetrics() {
    var r = get("/metrics");
    healthy = r.map(x -> x.statusCode() == 200).orElse(false) && process.isAlive();
    r.filter(x -> x.statusCode() == 200).ifPresent(x -> {
      load.set(parseMetrics(x.body()));
      polledAtNanos = System.nanoTime();
      apportion(serverTokens(x.body()));
    });
  }

  /** The GPUs' energy since the last poll, charged to the requests by their tokens meanwhile. */
  private void apportion(long serverTokens) {
    if (devices.isEmpty()) {
      return;
    }
    long mj = 0;
    try {
      for (var d : devices) {
        mj += d.totalEnergyMj();
      }
    } catch (io.dynamollm.gpu.GpuException e) {
      return; // this interval stays unapportioned
    }
    if (lastEnergyMj >= 0 && lastServerTokens >= 0 && mj >= lastEnergyMj) {
      energy.interval((mj - lastEnergyMj) / 1000.0, serverTokens - lastServerTokens);
    }
    lastEnergyMj = mj;
    lastServerTokens = serverTokens;
  }

  /** Prompt and output tokens the server processed since it started ({@code vllm:prompt_tokens_total} + generation). */
  static long serverTokens(String text) {
    double sum = 0;
    for (String line : text.split("\n")) {
      if (line.startsWith("vllm:prompt_tokens_total") || line.startsWith("vllm:generation_tokens_total")) {
        try {
          sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1).trim());
        } catch (NumberFormatException e) {
          // not a sample
        }
      }
    }
    return (long) sum;
  }

  /** Reads vLLM's gauges and counters from Prometheus text (labels ignored, series summed). */
  static EngineLoad parseMetrics(String text) {
    double running = 0;
    double waiting = 0;
    double tokens = 0;
    double done = 0;
    for (String line : text.split("\n")) {
      if (line.startsWith("#") || line.isBlank()) {
        continue;
      }
      int sp = line.lastIndexOf(' ');
      if (sp < 0) {
        continue;
      }
      String name = line.substring(0, sp);
      int brace = name.indexOf('{');
      if (brace >= 0) {
        name = name.substring(0, brace);
      }
      double v;
      try {
        v = Double.parseDouble(line.substring(sp + 1).trim());
      } catch (NumberFormatException e) {
        continue;
      }
      switch (name.trim()) {
        case "vllm:num_requests_running" -> running += v;
        case "vllm:num_requests_waiting" -> waiting += v;
        case "vllm:generation_tokens_total" -> tokens += v;
        case "vllm:request_success_total" -> done += v;
        default -> { }
      }
    }
    return new EngineLoad((int) running, (int) waiting, (long) tokens, (long) done);
  }

  @Override
  public CompletionStage<Completion> submit(EngineRequest request) {
    return submit(request, null);
  }

  /**
   * An API call goes to the server as the client sent it, to its own endpoint, with streaming switched on (so that
   * the front door sees each token as it comes and the time to the first one) and usage asked for; each event's text
   * goes to {@code tokens}. A replayed request is sent as {@code prompt} token ids with {@code max_tokens} and
   * {@code ignore_eos}.
   */
  @Override
  public CompletionStage<Completion> submit(EngineRequest request, TokenSink tokens) {
    if (!serving || draining) {
      return CompletableFuture.failedFuture(new EngineUnavailable(draining ? "engine is draining" : "engine is not serving"));
    }
    ObjectNode body;
    String endpoint;
    boolean stream;
    if (request.call().isPresent()) {
      OpenAiCall call = request.call().get();
      try {
        body = (ObjectNode) JSON.readTree(call.body());
      } catch (IOException | ClassCastException e) {
        return CompletableFuture.failedFuture(new IllegalArgumentException("the call's body is not a JSON object"));
      }
      body.put("stream", true);
      body.putObject("stream_options").put("include_usage", true);
      endpoint = call.endpoint();
      stream = true;
    } else {
      body = JSON.createObjectNode();
      body.put("model", settings.model());
      ArrayNode prompt = body.putArray("prompt");
      for (int i = 0; i < request.promptTokens(); i++) {
        prompt.add(1);
      }
      body.put("max_tokens", request.outputTokens());
      body.put("ignore_eos", true);
      body.put("stream", settings.streaming());
      endpoint = OpenAiCall.COMPLETIONS;
      stream = settings.streaming();
    }
    HttpRequest req = HttpRequest.newBuilder(uri("/v1/" + endpoint)).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
    inFlight.incrementAndGet();
    energy.open(request.id());
    long t0 = System.nanoTime();
    CompletableFuture<Completion> result;
    if (stream) {
      // events are read as they arrive, on the client's own threads: no thread waits on a stream
      EventReader reader = new EventReader(request, t0, tokens);
      open.put(request.id(), reader);
      http.sendAsync(req, reader).whenComplete((r, e) -> {
        if (e != null) {
          reader.fail(e instanceof java.util.concurrent.CompletionException && e.getCause() != null ? e.getCause() : e);
        }
      });
      result = reader.result;
    } else {
      result = http.sendAsync(req, HttpResponse.BodyHandlers.ofString()).thenApply(r -> {
        if (r.statusCode() != 200) {
          throw new EngineUnavailable("engine answered " + r.statusCode() + ": " + r.body());
        }
        energy.tokens(request.id(), request.promptTokens() + request.outputTokens());
        return fromBody(request, r.body(), (System.nanoTime() - t0) / 1e6 * settings.speedup());
      });
    }
    return result.whenComplete((c, e) -> {
      open.remove(request.id());
      energy.close(request.id());
      if (inFlight.decrementAndGet() == 0 && draining) {
        drained.complete(null);
      }
    });
  }

  @Override
  public boolean cancel(long requestId) {
    EventReader reader = open.remove(requestId);
    if (reader == null) {
      return false;
    }
    reader.cancel(); // the connection closes: the server stops generating for it (vLLM aborts the request)
    return true;
  }

  private Completion fromBody(EngineRequest request, String body, double totalMs) {
    try {
      JsonNode n = JSON.readTree(body);
      int out = n.path("usage").path("completion_tokens").asInt(request.outputTokens());
      JsonNode ext = n.get("dynamollm");
      double joules = energy.close(request.id());
      String text = n.path("choices").path(0).path("text").asText("");
      String finish = n.path("choices").path(0).path("finish_reason").asText("length");
      if (ext != null) {
        return new Completion(request.id(), ext.path("ttft_ms").asDouble(), ext.path("tbt_ms").asDouble(), out, text,
            finish, joules);
      }
      // without streaming a client sees only the total: count it all as time to first token
      return new Completion(request.id(), totalMs, 0, out, text, finish, joules);
    } catch (IOException e) {
      throw new EngineUnavailable("the engine's answer is not JSON: " + e.getMessage());
    }
  }

  /**
   * Server-sent events, read line by line as they arrive: TTFT at the first event with output, TBT over the rest,
   * until [DONE]; each event's text to {@code tokens}; the token count from the usage event when the server sends one.
   * A status other than 200 fails the request with the server's body; so does an error event. {@link #cancel()}
   * closes the connection and answers {@link Cancelled}.
   */
  private final class EventReader implements HttpResponse.BodyHandler<Void>, java.util.concurrent.Flow.Subscriber<String> {
    final CompletableFuture<Completion> result = new CompletableFuture<>();
    private final EngineRequest request;
    private final long t0;
    private final TokenSink tokens;
    private final StringBuilder text = new StringBuilder();
    private volatile java.util.concurrent.Flow.Subscription subscription;
    private volatile boolean cancelled;
    private double first = -1;
    private double last = -1;
    private int events;
    private int usageTokens = -1;
    private String finish = "length";
    private boolean done;

    EventReader(EngineRequest request, long t0, TokenSink tokens) {
      this.request = request;
      this.t0 = t0;
      this.tokens = tokens;
    }

    @Override
    public HttpResponse.BodySubscriber<Void> apply(HttpResponse.ResponseInfo info) {
      if (info.statusCode() != 200) {
        return HttpResponse.BodySubscribers.mapping(HttpResponse.BodySubscribers.ofString(StandardCharsets.UTF_8),
            body -> {
              String why = body.length() > 2000 ? body.substring(0, 2000) : body;
              fail(new EngineUnavailable("engine answered " + info.statusCode() + (why.isBlank() ? "" : ": " + why)));
              return null;
            });
      }
      return HttpResponse.BodySubscribers.fromLineSubscriber(this);
    }

    @Override
    public void onSubscribe(java.util.concurrent.Flow.Subscription s) {
      subscription = s;
      if (cancelled) {
        s.cancel();
      } else {
        s.request(Long.MAX_VALUE);
      }
    }

    @Override
    public void onNext(String line) {
      if (result.isDone() || done || !line.startsWith("data:")) {
        return;
      }
      try {
        event(line.substring(5).trim());
      } catch (IOException | RuntimeException e) {
        subscription.cancel();
        fail(e instanceof EngineUnavailable ? e : new EngineUnavailable("the engine's stream is not OpenAI's: "
            + e.getMessage()));
      }
    }

    private void event(String data) throws IOException {
      if (data.equals("[DONE]")) {
        done = true; // the rest of the body (its last chunk) is read, so that the connection can be used again
        return;
      }
      String piece = "";
      boolean output = true;
      if (request.call().isPresent()) {
        JsonNode ev = JSON.readTree(data);
        if (ev.hasNonNull("error")) {
          throw new EngineUnavailable("the engine's stream ended with an error: "
              + ev.path("error").path("message").asText(ev.get("error").toString()));
        }
        if (ev.path("usage").has("completion_tokens")) {
          usageTokens = ev.path("usage").path("completion_tokens").asInt();
        }
        JsonNode choice = ev.path("choices").path(0);
        output = !choice.isMissingNode();
        piece = choice.has("text") ? choice.path("text").asText("") : choice.path("delta").path("content").asText("");
        if (choice.hasNonNull("finish_reason")) {
          finish = choice.get("finish_reason").asText();
          output = output && !piece.isEmpty(); // a finish without text is no token
        }
      }
      if (!output) {
        return; // the usage event, an empty finish
      }
      double t = (System.nanoTime() - t0) / 1e6 * settings.speedup();
      if (first < 0) {
        first = t;
        energy.tokens(request.id(), request.promptTokens());
      }
      last = t;
      energy.tokens(request.id(), 1);
      if (tokens != null) {
        tokens.token(events, piece);
      }
      text.append(piece);
      events++;
    }

    @Override
    public void onError(Throwable e) {
      fail(cancelled ? new Cancelled("request " + request.id() + " cancelled")
          : new EngineUnavailable("the engine's stream broke: " + e.getMessage()));
    }

    @Override
    public void onComplete() {
      if (first < 0) {
        fail(new EngineUnavailable("the engine's stream carried no tokens"));
      } else {
        int out = usageTokens > 0 ? usageTokens : Math.max(events, 1);
        double tbt = out > 1 ? (last - first) / (out - 1) : 0;
        result.complete(new Completion(request.id(), first, tbt, out, text.toString(), finish,
            energy.close(request.id())));
      }
    }

    void cancel() {
      cancelled = true;
      var s = subscription;
      if (s != null) {
        s.cancel();
      }
      result.completeExceptionally(new Cancelled("request " + request.id() + " cancelled"));
    }

    void fail(Throwable e) {
      result.completeExceptionally(cancelled ? new Cancelled("request " + request.id() + " cancelled") : e);
    }
  }

  @Override
  public CompletionStage<Void> drain() {
    draining = true;
    if (inFlight.get() == 0) {
      drained.complete(null);
    }
    return drained;
  }

  @Override
  public double loadAgeMs() {
    long at = polledAtNanos;
    return at < 0 ? Double.NaN : (System.nanoTime() - at) / 1e6;
  }

  @Override
  public EngineLoad load() {
    return load.get();
  }

  @Override
  public boolean healthy() {
    return healthy;
  }

  @Override
  public synchronized void close() {
    serving = false;
    healthy = false;
    poller.shutdownNow();
    started.completeExceptionally(new EngineUnavailable("engine stopped"));
    if (process != null && process.isAlive()) {
      process.destroy(); // SIGTERM: the server drains what it still has
      try {
        if (!process.waitFor(15, TimeUnit.SECONDS)) {
          process.destroyForcibly();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        process.destroyForcibly();
      }
    }
  }

  /** The server process's exit code, once it has exited. */
  public java.util.OptionalInt exitCode() {
    return process != null && !process.isAlive() ? java.util.OptionalInt.of(process.exitValue())
        : java.util.OptionalInt.empty();
  }
}
