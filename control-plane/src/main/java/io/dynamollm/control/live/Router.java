package io.dynamollm.control.live;

import io.dynamollm.decision.routing.OnlineOutputPredictor;
import io.dynamollm.decision.routing.RequestClassifier;
import io.dynamollm.decision.routing.RequestFeatures;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.instance.engine.Engine;
import io.dynamollm.pool.PoolManager;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SizeClass;
import io.dynamollm.protocol.SloTable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Set;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.pubsub.Topic;

/**
 * The request routing core on a control node: classify (prompt length and the online predictor's output class), pick
 * the pool (the type's own, else one of a larger type), pick the instance (least outstanding among the ready ones the
 * pool published, in proportion to their planned capacity — never a draining, stopped or unreachable one), submit, and on completion feed the predictor and the
 * per-type attainment. It never waits for a controller: routes arrive on the topic {@value #ROUTES_TOPIC}. Every few
 * seconds it sends the arrivals per type to the cluster manager (the forecaster's input) and each pool's outcomes
 * (completed, missed, routed per type) to its pool manager (the capacity correction's input). A request that finds no
 * ready instance (while the cluster starts or a pool re-forms) waits, up to a minute and 20,000 requests, instead of
 * failing at once.
 */
public final class Router {
  public static final String ROUTES_TOPIC = "routes";

  public sealed interface Command permits Request, GetStats, Internal {}

  /**
   * A request. {@code outputTokens} is what a simulated engine generates (a replayed trace knows it); the router
   * does not look at it — it predicts.
   */
  public record Request(long id, int promptTokens, int maxTokens, int outputTokens, ActorRef<Response> replyTo)
      implements Command, NoSerializationVerificationNeeded {}

  /** The outcome: served (with latencies and whether both met the type's SLO), or why not. */
  public record Response(long id, Optional<RequestType> type, Optional<String> pool, Optional<Engine.Completion> completion,
      boolean metSlo, Optional<String> error) implements NoSerializationVerificationNeeded {}

  public record GetStats(ActorRef<Stats> replyTo) implements Command, NoSerializationVerificationNeeded {}

  /**
   * @param served requests served, per type
   * @param met of those, within both SLOs
   * @param failed requests not served (rejected, no instance, engine error)
   * @param loadRps recent request rate per instance
   * @param readyInstances instances the pools publish as ready now
   */
  public record Stats(Map<RequestType, Long> served, Map<RequestType, Long> met, long failed,
      Map<String, Double> loadRps, Map<String, String> poolOf, int readyInstances)
      implements NoSerializationVerificationNeeded {
    public double attainment(List<RequestType> types) {
      long s = 0;
      long m = 0;
      for (RequestType t : types) {
        s += served.getOrDefault(t, 0L);
        m += met.getOrDefault(t, 0L);
      }
      return s == 0 ? 1.0 : (double) m / s;
    }
  }

  sealed interface Internal extends Command, NoSerializationVerificationNeeded {}

  private record GotRoutes(PoolManager.Routes routes) implements Internal {}

  private record Done(Request request, RequestType type, String pool, String instance, InstanceManager.Served served,
      SizeClass predicted, boolean retried) implements Internal {}

  private record GotSlos(SloTable slos) implements Internal {}

  private enum Tick implements Internal { REPORT }

  /** Where an instance lives (an entity reference in a cluster). */
  public interface Instances {
    org.apache.pekko.actor.typed.RecipientRef<InstanceManager.Command> ref(String instanceId);
  }

  /**
   * How long (model time) a request may go unanswered by its instance — a node that crashed or froze — before the
   * router gives up on that instance and tries another once.
   */
  static final Duration ANSWER_TIMEOUT = Duration.ofMinutes(5);

  private Router() {}

  /**
   * @param observed where arrival counts go (the cluster manager), every {@code reportEvery} of model time
   * @param pools where each pool's outcomes go (its pool manager learns its capacity correction from them), as often
   * @param slos the SLO store (asked every report, so SLO changes count at once)
   */
  public static Behavior<Command> create(ClassThresholds thresholds, Instances instances,
      ActorRef<Topic.Command<PoolManager.Routes>> routesTopic, ActorRef<ClusterManager.Command> observed,
      ClusterManager.PoolRefs pools, ActorRef<io.dynamollm.control.cluster.SloStore.Command> slos,
      SloTable initialSlos, Duration reportEvery, double speedup, java.util.function.DoubleSupplier modelNowMs) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Running(ctx, timers, thresholds, instances,
        routesTopic, observed, pools, slos, initialSlos, reportEvery, speedup, modelNowMs).behavior()));
  }

  private static final class Running {
    private final ActorContext<Command> ctx;
    private final RequestClassifier classifier;
    private final OnlineOutputPredictor predictor;
    private final Instances instances;
    private final ActorRef<ClusterManager.Command> observed;
    private final ClusterManager.PoolRefs pools;
    /** Per pool since the last report: completed requests, those that missed, requests routed per type. */
    private final Map<String, long[]> poolOutcomes = new HashMap<>();
    private final Map<String, Map<RequestType, Integer>> poolRouted = new HashMap<>();
    private final ActorRef<io.dynamollm.control.cluster.SloStore.Command> sloStore;
    private final java.util.function.DoubleSupplier now;
    private final Map<String, PoolManager.Routes> routes = new HashMap<>();
    private final Map<String, Integer> outstanding = new HashMap<>();
    private final Map<String, Double> rate = new HashMap<>();
    private final Map<String, Integer> arrivalsSinceReport = new HashMap<>();
    private final Map<String, String> poolOf = new HashMap<>();
    private final Map<RequestType, Integer> typeArrivals = new EnumMap<>(RequestType.class);
    private final Map<RequestType, Long> served = new EnumMap<>(RequestType.class);
    private final Map<RequestType, Long> met = new EnumMap<>(RequestType.class);
    private long failed;
    private SloTable slos;
    private double lastReportMs;
    /** Requests that found no ready instance yet (the cluster is starting, a pool is re-forming): (request, type, since). */
    private final java.util.ArrayDeque<Object[]> held = new java.util.ArrayDeque<>();
    static final int MAX_HELD = 20_000;
    static final double HOLD_MS = 60_000;
    private final Duration answerTimeout;

    Running(ActorContext<Command> ctx, TimerScheduler<Command> timers, ClassThresholds thresholds, Instances instances,
        ActorRef<Topic.Command<PoolManager.Routes>> routesTopic, ActorRef<ClusterManager.Command> observed,
        ClusterManager.PoolRefs pools, ActorRef<io.dynamollm.control.cluster.SloStore.Command> sloStore,
        SloTable initialSlos, Duration reportEvery, double speedup, java.util.function.DoubleSupplier now) {
      this.pools = pools;
      this.ctx = ctx;
      this.classifier = new RequestClassifier(thresholds);
      this.predictor = new OnlineOutputPredictor(thresholds);
      this.instances = instances;
      this.observed = observed;
      this.sloStore = sloStore;
      this.slos = initialSlos;
      this.now = now;
      this.lastReportMs = now.getAsDouble();
      this.answerTimeout = Duration.ofNanos(Math.max(1_000_000, (long) (ANSWER_TIMEOUT.toNanos() / speedup)));
      routesTopic.tell(Topic.subscribe(ctx.messageAdapter(PoolManager.Routes.class, GotRoutes::new)));
      timers.startTimerWithFixedDelay(Tick.REPORT,
          Duration.ofNanos(Math.max(1_000_000, (long) (reportEvery.toNanos() / speedup))));
    }

    Behavior<Command> behavior() {
      return Behaviors.receive(Command.class)
          .onMessage(GotRoutes.class, g -> {
            if (ctx.getLog().isDebugEnabled() && !g.routes().equals(routes.get(g.routes().pool()))) {
              ctx.getLog().debug("routes of pool {}: {} with capacities {}", g.routes().pool(),
                  g.routes().readyInstances(), g.routes().capacities());
            }
            routes.put(g.routes().pool(), g.routes());
            g.routes().readyInstances().forEach(i -> poolOf.put(i, g.routes().pool()));
            releaseHeld();
            return Behaviors.same();
          })
          .onMessage(Request.class, this::onRequest)
          .onMessage(Done.class, this::onDone)
          .onMessage(GotSlos.class, g -> {
            slos = g.slos();
            return Behaviors.same();
          })
          .onMessage(GetStats.class, g -> {
            int ready = routes.values().stream().mapToInt(rt -> rt.readyInstances().size()).sum();
            g.replyTo().tell(new Stats(Map.copyOf(served), Map.copyOf(met), failed, Map.copyOf(rate), Map.copyOf(poolOf),
                ready));
            return Behaviors.same();
          })
          .onMessageEquals(Tick.REPORT, this::report)
          .build();
    }

    private Behavior<Command> onRequest(Request r) {
      var features = new RequestFeatures(r.id(), r.promptTokens(), r.maxTokens(), "default", Optional.empty(),
          OptionalInt.empty());
      SizeClass predicted = predictor.predict(features);
      var c = classifier.classify(r.promptTokens(), r.maxTokens(), predicted);
      if (c instanceof RequestClassifier.Rejected rej) {
        failed++;
        r.replyTo().tell(new Response(r.id(), Optional.empty(), Optional.empty(), Optional.empty(), false,
            Optional.of(rej.reason())));
        return Behaviors.same();
      }
      RequestType type = ((RequestClassifier.Accepted) c).type();
      typeArrivals.merge(type, 1, Integer::sum);
      submit(r, type, predicted, false, null);
      return Behaviors.same();
    }

    /** Retries held requests now that routes changed; those held too long fail. */
    private void releaseHeld() {
      double t = now.getAsDouble();
      int n = held.size();
      for (int k = 0; k < n; k++) {
        Object[] h = held.poll();
        Request r = (Request) h[0];
        if (t - (double) h[2] > HOLD_MS) {
          failed++;
          r.replyTo().tell(new Response(r.id(), Optional.of((RequestType) h[1]), Optional.empty(), Optional.empty(),
              false, Optional.of("no instance served " + h[1] + " within " + (long) (HOLD_MS / 1000) + " s")));
          continue;
        }
        submit(r, (RequestType) h[1], (SizeClass) h[3], false, null);
      }
    }

    /**
     * The type's own pool if it has a ready instance, else the smallest larger pool that does, else — rather than
     * fail — any pool with a ready instance (the largest).
     */
    private Optional<String[]> pick(RequestType type, String avoid) {
      PoolManager.Routes best = null;
      for (PoolManager.Routes rt : routes.values()) {
        if (rt.readyInstances().isEmpty() || rt.readyInstances().stream().allMatch(i -> i.equals(avoid))) {
          continue;
        }
        boolean own = rt.types().contains(type);
        boolean larger = rt.nativeType().covers(type);
        if (!own && !larger) {
          continue;
        }
        if (best == null || (own && !best.types().contains(type))
            || (own == best.types().contains(type) && size(rt.nativeType()) < size(best.nativeType()))) {
          best = rt;
        }
      }
      if (best == null) {
        for (PoolManager.Routes rt : routes.values()) {
          if (rt.readyInstances().stream().anyMatch(i -> !i.equals(avoid))
              && (best == null || size(rt.nativeType()) > size(best.nativeType()))) {
            best = rt;
          }
        }
      }
      if (best == null) {
        return Optional.empty();
      }
      // least outstanding work for its capacity: (requests in flight + this one) / planned capacity
      String choice = null;
      double bestScore = Double.POSITIVE_INFINITY;
      for (int k = 0; k < best.readyInstances().size(); k++) {
        String i = best.readyInstances().get(k);
        if (i.equals(avoid)) {
          continue;
        }
        double cap = k < best.capacities().size() ? Math.max(1e-6, best.capacities().get(k)) : 1;
        double score = (outstanding.getOrDefault(i, 0) + 1) / cap;
        if (score < bestScore) {
          choice = i;
          bestScore = score;
        }
      }
      return Optional.of(new String[] {best.pool(), choice});
    }

    private void submit(Request r, RequestType type, SizeClass predicted, boolean retried, String avoid) {
      Optional<String[]> target = pick(type, avoid);
      if (target.isEmpty()) {
        if (held.size() >= MAX_HELD) {
          failed++;
          r.replyTo().tell(new Response(r.id(), Optional.of(type), Optional.empty(), Optional.empty(), false,
              Optional.of("no instance serves " + type + " and " + MAX_HELD + " requests are already waiting")));
        } else {
          held.add(new Object[] {r, type, now.getAsDouble(), predicted});
        }
        return;
      }
      String pool = target.get()[0];
      String instance = target.get()[1];
      outstanding.merge(instance, 1, Integer::sum);
      arrivalsSinceReport.merge(instance, 1, Integer::sum);
      if (!retried) {
        poolRouted.computeIfAbsent(pool, k -> new EnumMap<>(RequestType.class)).merge(type, 1, Integer::sum);
      }
      var request = new Engine.EngineRequest(r.id(), r.promptTokens(), Math.max(1, r.outputTokens()));
      ctx.ask(InstanceManager.Served.class, instances.ref(instance), answerTimeout,
          reply -> new InstanceManager.Submit(request, reply),
          (served, err) -> new Done(r, type, pool, instance, served != null ? served
              : new InstanceManager.Served(r.id(), Optional.empty(), Optional.of("no answer from " + instance
                  + " within " + ANSWER_TIMEOUT.toMinutes() + " min: " + err)), predicted, retried));
    }

    private Behavior<Command> onDone(Done d) {
      outstanding.merge(d.instance(), -1, Integer::sum);
      if (d.served().completion().isEmpty()) {
        if (!d.retried()) {
          submit(d.request(), d.type(), d.predicted(), true, d.instance()); // e.g. it began draining meanwhile
        } else {
          failed++;
          d.request().replyTo().tell(new Response(d.request().id(), Optional.of(d.type()), Optional.of(d.pool()),
              Optional.empty(), false, d.served().error()));
        }
        return Behaviors.same();
      }
      Engine.Completion c = d.served().completion().get();
      var features = new RequestFeatures(d.request().id(), d.request().promptTokens(), d.request().maxTokens(),
          "default", Optional.empty(), OptionalInt.empty());
      predictor.observe(features, d.predicted(), c.outputTokens());
      // judged against the SLO of the request's true type
      RequestType truth = classifier.thresholds().typeOf(d.request().promptTokens(), c.outputTokens());
      boolean ok = slos.of(truth).isMetBy(c.ttftMs(), c.tbtMs());
      served.merge(truth, 1L, Long::sum);
      long[] o = poolOutcomes.computeIfAbsent(d.pool(), k -> new long[2]);
      o[0]++;
      if (!ok) {
        o[1]++;
      }
      if (!ok && ctx.getLog().isDebugEnabled()) {
        ctx.getLog().debug("request {} ({}, served by {} in pool {}) missed its SLO: TTFT {} ms / {}, TBT {} ms / {}",
            d.request().id(), truth, d.instance(), d.pool(), Math.round(c.ttftMs()), Math.round(slos.of(truth).ttftP99Ms()),
            Math.round(c.tbtMs() * 10) / 10.0, Math.round(slos.of(truth).tbtP99Ms() * 10) / 10.0);
      }
      if (ok) {
        met.merge(truth, 1L, Long::sum);
      }
      d.request().replyTo().tell(new Response(d.request().id(), Optional.of(d.type()), Optional.of(d.pool()),
          Optional.of(c), ok, Optional.empty()));
      return Behaviors.same();
    }

    private Behavior<Command> report() {
      double t = now.getAsDouble();
      if (!held.isEmpty()) {
        releaseHeld();
      }
      if (ctx.getLog().isDebugEnabled()) {
        ctx.getLog().debug("outstanding per instance: {}; held {}", outstanding, held.size());
      }
      double dt = Math.max(1e-3, (t - lastReportMs) / 1000.0);
      lastReportMs = t;
      for (String i : new ArrayList<>(rate.keySet())) {
        if (!arrivalsSinceReport.containsKey(i)) {
          rate.put(i, rate.get(i) * 0.5);
        }
      }
      arrivalsSinceReport.forEach((i, n) -> rate.merge(i, n / dt, (old, fresh) -> 0.5 * old + 0.5 * fresh));
      arrivalsSinceReport.clear();
      Set<String> reported = new HashSet<>(poolOutcomes.keySet());
      reported.addAll(poolRouted.keySet());
      for (String pool : reported) {
        long[] o = poolOutcomes.getOrDefault(pool, new long[2]);
        pools.tell(pool, new PoolManager.Outcomes(o[0], o[1], poolRouted.getOrDefault(pool, Map.of())));
      }
      poolOutcomes.clear();
      poolRouted.clear();
      if (!typeArrivals.isEmpty()) {
        observed.tell(new ClusterManager.Observed((long) t, new EnumMap<>(typeArrivals)));
        typeArrivals.clear();
      }
      ctx.ask(SloTable.class, sloStore, Duration.ofSeconds(5), io.dynamollm.control.cluster.SloStore.Get::new,
          (s, err) -> new GotSlos(s != null ? s : slos));
      return Behaviors.same();
    }

    private static int size(RequestType t) {
      return t.input().ordinal() + t.output().ordinal();
    }
  }
}
