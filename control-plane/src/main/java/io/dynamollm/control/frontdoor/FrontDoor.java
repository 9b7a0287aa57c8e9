package io.dynamollm.control.frontdoor;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dynamollm.control.http.BoundedBody;
import io.dynamollm.control.http.JsonParsingErrors;
import io.dynamollm.control.live.Router;
import io.dynamollm.decision.routing.RequestClassifier;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.instance.engine.Engine;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.stream.Materializer;

/**
 * The OpenAI-compatible front door of a control node: {@code POST /v1/completions}, {@code POST /v1/chat/completions}
 * (whole or streamed as server-sent events), {@code GET /v1/models}. Each request is validated ({@link ApiRequest}),
 * its prompt counted by the served model's tokenizer, checked against the context, and handed to the node's router
 * (which predicts its output class — {@code max_tokens} a feature —, classifies it and routes it by the shared routing
 * policy) through one {@link Exchange}. Errors are OpenAI's shape; docs/front-door.md lists each status and why.
 */
public final class FrontDoor extends AllDirectives {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** SLO headers, ours and llm-d's: the request's own TTFT and TPOT objectives, in milliseconds. */
  static final List<String> TTFT_HEADERS = List.of("x-slo-ttft-ms", "x-llm-d-slo-ttft-ms");
  static final List<String> TPOT_HEADERS = List.of("x-slo-tpot-ms", "x-llm-d-slo-tpot-ms");

  /** A request body must arrive within this. */

  private final ActorSystem<?> system;
  private final ActorRef<Router.Command> router;
  private final FrontDoorSettings settings;
  private final Tokenizer tokenizer;
  private final RequestClassifier classifier;
  private final ChatTemplate template;
  private final Materializer materializer;
  private final List<byte[]> keys = new ArrayList<>();
  /** Request ids: a high bit and a random node prefix keep them apart from replayed ids and other front doors'. */
  private final long idBase = (1L << 62) | ((new SecureRandom().nextLong() & 0xFFFFFL) << 40);
  private final AtomicLong ids = new AtomicLong();
  private final java.util.function.DoubleConsumer overhead;

  /**
   * @param thresholds the classes and maximum context the router classifies by (its {@link RequestClassifier}
   *     answers which prompts are too long)
   */
  public FrontDoor(ActorSystem<?> system, ActorRef<Router.Command> router, FrontDoorSettings settings,
      Tokenizer tokenizer, ClassThresholds thresholds) {
    this(system, router, settings, tokenizer, thresholds, seconds -> {});
  }

  /**
   * As above, telling {@code overhead} the seconds each accepted request spent in the front door between its body
   * arriving and its hand-over to the router (parsing, the chat template, tokenizing, checks) — metrics.
   */
  public FrontDoor(ActorSystem<?> system, ActorRef<Router.Command> router, FrontDoorSettings settings,
      Tokenizer tokenizer, ClassThresholds thresholds, java.util.function.DoubleConsumer overhead) {
    this.overhead = overhead;
    this.classifier = new RequestClassifier(thresholds);
    this.system = system;
    this.router = router;
    this.settings = settings;
    this.tokenizer = tokenizer;
    this.template = ChatTemplate.named(settings.chatTemplate());
    this.materializer = Materializer.matFromSystem(system);
    settings.apiKeys().forEach(k -> keys.add(k.getBytes(StandardCharsets.UTF_8)));
  }

  /** Binds the front door on its interface and port. */
  public CompletionStage<ServerBinding> bind() {
    return Http.get(system).newServerAt(settings.interfaceName(), settings.port())
        .withSettings(JsonParsingErrors.serverSettings(system, ParsingErrors.class)).bind(route());
  }

  /** The front door's answer to requests refused before routing (414, 431, 501, a malformed request): OpenAI JSON. */
  public static final class ParsingErrors extends JsonParsingErrors {
    @Override
    protected byte[] json(int status, String message) {
      return new ApiError(status, message, status >= 500 ? "server_error" : "invalid_request_error", null, null)
          .json().toString().getBytes(StandardCharsets.UTF_8);
    }
  }

  public Route route() {
    return handleExceptions(org.apache.pekko.http.javadsl.server.ExceptionHandler.newBuilder()
        .match(RuntimeException.class, e -> {
          system.log().error("front door: {}", e.toString(), e);
          return error(new ApiError(500, "internal error: " + e.getMessage(), "server_error", null, null));
        }).build(), () -> extractRequest(req -> {
          String path = req.getUri().path();
          return switch (path) {
            case "/v1/models" -> only(req, "GET", () -> authorized(req, this::models));
            case "/v1/completions" -> only(req, "POST", () -> authorized(req, () -> call(req,
                Engine.OpenAiCall.COMPLETIONS)));
            case "/v1/chat/completions" -> only(req, "POST", () -> authorized(req, () -> call(req,
                Engine.OpenAiCall.CHAT)));
            default -> path.startsWith("/v1/models/")
                ? only(req, "GET", () -> authorized(req, () -> model(java.net.URLDecoder.decode(
                    path.substring("/v1/models/".length()).replace("+", "%2B"), StandardCharsets.UTF_8))))
                : error(new ApiError(404, "Unknown endpoint " + path + ": the front door serves POST /v1/completions,"
                    + " POST /v1/chat/completions and GET /v1/models", "invalid_request_error", null,
                    "unknown_url"));
          };
        }));
  }

  // ------------------------------------------------------------------------------------------------ routes

  private Route only(HttpRequest req, String method, java.util.function.Supplier<Route> inner) {
    if (!req.method().name().equals(method)) {
      return complete(HttpResponse.create().withStatus(405).addHeader(RawHeader.create("Allow", method))
          .withEntity(ContentTypes.APPLICATION_JSON, new ApiError(405, req.method().name() + " is not supported on "
              + req.getUri().path() + "; use " + method, "invalid_request_error", null, "method_not_allowed").json()
              .toString()));
    }
    return inner.get();
  }

  private Route authorized(HttpRequest req, java.util.function.Supplier<Route> inner) {
    if (keys.isEmpty()) {
      return inner.get();
    }
    Optional<String> auth = req.getHeader("Authorization").map(HttpHeader::value);
    if (auth.isEmpty() || !auth.get().regionMatches(true, 0, "Bearer ", 0, 7)) {
      return error(new ApiError(401, "You didn't provide an API key: send Authorization: Bearer <key>",
          "invalid_request_error", null, "missing_api_key"));
    }
    byte[] given = auth.get().substring(7).trim().getBytes(StandardCharsets.UTF_8);
    for (byte[] k : keys) {
      if (MessageDigest.isEqual(k, given)) {
        return inner.get();
      }
    }
    return error(new ApiError(401, "Incorrect API key provided", "invalid_request_error", null, "invalid_api_key"));
  }

  private Route models() {
    ObjectNode list = JSON.createObjectNode();
    list.put("object", "list");
    list.putArray("data").add(modelJson());
    return complete(HttpResponse.create().withStatus(200).withEntity(ContentTypes.APPLICATION_JSON, list.toString()));
  }

  private Route model(String id) {
    if (!id.equals(settings.model())) {
      return error(modelNotFound(id));
    }
    return complete(HttpResponse.create().withStatus(200).withEntity(ContentTypes.APPLICATION_JSON,
        modelJson().toString()));
  }

  private ObjectNode modelJson() {
    ObjectNode m = JSON.createObjectNode();
    m.put("id", settings.model());
    m.put("object", "model");
    m.put("created", 0);
    m.put("owned_by", "dynamollm");
    m.put("max_model_len", classifier.thresholds().maxContextTokens());
    return m;
  }

  private ApiError modelNotFound(String id) {
    return new ApiError(404, "The model '" + id + "' does not exist; this front door serves '" + settings.model()
        + "' (GET /v1/models)", "invalid_request_error", "model", "model_not_found");
  }

  /** A completion or chat completion: read the body (bounded), validate, count, check, hand to an exchange. */
  private Route call(HttpRequest req, String endpoint) {
    return onSuccess(BoundedBody.read(req.entity(), settings.maxBodyBytes(), BoundedBody.TIMEOUT, materializer),
        outcome -> {
          if (outcome instanceof BoundedBody.TooLarge) {
            return error(new ApiError(413, "The request body is larger than the front door takes ("
                + settings.maxBodyBytes() + " bytes: dynamollm.front-door.max-body)", "invalid_request_error", null,
                "request_too_large"));
          }
          if (outcome instanceof BoundedBody.TimedOut) {
            return error(new ApiError(408, "The request body did not arrive within " + BoundedBody.TIMEOUT.toSeconds()
                + " s (is its Content-Length larger than the body?)", "invalid_request_error", null, "timeout"));
          }
          if (outcome instanceof BoundedBody.Unreadable u) {
            return error(ApiError.invalid(null, "the request body could not be read: " + u.why()));
          }
          long bodyAt = System.nanoTime();
          String body = ((BoundedBody.Read) outcome).text();
          ApiRequest.Parsed parsed = ApiRequest.parse(endpoint, body, template);
          if (parsed instanceof ApiRequest.Bad bad) {
            return error(bad.error());
          }
          ApiRequest r = ((ApiRequest.Ok) parsed).request();
          if (!r.model().equals(settings.model())) {
            return error(modelNotFound(r.model()));
          }
          Optional<Router.SloOverride> slo;
          try {
            slo = sloHeaders(req);
          } catch (IllegalArgumentException e) {
            return error(ApiError.invalid(null, e.getMessage()));
          }
          int prompt = r.promptTokenIds() > 0 ? r.promptTokenIds() : tokenizer.count(r.prompt());
          int limit = classifier.thresholds().maxContextTokens();
          Optional<String> refused = classifier.refusal(prompt, r.maxTokens().orElse(0));
          if (refused.isPresent()) {
            String field = r.messages().isEmpty() ? "prompt" : "messages";
            return error(new ApiError(400, "The request does not fit the model: " + refused.get()
                + "; shorten the " + field + " or max_tokens", "invalid_request_error", field,
                "context_length_exceeded"));
          }
          int cap = r.maxTokens().orElse(limit - prompt);
          long id = idBase | ids.incrementAndGet();
          var job = new Exchange.Job(id, r, Math.max(1, prompt), Math.max(1, cap), slo,
              Long.toString(Math.max(1, settings.retryAfter().toSeconds())));
          CompletableFuture<HttpResponse> response = new CompletableFuture<>();
          overhead.accept((System.nanoTime() - bodyAt) / 1e9);
          system.systemActorOf(Exchange.create(job, router, response, materializer), "front-door-" + id,
              Props.empty());
          return withRequestTimeout(settings.requestTimeout(), () -> completeWithFuture(response));
        });
  }

  /** The request's own SLO from its headers (ours or llm-d's); a value that is not a positive number is refused. */
  static Optional<Router.SloOverride> sloHeaders(HttpRequest req) {
    OptionalDouble ttft = header(req, TTFT_HEADERS);
    OptionalDouble tpot = header(req, TPOT_HEADERS);
    return ttft.isEmpty() && tpot.isEmpty() ? Optional.empty() : Optional.of(new Router.SloOverride(ttft, tpot));
  }

  private static OptionalDouble header(HttpRequest req, List<String> names) {
    for (String n : names) {
      Optional<HttpHeader> h = req.getHeader(n);
      if (h.isPresent()) {
        String v = h.get().value().trim();
        double d;
        try {
          d = Double.parseDouble(v);
        } catch (NumberFormatException e) {
          d = Double.NaN;
        }
        if (!(d > 0) || Double.isInfinite(d) || d > 86_400_000) {
          throw new IllegalArgumentException("header " + n + " must be a positive number of milliseconds (at most a"
              + " day), got '" + v + "'");
        }
        return OptionalDouble.of(d);
      }
    }
    return OptionalDouble.empty();
  }

  private Route error(ApiError e) {
    HttpResponse r = HttpResponse.create().withStatus(e.status())
        .withEntity(ContentTypes.APPLICATION_JSON, e.json().toString());
    return complete(r);
  }
}
