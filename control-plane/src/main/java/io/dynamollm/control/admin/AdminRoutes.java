package io.dynamollm.control.admin;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dynamollm.control.cluster.ClusterLimits;
import io.dynamollm.control.cluster.LimitsStore;
import io.dynamollm.control.cluster.SloStore;
import io.dynamollm.control.http.BoundedBody;
import io.dynamollm.control.http.JsonParsingErrors;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Profile;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.stream.Materializer;

/**
 * The admin API (JSON over HTTP, on control nodes). Reads are open; mutating calls need
 * {@code Authorization: Bearer <token>} (401 without it, 403 with a wrong one). Every error body is
 * {@code {"status": …, "message": "…"}}.
 *
 * <ul>
 *   <li>{@code GET /api/v1/cluster}: members, their roles, status and reachability, the leader;
 *   <li>{@code GET /api/v1/slos}: every type's SLO;
 *   <li>{@code PUT /api/v1/slos/{type}} {@code {"ttft_p99_ms": …, "tbt_p99_ms": …}}: validated
 *       ({@link SloUpdate}), 200 only after a majority of the cluster stored it.
 * </ul>
 */
public final class AdminRoutes extends AllDirectives {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Admin bodies are a few hundred bytes; larger ones are refused with 413. */
  static final int MAX_BODY_BYTES = 64 * 1024;

  private final ActorSystem<?> system;
  private final ActorRef<SloStore.Command> slos;
  private final SloUpdate validator;
  private final ActorRef<LimitsStore.Command> limits;
  private final LimitsUpdate limitsValidator;
  private final byte[] token;
  private final Duration askTimeout;
  private final LiveView view;
  private final PreviewRequest previewValidator;
  private final Materializer materializer;
  private final boolean testEndpoints;
  private final io.dynamollm.control.node.ArteryBlackhole blackhole;

  /**
   * @param token the bearer token mutating calls must present
   * @param askTimeout how long a request waits for the actors before 503
   */
  public AdminRoutes(ActorSystem<?> system, ActorRef<SloStore.Command> slos, ActorRef<LimitsStore.Command> limits,
      Profile profile, String token, Duration askTimeout, LiveView view) {
    this(system, slos, limits, profile, token, askTimeout, view, false);
  }

  /** @param testEndpoints whether the failure tests' {@code PUT /api/v1/test/blackhole} is served */
  public AdminRoutes(ActorSystem<?> system, ActorRef<SloStore.Command> slos, ActorRef<LimitsStore.Command> limits,
      Profile profile, String token, Duration askTimeout, LiveView view, boolean testEndpoints) {
    if (token == null || token.isBlank()) {
      throw new IllegalArgumentException("the admin token must not be empty");
    }
    this.system = system;
    this.slos = slos;
    this.validator = new SloUpdate(profile);
    this.limits = limits;
    this.limitsValidator = new LimitsUpdate(profile);
    this.previewValidator = new PreviewRequest(validator, limitsValidator);
    this.token = token.getBytes(StandardCharsets.UTF_8);
    this.askTimeout = askTimeout;
    this.view = view;
    this.materializer = Materializer.matFromSystem(system);
    this.testEndpoints = testEndpoints;
    this.blackhole = new io.dynamollm.control.node.ArteryBlackhole(system);
  }

  public Route route() {
    return handleExceptions(exceptions(), () -> handleRejections(rejections(), () -> concat(
        path(PathMatchers.segment("api").slash("v1").slash("cluster"), () -> methods(List.of("GET"),
            get(() -> onSuccess(view.hosts(), h -> {
              Map<String, Object> view = clusterView();
              view.put("hosts", h);
              view.put("power_w", Math.round(h.stream().mapToDouble(x -> (double) x.get("power_w")).sum() * 10) / 10.0);
              return json(200, view);
            })))),
        path(PathMatchers.segment("api").slash("v1").slash("slos"), () -> methods(List.of("GET"),
            get(this::getSlos))),
        path(PathMatchers.segment("api").slash("v1").slash("slos").slash(PathMatchers.segment()), type ->
            methods(List.of("PUT"), put(() -> authorized(() -> putSlo(type))))),
        path(PathMatchers.segment("api").slash("v1").slash("limits"), () -> methods(List.of("GET", "PUT"), concat(
            get(this::getLimits),
            put(() -> authorized(this::putLimits))))),
        path(PathMatchers.segment("api").slash("v1").slash("plan").slash("preview"), () -> methods(List.of("POST"),
            post(() -> livePart(this::previewPlan)))),
        path(PathMatchers.segment("api").slash("v1").slash("pools"), () -> methods(List.of("GET"),
            get(() -> livePart(() -> onSuccess(view.pools(), p -> json(200, p)))))),
        path(PathMatchers.segment("api").slash("v1").slash("instances"), () -> methods(List.of("GET"),
            get(() -> livePart(() -> onSuccess(view.pools(), p -> json(200, instances(p))))))),
        path(PathMatchers.segment("api").slash("v1").slash("decisions"), () -> methods(List.of("GET"),
            get(() -> parameterOptional("limit", limit -> livePart(() -> decisions(limit)))))),
        path(PathMatchers.segment("api").slash("v1").slash("test").slash("blackhole"), () -> testEndpoints
            ? methods(List.of("PUT"), put(() -> authorized(this::putBlackhole)))
            : error(404, "no such resource (the failure tests' endpoints are off: dynamollm.node.test-endpoints)")),
        extractUnmatchedPath(p -> error(404, "no such resource: " + p
            + " (see GET /api/v1/cluster, /api/v1/slos, /api/v1/limits, /api/v1/pools, /api/v1/instances,"
            + " /api/v1/decisions, POST /api/v1/plan/preview)")))));
  }

  // ------------------------------------------------------------------------------------------------ routes

  private Route getSlos() {
    CompletionStage<SloTable> table = AskPattern.ask(slos, SloStore.Get::new, askTimeout, system.scheduler());
    return onSuccess(table, t -> json(200, slosJson(t)));
  }

  private Route putSlo(String typeName) {
    return body(body -> {
      SloUpdate.Result r = validator.validate(typeName, body);
      if (r instanceof SloUpdate.Rejected rej) {
        return error(rej.status(), rej.message());
      }
      SloUpdate.Accepted ok = (SloUpdate.Accepted) r;
      CompletionStage<SloStore.PutResult> stored = AskPattern.ask(slos,
          (ActorRef<SloStore.PutResult> reply) -> new SloStore.Put(ok.type(), ok.slo(), reply), askTimeout,
          system.scheduler());
      return onSuccess(stored, res -> {
        if (res instanceof SloStore.Stored s) {
          Map<String, Object> body2 = new LinkedHashMap<>();
          body2.put("type", s.type().name());
          body2.putAll(sloJson(s.slo()));
          body2.put("acknowledged", "majority");
          return json(200, body2);
        }
        SloStore.NotStored n = (SloStore.NotStored) res;
        return error(503, "SLO of " + n.type() + " not acknowledged: " + n.reason() + "; retry");
      });
    });
  }

  /** Read-only, no token: what the cluster would run with the proposed SLOs and limits. */
  private Route previewPlan() {
    return body(body -> {
      PreviewRequest.Result r = previewValidator.validate(body);
      if (r instanceof PreviewRequest.Rejected rej) {
        return error(rej.status(), rej.message());
      }
      PreviewRequest.Proposal p = (PreviewRequest.Proposal) r;
      CompletionStage<SloTable> table = AskPattern.ask(slos, SloStore.Get::new, askTimeout, system.scheduler());
      CompletionStage<ClusterLimits> now = AskPattern.ask(limits, LimitsStore.Get::new, askTimeout,
          system.scheduler());
      return onSuccess(table.thenCombine(now, (t, l) -> new Object[] {p.over(t), p.limits().orElse(l)})
          .thenCompose(x -> view.preview((SloTable) x[0], (ClusterLimits) x[1])), m -> m.containsKey("error")
              ? error(503, "no preview: " + m.get("error")) : json(200, m));
    });
  }

  private Route getLimits() {
    CompletionStage<ClusterLimits> l = AskPattern.ask(limits, LimitsStore.Get::new, askTimeout, system.scheduler());
    return onSuccess(l, x -> json(200, limitsJson(x)));
  }

  private Route putLimits() {
    return body(body -> {
      LimitsUpdate.Result r = limitsValidator.validate(body);
      if (r instanceof LimitsUpdate.Rejected rej) {
        return error(rej.status(), rej.message());
      }
      ClusterLimits next = ((LimitsUpdate.Accepted) r).limits();
      if (next.gpuBudget() == 0) {
        return storeLimits(next);
      }
      // a budget is at most the GPUs the cluster has now (a larger one is a typo, not a limit); before any GPU host
      // is listed (a cluster starting) there is nothing to judge it by
      return onSuccess(view.hosts(), hosts -> {
        int gpus = hosts.stream().mapToInt(h -> ((Number) h.get("gpus")).intValue()).sum();
        if (!hosts.isEmpty() && next.gpuBudget() > gpus) {
          return error(422, "field '" + LimitsUpdate.GPUS + "' (" + next.gpuBudget() + ") must not exceed the GPUs"
              + " the cluster has now (" + gpus + " on " + hosts.size() + " hosts), or null for every GPU");
        }
        return storeLimits(next);
      });
    });
  }

  private Route storeLimits(ClusterLimits next) {
    CompletionStage<Boolean> stored = AskPattern.ask(limits,
        (ActorRef<Boolean> reply) -> new LimitsStore.Put(next, reply), askTimeout, system.scheduler());
    return onSuccess(stored, ok -> {
      if (!ok) {
        return error(503, "the limits were not acknowledged by a majority of the cluster; retry");
      }
      Map<String, Object> out = limitsJson(next);
      out.put("acknowledged", "majority");
      return json(200, out);
    });
  }

  /** Failure tests: {@code {"addresses": ["host:port", …]}} — cut cluster traffic to those nodes, heal the rest. */
  private Route putBlackhole() {
    return body(body -> {
      java.util.Set<String> cut = new java.util.TreeSet<>();
      try {
        var node = JSON.readTree(body).path("addresses");
        if (!node.isArray()) {
          return error(422, "missing field 'addresses' (a list of host:port)");
        }
        node.forEach(a -> cut.add(a.asText()));
        return onSuccess(blackhole.apply(cut),
            done -> json(200, Map.of("blackholed", done)));
      } catch (JsonProcessingException e) {
        return error(400, "the body is not valid JSON: " + e.getOriginalMessage());
      } catch (IllegalArgumentException e) {
        return error(422, "field 'addresses': " + e.getMessage());
      }
    });
  }

  private static Map<String, Object> limitsJson(ClusterLimits l) {
    Map<String, Object> o = new LinkedHashMap<>();
    o.put(LimitsUpdate.MIN, l.bounds().minMhz());
    o.put(LimitsUpdate.MAX, l.bounds().maxMhz());
    o.put(LimitsUpdate.GPUS, l.gpuBudget() == 0 ? null : l.gpuBudget());
    o.put(LimitsUpdate.POWER, l.powerBudgetW() == 0 ? null : l.powerBudgetW());
    return o;
  }

  private Map<String, Object> clusterView() {
    Cluster cluster = Cluster.get(system);
    var state = cluster.state();
    List<Map<String, Object>> members = new ArrayList<>();
    for (Member m : state.getMembers()) {
      Map<String, Object> o = new LinkedHashMap<>();
      o.put("address", m.address().toString());
      o.put("status", m.status().toString().toLowerCase(java.util.Locale.ROOT));
      o.put("roles", m.getRoles().stream().filter(r -> !r.startsWith("dc-")).sorted().toList());
      o.put("reachable", !state.getUnreachable().contains(m));
      members.add(o);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("self", cluster.selfMember().address().toString());
    out.put("leader", Optional.ofNullable(state.getLeader()).map(Object::toString).orElse(null));
    // the cluster singleton runs on the oldest up member of the control role
    Member oldest = null;
    for (Member m : state.getMembers()) {
      if (m.status() == org.apache.pekko.cluster.MemberStatus.up() && m.hasRole("control")
          && (oldest == null || m.isOlderThan(oldest))) {
        oldest = m;
      }
    }
    out.put("cluster_manager", oldest == null ? null : oldest.address().toString());
    out.put("members", members);
    out.put("unreachable", state.getUnreachable().stream().map(m -> m.address().toString()).sorted().toList());
    return out;
  }

  // ------------------------------------------------------------------------------------------------ live views

  private Route livePart(Supplier<Route> inner) {
    return view.control() ? inner.get() : error(404, "this node has no control role: ask a control node");
  }

  @SuppressWarnings("unchecked")
  private static List<Map<String, Object>> instances(List<Map<String, Object>> pools) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Map<String, Object> p : pools) {
      for (Map<String, Object> i : (List<Map<String, Object>>) p.get("instances")) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("pool", p.get("pool"));
        o.putAll(i);
        out.add(o);
      }
    }
    return out;
  }

  private Route decisions(Optional<String> limitText) {
    int limit = 100;
    if (limitText.isPresent()) {
      try {
        limit = Integer.parseInt(limitText.get());
      } catch (NumberFormatException e) {
        return error(400, "limit must be a whole number 1-500, got '" + limitText.get() + "'");
      }
      if (limit < 1 || limit > 500) {
        return error(400, "limit must be a whole number 1-500, got " + limit);
      }
    }
    return onSuccess(view.decisions(limit), ds -> json(200, ds));
  }

  // ------------------------------------------------------------------------------------------------ helpers

  /**
   * The request body, read whole within {@value #MAX_BODY_BYTES} bytes and {@link BoundedBody#TIMEOUT}: a larger one gets
   * 413, one that does not arrive in time (its Content-Length larger than what was sent) 408.
   */
  private Route body(java.util.function.Function<String, Route> inner) {
    return extractRequestEntity(entity -> onSuccess(BoundedBody.read(entity, MAX_BODY_BYTES, BoundedBody.TIMEOUT,
        materializer), outcome -> {
          if (outcome instanceof BoundedBody.Read r) {
            return inner.apply(r.text());
          }
          if (outcome instanceof BoundedBody.TooLarge) {
            return error(413, "the request body is larger than the admin API takes (" + MAX_BODY_BYTES + " bytes)");
          }
          if (outcome instanceof BoundedBody.TimedOut t) {
            return error(408, "the request body did not arrive within " + t.timeout().toSeconds()
                + " s (is its Content-Length larger than the body?)");
          }
          return error(400, "the request body could not be read: " + ((BoundedBody.Unreadable) outcome).why());
        }));
  }

  /** Runs {@code inner} only for a request carrying the right bearer token. */
  private Route authorized(java.util.function.Supplier<Route> inner) {
    return optionalHeaderValueByName("Authorization", header -> {
      if (header.isEmpty() || !header.get().regionMatches(true, 0, "Bearer ", 0, 7)) {
        return respondWithHeader(org.apache.pekko.http.javadsl.model.HttpHeader.parse("WWW-Authenticate", "Bearer"),
            () -> error(401, "this call changes the cluster: send 'Authorization: Bearer <admin token>'"));
      }
      byte[] given = header.get().substring(7).trim().getBytes(StandardCharsets.UTF_8);
      if (!MessageDigest.isEqual(given, token)) {
        return error(403, "the admin token is wrong");
      }
      return inner.get();
    });
  }

  private Route methods(List<String> allowed, Route inner) {
    return concat(inner, extractMethod(m -> error(405, m.name() + " is not supported here; use " + String.join(" or ", allowed))));
  }

  static Map<String, Object> slosJson(SloTable t) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (RequestType type : RequestType.values()) {
      out.put(type.name(), sloJson(t.of(type)));
    }
    return out;
  }

  private static Map<String, Object> sloJson(Slo s) {
    Map<String, Object> o = new LinkedHashMap<>();
    o.put(SloUpdate.TTFT, Math.round(s.ttftP99Ms() * 100) / 100.0);
    o.put(SloUpdate.TBT, Math.round(s.tbtP99Ms() * 100) / 100.0);
    return o;
  }

  private Route json(int status, Object body) {
    try {
      return complete(HttpResponse.create().withStatus(status)
          .withEntity(ContentTypes.APPLICATION_JSON, JSON.writeValueAsBytes(body)));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write JSON", e);
    }
  }

  private Route error(int status, String message) {
    return complete(HttpResponse.create().withStatus(status)
        .withEntity(ContentTypes.APPLICATION_JSON, errorJson(status, message)));
  }

  /** Every admin error's body: {@code {"status": …, "message": …}}. */
  static byte[] errorJson(int status, String message) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("status", status);
    body.put("message", message);
    try {
      return JSON.writeValueAsBytes(body);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write JSON", e);
    }
  }

  /** The admin API's answer to requests refused before routing (414, 431, 501, a malformed request): JSON too. */
  public static final class ParsingErrors extends JsonParsingErrors {
    @Override
    protected byte[] json(int status, String message) {
      return errorJson(status, message);
    }
  }

  private ExceptionHandler exceptions() {
    return ExceptionHandler.newBuilder()
        .match(java.util.concurrent.TimeoutException.class,
            e -> error(503, "the control plane did not answer in time; retry"))
        .match(org.apache.pekko.pattern.AskTimeoutException.class,
            e -> error(503, "the control plane did not answer in time; retry"))
        .matchAny(e -> {
          system.log().error("admin API: internal error", e);
          return error(500, "internal error: " + e.getClass().getSimpleName() + " (logged on the node)");
        })
        .build();
  }

  private RejectionHandler rejections() {
    return RejectionHandler.defaultHandler().mapRejectionResponse(response -> {
      if (response.entity().getContentType().equals(ContentTypes.APPLICATION_JSON)) {
        return response;
      }
      String text = response.entity() instanceof org.apache.pekko.http.javadsl.model.HttpEntity.Strict s
          ? s.getData().utf8String() : response.status().reason();
      return response.withEntity(ContentTypes.APPLICATION_JSON, errorJson(response.status().intValue(), text));
    });
  }


}
