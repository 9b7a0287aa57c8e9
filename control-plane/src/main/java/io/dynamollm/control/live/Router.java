package io.dynamollm.control.live;

import io.dynamollm.control.cluster.SloStore;
import io.dynamollm.decision.routing.OnlineOutputPredictor;
import io.dynamollm.decision.routing.RequestClassifier;
import io.dynamollm.decision.routing.RequestFeatures;
import io.dynamollm.decision.routing.RoutingPolicy;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.instance.engine.Engine;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.pool.PoolManager;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.PoolRoutes;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SizeClass;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.pubsub.Topic;

/**
 * The request routing core on a control node: classify (prompt length and the online predictor's output class), then
 * the shared {@link RoutingPolicy} (the simulator routes by it too) on the routes the pools publish: the type's pool,
 * its instance with the least outstanding work for its planned capacity — never a draining, stopped or unreachable
 * one — overflow to a larger pool past the planned capacity, a larger or any pool when the type's has none ready,
 * else hold. It never waits for a controller: routes arrive on the topic {@value #ROUTES_TOPIC}. A request an
 * instance's emergency ladder sends back goes to another instance of the same or a larger pool; one that fails is
 * retried once elsewhere. On completion it feeds the predictor and the per-type attainment. Every report interval it
 * sends the arrivals per type to the cluster manager (the forecaster's input) and each pool's outcomes to its pool
 * manager (the capacity correction's input). SLO changes reach it from the SLO store's subscription.
 */
public final class Router {
  public static final String ROUTES_TOPIC = "routes";

  public sealed interface Command permits Request, Cancel, GetStats, Internal {}

  /**
   * A request. {@code outputTokens} is what a simulated engine generates for a replayed request (a trace knows it),
   * or at most generates for an API call; the router does not look at it — it predicts, with {@code maxTokens} (the
   * client's limit, 0 when none) as a feature.
   *
   * @param slo the request's own SLO (a client's header), judged instead of its type's
   * @param call the client's API call (the front door), passed to the engine
   * @param streamTo where its output tokens go as they come out (a streaming client)
   */
  public record Request(long id, int promptTokens, int maxTokens, int outputTokens, ActorRef<Response> replyTo,
      Optional<SloOverride> slo, Optional<Engine.OpenAiCall> call,
      Optional<ActorRef<InstanceManager.Token>> streamTo) implements Command, NoSerializationVerificationNeeded {
    /** A replayed request. */
    public Request(long id, int promptTokens, int maxTokens, int outputTokens, ActorRef<Response> replyTo) {
      this(id, promptTokens, maxTokens, outputTokens, replyTo, Optional.empty(), Optional.empty(), Optional.empty());
    }
  }

  /**
   * A request's own latency objective (a client's SLO headers), either part or both; the part not given is its
   * type's.
   */
  public record SloOverride(java.util.OptionalDouble ttftMs, java.util.OptionalDouble tpotMs) {
    public SloOverride {
      if (ttftMs.isEmpty() && tpotMs.isEmpty()) {
        throw new IllegalArgumentException("an SLO override needs a TTFT or a TPOT");
      }
    }

    /** {@code base} with this override's parts. */
    public Slo over(Slo base) {
      return new Slo(ttftMs.orElse(base.ttftP99Ms()), tpotMs.orElse(base.tbtP99Ms()));
    }
  }

  /** The client of request {@code id} went away: stop it wherever it is (it is answered {@link Outcome#CANCELLED}). */
  public record Cancel(long id) implements Command, NoSerializationVerificationNeeded {}

  /** How a request ended. */
  public enum Outcome {
    /** Served: {@code completion} holds its latencies. */
    SERVED,
    /** Refused for what it is (a prompt longer than the maximum context). */
    REJECTED,
    /** No instance took it within the hold time (a pool with nothing ready). */
    NO_INSTANCE,
    /** Shed: its pool's queue was past the bound (admission control), or its instance's ladder found it past its
     * deadline. */
    OVERLOADED,
    /** Its engine failed it (after one retry elsewhere when nothing had been streamed). */
    FAILED,
    /** Its client went away. */
    CANCELLED
  }

  /**
   * The outcome: served (with latencies and whether both met the SLO it was judged by: its own, else its type's), or
   * why not.
   */
  public record Response(long id, Optional<RequestType> type, Optional<String> pool, Optional<String> instance,
      Optional<Engine.Completion> completion, boolean metSlo, Optional<Slo> slo, Optional<String> error,
      Outcome outcome) implements NoSerializationVerificationNeeded {}

  public record GetStats(ActorRef<Stats> replyTo) implements Command, NoSerializationVerificationNeeded {}

  /**
   * @param served requests served, per type
   * @param met of those, within both SLOs
   * @param failed requests not served (rejected, no instance, engine error, past their deadline)
   * @param rerouted requests an instance's emergency ladder sent to another instance
   * @param loadRps recent request rate per instance
   * @param readyInstances instances the pools publish as ready now
   */
  public record Stats(Map<RequestType, Long> served, Map<RequestType, Long> met, long failed, long rerouted,
      Map<String, Double> loadRps, Map<String, String> poolOf, int readyInstances)
      implements NoSerializationVerificationNeeded {
    /** The load the router sees on the pool's instances together, req/s. */
    public double loadRps(PoolManager.PoolView pool) {
      return pool.instances().stream().mapToDouble(i -> loadRps.getOrDefault(i.id(), 0.0)).sum();
    }

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

  private record GotRoutes(PoolRoutes routes) implements Internal {}

  private record Done(Pending pending, String pool, String instance, InstanceManager.Served served)
      implements Internal {}

  private record GotSlos(SloTable slos) implements Internal {}

  private enum Tick implements Internal { REPORT }

  /**
   * What the router hears of cluster membership: a host unreachable (its instances get nothing new until it is
   * reachable again), reachable again, or gone (downed or removed: its requests in flight are given up at once).
   */
  private record HostEvent(String host, boolean reachable, boolean gone) implements Internal {}

  /** A request in the router: what it was classified as, and how it fared so far. */
  /**
   * A request the router has: when it arrived and when it was last sent to an instance (model ms) — its TTFT counts
   * from its arrival, held and re-routed time included.
   */
  private record Pending(Request request, RequestType type, SizeClass predicted, int attempts, double heldSinceMs,
      double arrivedMs, double sentMs) {
    Pending again() {
      return new Pending(request, type, predicted, attempts + 1, heldSinceMs, arrivedMs, sentMs);
    }

    Pending heldAt(double t) {
      return new Pending(request, type, predicted, attempts, Double.isNaN(heldSinceMs) ? t : heldSinceMs, arrivedMs,
          sentMs);
    }

    Pending sentAt(double t) {
      return new Pending(request, type, predicted, attempts, heldSinceMs, arrivedMs, t);
    }

    /** How long it waited in the router (held, re-routed) before the instance that served it got it. */
    double waitedMs() {
      return Math.max(0, sentMs - arrivedMs);
    }
  }

  /** A request at an instance. */
  private record Sent(Pending pending, String pool, String instance) {}

  /** Where an instance lives (an entity reference in a cluster). */
  public interface Instances {
    org.apache.pekko.actor.typed.RecipientRef<InstanceManager.Command> ref(String instanceId);
  }

  /**
   * How long (model time) a request may go unanswered by its instance — a node that crashed or froze — before the
   * router gives up on that instance and tries another once.
   */
  static final Duration ANSWER_TIMEOUT = Duration.ofMinutes(5);

  /**
   * What a router is wired to.
   *
   * @param routesTopic where pools publish their ready instances
   * @param observed where arrival counts go (the cluster manager), every {@code reportEvery} of model time
   * @param pools where each pool's outcomes go (its pool manager learns its capacity correction from them)
   * @param slos this node's SLO store (subscribed to)
   */
  public record Wiring(ClassThresholds thresholds, RoutingPolicy routing, Instances instances,
      ActorRef<Topic.Command<PoolRoutes>> routesTopic, ActorRef<ClusterManager.Command> observed,
      ClusterManager.PoolRefs pools, ActorRef<SloStore.Command> slos, SloTable initialSlos, Duration reportEvery,
      ModelClock clock, Outcomes outcomes) {
    /** Without an outcome observer (tests). */
    public Wiring(ClassThresholds thresholds, RoutingPolicy routing, Instances instances,
        ActorRef<Topic.Command<PoolRoutes>> routesTopic, ActorRef<ClusterManager.Command> observed,
        ClusterManager.PoolRefs pools, ActorRef<SloStore.Command> slos, SloTable initialSlos, Duration reportEvery,
        ModelClock clock) {
      this(thresholds, routing, instances, routesTopic, observed, pools, slos, initialSlos, reportEvery, clock,
          Outcomes.NONE);
    }
  }

  /** Told every request's outcome as the client gets it (metrics). Called on the router's thread: keep it cheap. */
  public interface Outcomes {
    Outcomes NONE = new Outcomes() {
      @Override
      public void served(String pool, RequestType type, Engine.Completion c, Slo judged) {}

      @Override
      public void notServed(Optional<String> pool, RequestType type, Outcome outcome) {}
    };

    /** Served by {@code pool}: its TTFT counted from arrival, TBT, energy, and the SLO it was judged by. */
    void served(String pool, RequestType type, Engine.Completion c, Slo judged);

    /** Not served ({@code outcome}: why), by {@code pool} when one had taken it. */
    void notServed(Optional<String> pool, RequestType type, Outcome outcome);
  }

  private Router() {}

  public static Behavior<Command> create(Wiring wiring) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Running(ctx, timers, wiring).behavior()));
  }

  private static final class Running {
    private final ActorContext<Command> ctx;
    private final Wiring w;
    private final RequestClassifier classifier;
    private final OnlineOutputPredictor predictor;
    /** Per pool since the last report: completed requests, those that missed, requests routed per type. */
    private final Map<String, long[]> poolOutcomes = new HashMap<>();
    private final Map<String, Map<RequestType, Integer>> poolRouted = new HashMap<>();
    private final Map<String, PoolRoutes> routes = new HashMap<>();
    private final Map<String, Integer> outstanding = new HashMap<>();
    private final Map<String, Double> rate = new HashMap<>();
    private final Map<String, Integer> arrivalsSinceReport = new HashMap<>();
    private final Map<String, String> poolOf = new HashMap<>();
    /** Arrivals since the last report, per second of arrival and type: {requests, prompt tokens}. */
    private final Map<Long, Map<RequestType, long[]>> typeArrivals = new TreeMap<>();
    private final List<ClusterManager.Completed> completedLengths = new ArrayList<>();
    private final Map<RequestType, Long> served = new EnumMap<>(RequestType.class);
    private final Map<RequestType, Long> met = new EnumMap<>(RequestType.class);
    /** Requests that found no ready instance yet (the cluster is starting, a pool is re-forming). */
    private final ArrayDeque<Pending> held = new ArrayDeque<>();
    /**
     * Requests at an instance now, by id: where a cancel goes, and what a host that goes away hands back (see
     * {@link #onHostEvent}).
     */
    private final Map<Long, Sent> at = new HashMap<>();
    /** Requests whose client went away while at an instance. */
    private final Set<Long> cancelled = new HashSet<>();
    /** Hosts ({@code host:port}) the cluster sees as unreachable or that left it: nothing is routed to them. */
    private final Set<String> avoidHosts = new HashSet<>();
    private long failed;
    private long rerouted;
    private SloTable slos;
    private double lastReportMs;
    private final Duration answerTimeout;

    Running(ActorContext<Command> ctx, TimerScheduler<Command> timers, Wiring w) {
      this.ctx = ctx;
      this.w = w;
      this.classifier = new RequestClassifier(w.thresholds());
      this.predictor = new OnlineOutputPredictor(w.thresholds());
      this.slos = w.initialSlos();
      this.lastReportMs = w.clock().nowMs();
      this.answerTimeout = w.clock().wall(ANSWER_TIMEOUT);
      w.routesTopic().tell(Topic.subscribe(ctx.messageAdapter(PoolRoutes.class, GotRoutes::new)));
      w.slos().tell(new SloStore.Subscribe(ctx.messageAdapter(SloTable.class, GotSlos::new)));
      timers.startTimerWithFixedDelay(Tick.REPORT,
          w.clock().wall(w.reportEvery()));
      if (ctx.getSystem().settings().config().getString("pekko.actor.provider").equals("cluster")) {
        subscribeToMembers();
      }
    }

    private void subscribeToMembers() {
      onMember(ClusterEvent.UnreachableMember.class, ClusterEvent.UnreachableMember::member, false, false);
      onMember(ClusterEvent.ReachableMember.class, ClusterEvent.ReachableMember::member, true, false);
      // a host that is leaving (a rolling restart, a scale-down) gets nothing new from the moment it says so: its
      // instances' shards move away before it is removed, and a moved instance only refuses
      onMember(ClusterEvent.MemberLeft.class, ClusterEvent.MemberLeft::member, false, false);
      onMember(ClusterEvent.MemberExited.class, ClusterEvent.MemberExited::member, false, false);
      onMember(ClusterEvent.MemberDowned.class, ClusterEvent.MemberDowned::member, false, true);
      onMember(ClusterEvent.MemberRemoved.class, ClusterEvent.MemberRemoved::member, false, true);
      onMember(ClusterEvent.MemberUp.class, ClusterEvent.MemberUp::member, true, false);
    }

    /** Hears of {@code event}s as a host that is now reachable (or not), and gone (or not). */
    private <E extends ClusterEvent.ClusterDomainEvent> void onMember(Class<E> event,
        java.util.function.Function<E, org.apache.pekko.cluster.Member> member, boolean reachable, boolean gone) {
      org.apache.pekko.cluster.typed.Cluster.get(ctx.getSystem()).subscriptions().tell(
          org.apache.pekko.cluster.typed.Subscribe.create(ctx.messageAdapter(event,
              e -> new HostEvent(host(member.apply(e)), reachable, gone)), event));
    }

    private static String host(org.apache.pekko.cluster.Member m) {
      return InstanceManager.hostId(m.address());
    }

    /**
     * A host unreachable or gone is avoided; one gone has its requests in flight handed back at once — re-routed
     * (once) as if its instance had failed them, not left to the answer timeout; a client that saw tokens from it gets
     * the error event (its exchange refuses a second instance's tokens).
     */
    private Behavior<Command> onHostEvent(HostEvent e) {
      if (e.reachable()) {
        avoidHosts.remove(e.host());
        return Behaviors.same();
      }
      avoidHosts.add(e.host());
      if (e.gone()) {
        List<Sent> lost = at.values().stream()
            .filter(x -> io.dynamollm.protocol.InstanceIds.onHost(x.instance(), e.host())).toList();
        for (Sent x : lost) {
          long id = x.pending().request().id();
          onDone(new Done(x.pending(), x.pool(), x.instance(), new InstanceManager.Served(id, Optional.empty(),
              Optional.of("its host " + e.host() + " left the cluster"), false)));
        }
      }
      return Behaviors.same();
    }

    Behavior<Command> behavior() {
      return Behaviors.receive(Command.class)
          .onMessage(GotRoutes.class, g -> {
            routes.put(g.routes().pool(), g.routes());
            g.routes().ready().forEach(i -> poolOf.put(i.instanceId(), g.routes().pool()));
            releaseHeld();
            return Behaviors.same();
          })
          .onMessage(Request.class, this::onRequest)
          .onMessage(Cancel.class, this::onCancel)
          .onMessage(Done.class, this::onDone)
          .onMessage(GotSlos.class, g -> {
            slos = g.slos();
            return Behaviors.same();
          })
          .onMessage(GetStats.class, g -> {
            int ready = routes.values().stream().mapToInt(rt -> rt.ready().size()).sum();
            g.replyTo().tell(new Stats(Map.copyOf(served), Map.copyOf(met), failed, rerouted, Map.copyOf(rate),
                Map.copyOf(poolOf), ready));
            return Behaviors.same();
          })
          .onMessageEquals(Tick.REPORT, this::report)
          .onMessage(HostEvent.class, this::onHostEvent)
          .build();
    }

    private Behavior<Command> onRequest(Request r) {
      var features = new RequestFeatures(r.id(), r.promptTokens(), r.maxTokens(), "default", Optional.empty(),
          OptionalInt.empty());
      SizeClass predicted = predictor.predict(features);
      var c = classifier.classify(r.promptTokens(), r.maxTokens(), predicted);
      if (c instanceof RequestClassifier.Rejected rej) {
        failed++;
        r.replyTo().tell(new Response(r.id(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
            false, Optional.empty(), Optional.of(rej.reason()), Outcome.REJECTED));
        return Behaviors.same();
      }
      RequestType type = ((RequestClassifier.Accepted) c).type();
      long second = (long) Math.floor(w.clock().nowMs() / 1000) * 1000;
      long[] seen = typeArrivals.computeIfAbsent(second, k -> new EnumMap<>(RequestType.class))
          .computeIfAbsent(type, k -> new long[2]);
      seen[0]++;
      seen[1] += r.promptTokens();
      double now = w.clock().nowMs();
      route(new Pending(r, type, predicted, 0, Double.NaN, now, now), Set.of());
      return Behaviors.same();
    }

    /** What the router knows of every pool: the ready instances they publish, with its own outstanding counts. */
    private List<RoutingPolicy.PoolView> views() {
      List<RoutingPolicy.PoolView> out = new ArrayList<>(routes.size());
      for (PoolRoutes r : routes.values()) {
        if (!avoidHosts.isEmpty()) {
          r = new PoolRoutes(r.pool(), r.nativeType(), r.types(), r.ready().stream()
              .filter(i -> !avoidHosts.contains(io.dynamollm.protocol.InstanceIds.hostOf(i.instanceId()))).toList());
        }
        out.add(RoutingPolicy.Pool.of(r, i -> outstanding.getOrDefault(i.instanceId(), 0)));
      }
      return out;
    }

    private Behavior<Command> onCancel(Cancel c) {
      Sent sent = at.get(c.id());
      if (sent != null) {
        cancelled.add(c.id());
        w.instances().ref(sent.instance()).tell(new InstanceManager.Cancel(c.id()));
        return Behaviors.same();
      }
      for (var it = held.iterator(); it.hasNext(); ) {
        Pending p = it.next();
        if (p.request().id() == c.id()) {
          it.remove();
          fail(p, Optional.empty(), "cancelled by the client", Outcome.CANCELLED);
          break;
        }
      }
      return Behaviors.same();
    }

    /** Routes {@code p} by the shared policy; holds it when nothing is ready (up to the hold limits). */
    private void route(Pending p, Set<String> avoid) {
      var choice = w.routing().route(p.type(), views(), avoid);
      if (choice instanceof RoutingPolicy.Route to) {
        send(p, to.pool(), to.instance());
        return;
      }
      if (choice instanceof RoutingPolicy.Shed shed) {
        fail(p, Optional.of(shed.pool()), shed.reason(), Outcome.OVERLOADED);
      } else if (!w.routing().mayHold(held.size())) {
        fail(p, Optional.empty(), "no instance serves " + p.type() + " and " + held.size()
            + " requests are already waiting", Outcome.NO_INSTANCE);
      } else {
        held.add(p.heldAt(w.clock().nowMs()));
      }
    }

    private void send(Pending pending, String pool, String instance) {
      Pending p = pending.sentAt(w.clock().nowMs());
      outstanding.merge(instance, 1, Integer::sum);
      arrivalsSinceReport.merge(instance, 1, Integer::sum);
      if (p.attempts() == 0) {
        poolRouted.computeIfAbsent(pool, k -> new EnumMap<>(RequestType.class)).merge(p.type(), 1, Integer::sum);
      }
      Request r = p.request();
      at.put(r.id(), new Sent(p, pool, instance));
      var request = new Engine.EngineRequest(r.id(), r.promptTokens(), Math.max(1, r.outputTokens()), r.call());
      ctx.ask(InstanceManager.Served.class, w.instances().ref(instance), answerTimeout,
          reply -> new InstanceManager.Submit(request, p.type(), sloOf(r, p.type()), reply,
              r.streamTo()),
          (s, err) -> new Done(p, pool, instance, s != null ? s
              : new InstanceManager.Served(r.id(), Optional.empty(), Optional.of("no answer from " + instance
                  + " within " + ANSWER_TIMEOUT.toMinutes() + " min: " + err), false)));
    }

    /** Retries held requests now that routes changed; those held too long fail. */
    private void releaseHeld() {
      double t = w.clock().nowMs();
      int n = held.size();
      for (int k = 0; k < n; k++) {
        Pending p = held.poll();
        if (w.routing().heldTooLong(p.heldSinceMs(), t)) {
          fail(p, Optional.empty(), "no instance served " + p.type() + " within "
              + w.routing().settings().holdTimeoutMs() / 1000 + " s", Outcome.NO_INSTANCE);
        } else {
          route(p, Set.of());
        }
      }
    }

    private Behavior<Command> onDone(Done d) {
      Sent sent = at.get(d.pending().request().id());
      if (sent == null || !sent.instance().equals(d.instance())) {
        return Behaviors.same(); // handed back already (its host left) and routed anew: a late answer
      }
      outstanding.merge(d.instance(), -1, Integer::sum);
      Pending p = d.pending();
      InstanceManager.Served s = d.served();
      at.remove(p.request().id());
      boolean gone = cancelled.remove(p.request().id());
      if (s.completion().isEmpty()) {
        if (gone || s.cancelled()) {
          fail(p, Optional.of(d.pool()), "cancelled by the client", Outcome.CANCELLED);
        } else if (s.reroute()) {
          // the instance's ladder sent it back before it started: another instance of this pool or a larger one
          rerouted++;
          var to = w.routing().reroute(p.type(), d.pool(), d.instance(), views());
          if (to.isPresent()) {
            send(p.again(), to.get().pool(), to.get().instance());
          } else {
            route(p.again(), Set.of(d.instance()));
          }
        } else if (s.error().orElse("").startsWith("rejected")) {
          // the instance's ladder shed it, already past its deadline: the cluster is overloaded
          fail(p, Optional.of(d.pool()), s.error().get(), Outcome.OVERLOADED);
        } else if (p.attempts() == 0 && !s.streamed()) {
          route(p.again(), Set.of(d.instance())); // e.g. it began draining meanwhile: once elsewhere
        } else {
          fail(p, Optional.of(d.pool()), s.error().orElse("failed") + (s.streamed() ? " (after its first tokens)" : ""),
              Outcome.FAILED);
        }
        return Behaviors.same();
      }
      // the client's TTFT: from its arrival here, however long it was held or re-routed before this instance got it
      Engine.Completion engine = s.completion().get();
      Engine.Completion c = engine.waited(p.waitedMs());
      var features = new RequestFeatures(p.request().id(), p.request().promptTokens(), p.request().maxTokens(),
          "default", Optional.empty(), OptionalInt.empty());
      predictor.observe(features, p.predicted(), c.outputTokens());
      completedLengths.add(new ClusterManager.Completed(p.type(), p.request().promptTokens(), c.outputTokens()));
      // judged against its own SLO (a client's header), else the SLO of its true type
      RequestType truth = classifier.thresholds().typeOf(p.request().promptTokens(), c.outputTokens());
      Slo judged = sloOf(p.request(), truth);
      boolean ok = judged.isMetBy(c.ttftMs(), c.tbtMs());
      served.merge(truth, 1L, Long::sum);
      if (ok) {
        met.merge(truth, 1L, Long::sum);
      }
      w.outcomes().served(d.pool(), truth, c, judged);
      // the pool's own outcome (its capacity correction) is how its instance served, not how long the router held
      long[] o = poolOutcomes.computeIfAbsent(d.pool(), k -> new long[2]);
      o[0]++;
      if (!judged.isMetBy(engine.ttftMs(), engine.tbtMs())) {
        o[1]++;
      }
      p.request().replyTo().tell(new Response(p.request().id(), Optional.of(p.type()), Optional.of(d.pool()),
          Optional.of(d.instance()), Optional.of(c), ok, Optional.of(judged), Optional.empty(), Outcome.SERVED));
      return Behaviors.same();
    }

    private void fail(Pending p, Optional<String> pool, String why, Outcome outcome) {
      if (outcome != Outcome.CANCELLED) {
        failed++;
      }
      w.outcomes().notServed(pool, p.type(), outcome);
      p.request().replyTo().tell(new Response(p.request().id(), Optional.of(p.type()), pool, Optional.empty(),
          Optional.empty(), false, Optional.of(sloOf(p.request(), p.type())), Optional.of(why), outcome));
    }

    /** The SLO a request is judged by: its own (a client's headers) over its type's. */
    private Slo sloOf(Request r, RequestType type) {
      Slo base = slos.of(type);
      return r.slo().map(o -> o.over(base)).orElse(base);
    }

    private Behavior<Command> report() {
      double t = w.clock().nowMs();
      if (!held.isEmpty()) {
        releaseHeld();
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
        w.pools().tell(pool, new PoolManager.Outcomes(o[0], o[1], poolRouted.getOrDefault(pool, Map.of())));
      }
      poolOutcomes.clear();
      poolRouted.clear();
      if (!typeArrivals.isEmpty() || !completedLengths.isEmpty()) {
        List<ClusterManager.Arrivals> arrivals = new ArrayList<>();
        typeArrivals.forEach((second, byType) -> byType.forEach((type, c) ->
            arrivals.add(new ClusterManager.Arrivals(second, type, (int) c[0], c[1]))));
        w.observed().tell(new ClusterManager.Observed(arrivals, completedLengths));
        typeArrivals.clear();
        completedLengths.clear();
      }
      return Behaviors.same();
    }
  }
}
