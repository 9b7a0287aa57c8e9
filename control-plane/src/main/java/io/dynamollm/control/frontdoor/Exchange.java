package io.dynamollm.control.frontdoor;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dynamollm.control.live.Router;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.instance.engine.Engine;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * One client request in the front door, as a short-lived actor: it hands the request to the router, then turns what
 * comes back into the OpenAI answer — one JSON body, or server-sent events from the first token on (the HTTP status
 * is decided by then: a request refused before its first token gets its error status, not a stream). A client that
 * goes away mid-stream cancels its request at the router (which cancels it at its engine). Tokens of a second
 * instance after those of a first (the router retried a request whose instance went silent after streaming) end the
 * stream with an error event: a client never sees two answers spliced.
 */
final class Exchange {
  sealed interface Msg extends NoSerializationVerificationNeeded {}

  private record Got(Router.Response response) implements Msg {}

  private record Tok(InstanceManager.Token token) implements Msg {}

  private enum StreamEnded implements Msg { INSTANCE }

  /** The grace for tokens still on their way after the answer is over: end the stream with what came. */
  private enum FinishNow implements Msg { INSTANCE }

  /**
   * How long a stream waits, after its request's answer, for tokens still on their way: tokens come from the
   * instance's node and the answer through the router, and across nodes the two may arrive in either order.
   */
  static final java.time.Duration LATE_TOKENS = java.time.Duration.ofSeconds(1);

  /** What an exchange needs to know of its request. */
  record Job(long id, ApiRequest request, int promptTokens, int outputCap, Optional<Router.SloOverride> slo,
      String retryAfterSeconds) {}

  private Exchange() {}

  /** Starts the exchange; the future completes with the response's head (and, streaming, its body source). */
  static Behavior<Msg> create(Job job, ActorRef<Router.Command> router, CompletableFuture<HttpResponse> response,
      Materializer materializer) {
    return Behaviors.setup(ctx -> new Running(ctx, job, router, response, materializer).behavior());
  }

  private static final class Running {
    private final ActorContext<Msg> ctx;
    private final Job job;
    private final ActorRef<Router.Command> router;
    private final CompletableFuture<HttpResponse> response;
    private final Materializer materializer;
    private final OpenAiWire.Answer answer;
    private BoundedSourceQueue<ByteString> stream;
    private String streamingFrom;
    private boolean finished;
    private boolean clientGone;
    private int streamed;
    /** The answer, held until its last tokens arrived (or {@link #LATE_TOKENS} passed). */
    private Router.Response finishing;

    Running(ActorContext<Msg> ctx, Job job, ActorRef<Router.Command> router, CompletableFuture<HttpResponse> response,
        Materializer materializer) {
      this.ctx = ctx;
      this.job = job;
      this.router = router;
      this.response = response;
      this.materializer = materializer;
      this.answer = OpenAiWire.Answer.of(job.id(), job.request().endpoint().equals(Engine.OpenAiCall.CHAT),
          job.request().model());
      ApiRequest r = job.request();
      Optional<ActorRef<InstanceManager.Token>> tokens = r.stream()
          ? Optional.of(ctx.messageAdapter(InstanceManager.Token.class, Tok::new)) : Optional.empty();
      router.tell(new Router.Request(job.id(), job.promptTokens(), r.maxTokens().orElse(0), job.outputCap(),
          ctx.messageAdapter(Router.Response.class, Got::new), job.slo(), Optional.of(r.call(job.id())), tokens));
    }

    Behavior<Msg> behavior() {
      return Behaviors.receive(Msg.class)
          .onMessage(Tok.class, t -> onToken(t.token()))
          .onMessage(Got.class, g -> onResponse(g.response()))
          .onMessageEquals(FinishNow.INSTANCE, () -> finished || clientGone ? Behaviors.stopped()
              : finishStream(finishing))
          .onMessageEquals(StreamEnded.INSTANCE, () -> {
            if (!finished && !clientGone) {
              clientGone = true; // the client went away mid-stream: stop its request wherever it is
              router.tell(new Router.Cancel(job.id()));
            }
            return Behaviors.same();
          })
          .build();
    }

    private Behavior<Msg> onToken(InstanceManager.Token t) {
      if (finished || clientGone) {
        return Behaviors.same();
      }
      if (streamingFrom == null) {
        streamingFrom = t.instance();
        open();
      } else if (!streamingFrom.equals(t.instance())) {
        router.tell(new Router.Cancel(job.id()));
        endWithError(new ApiError(502, "the instance serving this request (" + streamingFrom + ") went away after "
            + streamed + " tokens; its answer cannot be continued elsewhere", "server_error", null,
            "instance_lost"));
        return Behaviors.same();
      }
      streamed++;
      offer(answer.chunk(t.text(), streamed == 1, null, job.request().includeUsage()));
      if (finishing != null && streamed >= finishing.completion().orElseThrow().outputTokens()) {
        return finishStream(finishing);
      }
      return Behaviors.same();
    }

    private Behavior<Msg> onResponse(Router.Response r) {
      if (finished || clientGone) {
        return Behaviors.stopped(); // answered already, or nobody left to answer (its stream is closed)
      }
      if (r.outcome() == Router.Outcome.SERVED) {
        Engine.Completion c = r.completion().orElseThrow();
        if (job.request().stream()) {
          if (streamed < c.outputTokens() && finishing == null) {
            finishing = r; // tokens still on their way (another path than the answer's): wait for them, briefly
            ctx.scheduleOnce(LATE_TOKENS, ctx.getSelf(), FinishNow.INSTANCE);
            return Behaviors.same();
          }
          return finishStream(r);
        } else {
          ObjectNode usage = usage(r, c);
          response.complete(HttpResponse.create().withStatus(200)
              .addHeader(RawHeader.create("x-dynamollm-slo-met", Boolean.toString(r.metSlo())))
              .withEntity(ContentTypes.APPLICATION_JSON, answer.whole(c.text(), c.finishReason(), usage).toString()));
        }
        finished = true;
        return Behaviors.stopped();
      }
      ApiError e = error(r);
      if (stream != null) {
        endWithError(e);
      } else {
        HttpResponse h = HttpResponse.create().withStatus(e.status())
            .withEntity(ContentTypes.APPLICATION_JSON, e.json().toString());
        if (e.status() == 429 || e.status() == 503) {
          h = h.addHeader(RawHeader.create("Retry-After", job.retryAfterSeconds()));
        }
        response.complete(h);
      }
      finished = true;
      return Behaviors.stopped();
    }

    /** The stream's last events: the finish with dynamollm's usage, OpenAI's usage when asked, [DONE]. */
    private Behavior<Msg> finishStream(Router.Response r) {
      Engine.Completion c = r.completion().orElseThrow();
      ObjectNode usage = usage(r, c);
      if (stream == null) {
        open();
      }
      ObjectNode last = answer.chunk("", false, c.finishReason(), job.request().includeUsage());
      last.set("dynamollm", usage.get("dynamollm"));
      offer(last);
      if (job.request().includeUsage()) {
        offer(answer.usageChunk(usage));
      }
      done();
      finished = true;
      return Behaviors.stopped();
    }

    /** The router's reason, as the OpenAI error a client expects. */
    private ApiError error(Router.Response r) {
      String why = r.error().orElse("failed");
      return switch (r.outcome()) {
        case REJECTED -> new ApiError(400, why, "invalid_request_error", null, "rejected");
        case NO_INSTANCE -> new ApiError(503, "no instance could serve this request: " + why, "server_error", null,
            "no_instance");
        case OVERLOADED -> new ApiError(429, "the cluster is overloaded: " + why, "rate_limit_error", null,
            "overloaded");
        case CANCELLED -> new ApiError(499, why, "invalid_request_error", null, "cancelled");
        default -> new ApiError(502, "the engine failed this request: " + why, "server_error", null, "engine_error");
      };
    }

    /** The stream's head: 200, server-sent events from a queue the tokens go into. */
    private void open() {
      Pair<BoundedSourceQueue<ByteString>, Source<ByteString, NotUsed>> q = Source.<ByteString>queue(
              Math.min(job.outputCap(), 8192) + 16)
          .watchTermination((mat, done) -> {
            done.whenComplete((ok, err) -> ctx.getSelf().tell(StreamEnded.INSTANCE));
            return mat;
          })
          .preMaterialize(materializer);
      stream = q.first();
      response.complete(HttpResponse.create().withStatus(200)
          .addHeader(RawHeader.create("Cache-Control", "no-cache"))
          .withEntity(HttpEntities.createChunked(ContentTypes.create(MediaTypes.TEXT_EVENT_STREAM), q.second())));
    }

    private void offer(ObjectNode event) {
      stream.offer(OpenAiWire.event(event));
    }

    private void done() {
      stream.offer(OpenAiWire.DONE);
      stream.complete();
    }

    private void endWithError(ApiError e) {
      if (stream == null) {
        open();
      }
      offer(e.json());
      done();
      finished = true;
    }

    /** OpenAI's usage, and dynamollm's: how it was served, how fast, whether within its SLO, and its energy. */
    private ObjectNode usage(Router.Response r, Engine.Completion c) {
      ObjectNode u = OpenAiWire.usage(job.promptTokens(), c.outputTokens());
      ObjectNode d = u.putObject("dynamollm");
      d.put("type", r.type().map(Enum::name).orElse(null));
      d.put("pool", r.pool().orElse(null));
      d.put("instance", r.instance().orElse(null));
      d.put("ttft_ms", round(c.ttftMs()));
      d.put("tpot_ms", round(c.tbtMs()));
      d.put("slo_met", r.metSlo());
      r.slo().ifPresent(s -> {
        ObjectNode slo = d.putObject("slo");
        slo.put("ttft_ms", s.ttftP99Ms());
        slo.put("tpot_ms", s.tbtP99Ms());
      });
      if (Double.isFinite(c.energyJ())) {
        d.put("energy_j", round(c.energyJ()));
      } else {
        d.putNull("energy_j");
      }
      return u;
    }

    private static double round(double v) {
      return Math.round(v * 1000) / 1000.0;
    }
  }
}
