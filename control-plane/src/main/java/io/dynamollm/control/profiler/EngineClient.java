package io.dynamollm.control.profiler;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;

/**
 * Talks to the OpenAI-compatible engine being profiled: streamed completions whose prompts are token ids (exactly as
 * long as asked, and random, so no prefix cache serves them) and {@code ignore_eos} (exactly as many tokens out as
 * asked), each token's arrival time recorded as its server-sent event comes in; and the engine's {@code /metrics}.
 */
final class EngineClient {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final HttpClient http;
  private final URI base;
  private final String model;
  private final Random random;

  EngineClient(HttpClient http, URI base, String model, long seed) {
    this.http = http;
    this.base = base;
    this.model = model;
    this.random = new Random(seed);
  }

  /**
   * A streamed completion as the client saw it.
   *
   * @param sentNanos when the request was sent
   * @param tokenNanos when each output event arrived
   * @param error why it failed (the engine's status and message), empty when it did not
   */
  record Stream(long sentNanos, List<Long> tokenNanos, Optional<String> error) {
    double ttftMs() {
      return (tokenNanos.get(0) - sentNanos) / 1e6;
    }
  }

  /** The model the engine serves: the first of {@code /v1/models}, empty when it does not list any. */
  static Optional<String> servedModel(HttpClient http, URI base) {
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/v1/models"))
          .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        return Optional.empty();
      }
      JsonNode data = JSON.readTree(r.body()).path("data");
      return data.isArray() && data.size() > 0 && data.get(0).path("id").isTextual()
          ? Optional.of(data.get(0).path("id").asText()) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  /** Sends a streamed completion of a random prompt of {@code promptTokens} token ids and {@code outputTokens} out. */
  CompletableFuture<Stream> stream(int promptTokens, int outputTokens) {
    ObjectNode body = body(promptTokens, outputTokens);
    body.put("stream", true);
    String text = body.toString();
    HttpRequest request = post(text);
    Events events = new Events();
    long sent = System.nanoTime();
    return http.sendAsync(request, r -> r.statusCode() == 200
            ? HttpResponse.BodySubscribers.fromLineSubscriber(events, s -> "", java.nio.charset.StandardCharsets.UTF_8, null)
            : HttpResponse.BodySubscribers.ofString(java.nio.charset.StandardCharsets.UTF_8))
        .thenApply(r -> {
          if (r.statusCode() != 200) {
            return new Stream(sent, List.of(), Optional.of(r.statusCode() + " " + r.body()));
          }
          synchronized (events) {
            if (events.error != null) {
              return new Stream(sent, List.copyOf(events.times), Optional.of(events.error));
            }
            if (events.times.isEmpty()) {
              return new Stream(sent, List.of(), Optional.of("the stream ended without a token"));
            }
            return new Stream(sent, List.copyOf(events.times), Optional.empty());
          }
        })
        .exceptionally(e -> new Stream(sent, List.of(), Optional.of(String.valueOf(e.getMessage()))));
  }

  /**
   * Sends a whole (not streamed) completion, as {@link #stream}: nothing to read until it ends, so a batch of them
   * leaves the client (and the engine's HTTP server) idle while the engine decodes. Its one "token" time is when the
   * answer arrived.
   */
  CompletableFuture<Stream> complete(int promptTokens, int outputTokens) {
    HttpRequest request = post(body(promptTokens, outputTokens).toString());
    long sent = System.nanoTime();
    return http.sendAsync(request, HttpResponse.BodyHandlers.ofString())
        .thenApply(r -> r.statusCode() == 200
            ? new Stream(sent, List.of(System.nanoTime()), Optional.empty())
            : new Stream(sent, List.of(), Optional.of(r.statusCode() + " " + r.body())))
        .exceptionally(e -> new Stream(sent, List.of(), Optional.of(String.valueOf(e.getMessage()))));
  }

  private HttpRequest post(String body) {
    return HttpRequest.newBuilder(base.resolve("/v1/completions"))
        .timeout(Duration.ofMinutes(10))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build();
  }

  private ObjectNode body(int promptTokens, int outputTokens) {
    ObjectNode body = JSON.createObjectNode();
    body.put("model", model);
    ArrayNode prompt = body.putArray("prompt");
    synchronized (random) {
      for (int i = 0; i < promptTokens; i++) {
        prompt.add(100 + random.nextInt(30_000));
      }
    }
    body.put("max_tokens", outputTokens);
    body.put("ignore_eos", true);
    body.put("temperature", 0);
    return body;
  }

  /** Records when each {@code data:} event carrying output arrives. */
  private static final class Events implements Flow.Subscriber<String> {
    final List<Long> times = new ArrayList<>();
    String error;

    @Override
    public void onSubscribe(Flow.Subscription s) {
      s.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(String line) {
      long now = System.nanoTime();
      if (!line.startsWith("data:")) {
        return;
      }
      String data = line.substring(5).strip();
      if (data.equals("[DONE]")) {
        return;
      }
      if (!data.contains("\"error\"") && data.contains("\"finish_reason\":null")) {
        synchronized (this) {
          times.add(now); // a token (the common case, read without parsing: a batch of streams is many events)
        }
        return;
      }
      try {
        JsonNode event = JSON.readTree(data);
        synchronized (this) {
          if (event.has("error")) {
            error = event.get("error").path("message").asText(event.get("error").toString());
          } else if (event.path("choices").size() > 0) {
            JsonNode c = event.path("choices").get(0);
            // one event per token; the last carries only the finish reason
            if (c.path("finish_reason").isNull() || c.path("finish_reason").isMissingNode()
                || !c.path("text").asText("").isEmpty() || times.isEmpty()) {
              times.add(now);
            }
          }
        }
      } catch (IOException e) {
        synchronized (this) {
          error = "not JSON in the stream: " + data;
        }
      }
    }

    @Override
    public void onError(Throwable t) {
      synchronized (this) {
        error = String.valueOf(t.getMessage());
      }
    }

    @Override
    public void onComplete() {}
  }

  /**
   * What the engine's counters say at one moment.
   *
   * @param nanoTime when they were read (the middle of the scrape)
   * @param running requests in the decode batch ({@code vllm:num_requests_running})
   * @param waiting requests waiting for their prefill ({@code vllm:num_requests_waiting})
   * @param generated output tokens since the engine started ({@code vllm:generation_tokens_total})
   * @param prompted prompt tokens prefilled since the engine started ({@code vllm:prompt_tokens_total}); NaN when the
   *     engine does not say
   * @param samples the whole scrape (an exporter of the same endpoint reads its GPUs from it)
   */
  record State(long nanoTime, double running, double waiting, double generated, double prompted,
      List<MetricsText.Sample> samples) {}

  /** The engine's counters now. */
  State state() throws IOException {
    long before = System.nanoTime();
    List<MetricsText.Sample> samples = metrics();
    long after = System.nanoTime();
    double running = 0;
    double waiting = 0;
    double generated = Double.NaN;
    double prompted = Double.NaN;
    for (MetricsText.Sample s : samples) {
      switch (s.name()) {
        case "vllm:num_requests_running" -> running += s.value();
        case "vllm:num_requests_waiting" -> waiting += s.value();
        case "vllm:generation_tokens_total" -> generated = (Double.isNaN(generated) ? 0 : generated) + s.value();
        case "vllm:prompt_tokens_total" -> prompted = (Double.isNaN(prompted) ? 0 : prompted) + s.value();
        default -> { }
      }
    }
    return new State(before + (after - before) / 2, running, waiting, generated, prompted, samples);
  }

  /** The URL of the engine's metrics. */
  URI metricsUri() {
    return base.resolve("/metrics");
  }

  /** The engine's {@code /metrics}, parsed. */
  List<MetricsText.Sample> metrics() throws IOException {
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/metrics"))
          .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        throw new IOException(base.resolve("/metrics") + " answered " + r.statusCode());
      }
      return MetricsText.parse(r.body());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }
}
