package io.dynamollm.control.live;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dynamollm.control.frontdoor.Tokenizer;
import io.dynamollm.sim.TraceRequest;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Sends replayed requests to a front door as OpenAI completions over HTTP (the load generator's
 * {@code --through-http}): each prompt is made of words that are one token each in the bundled encoding (which never
 * merges tokens across spaces), so it counts exactly the trace's prompt tokens there; {@code max_tokens} and vLLM's
 * {@code ignore_eos} make the engine generate exactly the trace's output.
 */
public final class FrontDoorClient {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] CANDIDATES = ("the of and to in is that for it as was with be by on not he this are "
      + "or his from at which but have an they you were her she there been one all we their has would when if so no "
      + "will more can out up other into could time only new some these two may first then do any like my now over "
      + "such our man me even most made after also did many before must through back years where much your way well "
      + "down should because each just those people how too little state good very make world still own see men "
      + "work long get here between both life being under never day same another know while last might us great old "
      + "year off come since against go came right used take three").split(" ");

  /** Hears how a request fared: its HTTP status (0: no answer), and whether it was within its SLO. */
  public interface Outcome {
    void done(int status, boolean metSlo);
  }

  private final URI completions;
  private final String model;
  private final List<String> words = new ArrayList<>();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();

  private final java.util.Optional<String> apiKey;
  private final java.util.concurrent.atomic.AtomicLong failures = new java.util.concurrent.atomic.AtomicLong();

  /**
   * @param baseUrl the front door's {@code /v1} URL
   * @param apiKey sent as the bearer key when the front door needs one
   */
  public FrontDoorClient(String baseUrl, String model, java.util.Optional<String> apiKey) {
    this.completions = URI.create(baseUrl + "/completions");
    this.apiKey = apiKey;
    this.model = Objects.requireNonNull(model, "model");
    Tokenizer bundled = Tokenizer.bundled("cl100k_base");
    for (String w : CANDIDATES) {
      if (bundled.count(" " + w) == 1) {
        words.add(" " + w);
      }
    }
  }

  /** A prompt of exactly {@code tokens} tokens in the bundled encoding. */
  String prompt(long id, int tokens) {
    StringBuilder b = new StringBuilder(tokens * 6);
    for (int k = 0; k < tokens; k++) {
      b.append(words.get((int) ((id * 31 + k * 7L) % words.size())));
    }
    return b.toString();
  }

  public void send(TraceRequest r, Outcome outcome) {
    ObjectNode body = JSON.createObjectNode();
    body.put("model", model);
    body.put("prompt", prompt(r.id(), r.promptTokens()));
    body.put("max_tokens", Math.max(1, r.outputTokens()));
    body.put("ignore_eos", true);
    body.put("temperature", 0);
    HttpRequest.Builder req = HttpRequest.newBuilder(completions).header("Content-Type", "application/json")
        .timeout(Duration.ofMinutes(15)).POST(HttpRequest.BodyPublishers.ofString(body.toString()));
    apiKey.ifPresent(k -> req.header("Authorization", "Bearer " + k));
    http.sendAsync(req.build(), HttpResponse.BodyHandlers.ofString()).whenComplete((resp, err) -> {
      if (err != null || resp.statusCode() != 200) {
        if (err == null && failures.incrementAndGet() <= 3) {
          org.slf4j.LoggerFactory.getLogger(FrontDoorClient.class).warn("front door answered {}: {}",
              resp.statusCode(), resp.body());
        }
        outcome.done(err != null ? 0 : resp.statusCode(), false);
        return;
      }
      try {
        JsonNode n = JSON.readTree(resp.body());
        outcome.done(200, n.path("usage").path("dynamollm").path("slo_met").asBoolean(false));
      } catch (IOException e) {
        outcome.done(0, false);
      }
    });
  }
}
