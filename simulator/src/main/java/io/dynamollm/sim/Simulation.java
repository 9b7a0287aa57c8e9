package io.dynamollm.sim;

import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.decision.routing.RequestClassifier;
import io.dynamollm.decision.routing.RequestFeatures;
import io.dynamollm.decision.routing.RoutingPolicy;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SizeClass;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.function.DoubleConsumer;

/**
 * Discrete-event simulation of one policy on one workload, on virtual time (ms). Deterministic: the same workload,
 * settings and seed give the same numbers. Requests are classified and routed by the same rules as the live routers
 * ({@link RequestClassifier}, {@link RoutingPolicy}); instances run the engine model every engine shares.
 */
public final class Simulation {

  private record Event(double time, long seq, SimInstance instance, int version, DoubleConsumer action) {}

  private final SimSettings settings;
  private final SimPolicy policy;
  private final RequestClassifier classifier;
  private final RoutingPolicy routing;
  private final PriorityQueue<Event> events = new PriorityQueue<>((a, b) -> a.time != b.time
      ? Double.compare(a.time, b.time) : Long.compare(a.seq, b.seq));
  private long seq;
  private double now;
  private int nextInstanceId;
  private long inFlight;
  final Map<String, SimPool> pools = new LinkedHashMap<>();
  private final Map<String, SimInstance> instances = new HashMap<>();
  /** Requests that found no ready instance anywhere, in arrival order. */
  private final ArrayDeque<SimRequest> held = new ArrayDeque<>();
  final Metrics metrics = new Metrics();
  private final Map<SimPool, double[]> parkedAccount = new LinkedHashMap<>(); // pool -> {sinceMs}
  private ProgressListener progress = (t, d) -> { };
  /** Makes each new instance's instance step (the policies that govern clocks); null for the others. */
  private java.util.function.Function<SimInstance, io.dynamollm.decision.instance.InstanceStep> instanceSteps;

  /** Told about the virtual time now and then. */
  public interface ProgressListener {
    void at(double nowMs, double durationMs);
  }

  public Simulation(SimSettings settings, SimPolicy policy) {
    this.settings = settings;
    this.policy = policy;
    this.classifier = new RequestClassifier(settings.thresholds());
    this.routing = new RoutingPolicy(settings.decisions().routing());
  }

  public Simulation onProgress(ProgressListener l) {
    this.progress = l;
    return this;
  }

  Profile profile() {
    return settings.profile();
  }

  SimSettings settings() {
    return settings;
  }

  RoutingPolicy routing() {
    return routing;
  }

  double transitionPowerW() {
    return settings.transitionPowerW();
  }

  double now() {
    return now;
  }

  // ------------------------------------------------------------------ run

  public PolicyResult run(Workload workload) {
    policy.start(this, workload);
    double duration = workload.durationMs();
    every(Metrics.BUCKET_MS, 0, this::sample);
    double nextProgress = 0;
    Iterator<TraceRequest> arrivals = workload.iterator();
    TraceRequest next = arrivals.hasNext() ? arrivals.next() : null;
    while (true) {
      Event e = events.peek();
      boolean takeArrival = next != null && (e == null || next.arrivalMs() < e.time);
      if (takeArrival) {
        now = next.arrivalMs();
        arrive(next);
        next = arrivals.hasNext() ? arrivals.next() : null;
      } else {
        if (next == null && inFlight == 0 && now >= duration) {
          break;
        }
        if (e == null) {
          break;
        }
        events.poll();
        now = e.time;
        if (e.instance != null) {
          e.instance.wake(now, e.version);
        } else {
          e.action.accept(now);
        }
      }
      if (now >= nextProgress) {
        progress.at(now, duration);
        nextProgress = now + 600_000;
        if (next == null && now > duration + 3_600_000.0) {
          throw new IllegalStateException(stuckReport());
        }
      }
    }
    double end = Math.max(now, duration);
    for (SimPool p : pools.values()) {
      for (SimInstance i : p.instances) {
        i.account(end);
      }
      accountParked(p, end);
    }
    metrics.finishGpus(end);
    return PolicyResult.of(policy.name(), settings, metrics, end, duration);
  }

  /** A run that outlives its workload by an hour has requests that can never finish: say which, loudly. */
  private String stuckReport() {
    StringBuilder b = new StringBuilder("simulation of " + policy.name() + " cannot finish: " + inFlight
        + " requests still in flight an hour after the workload ended (" + held.size() + " held);");
    for (SimPool p : pools.values()) {
      b.append(" pool ").append(p.name);
      for (SimInstance i : p.instances) {
        if (!i.engine.isEmpty()) {
          b.append(", instance ").append(i.id).append(' ').append(i.state).append(" waiting ")
              .append(i.engine.waitingCount()).append(" running ").append(i.engine.runningCount());
        }
      }
      b.append(';');
    }
    return b.toString();
  }

  private void arrive(TraceRequest t) {
    RequestType trueType = settings.thresholds().typeOf(
        Math.min(t.promptTokens(), settings.thresholds().maxContextTokens()), t.outputTokens());
    SizeClass predicted = settings.thresholds().outputClass(t.outputTokens());
    RequestFeatures features = null;
    if (policy.usesPrediction()) {
      features = RequestFeatures.simulated(t.id(), t.promptTokens(), t.outputTokens());
      predicted = settings.predictor().predict(features);
    }
    if (classifier.refusal(t.promptTokens(), t.outputTokens()).isPresent()) { // as the live replay: LoadGenerator
      metrics.rejected++;
      return;
    }
    RequestType routed = RequestType.of(settings.thresholds().inputClass(t.promptTokens()), predicted);
    SimRequest r = new SimRequest(t.id(), t.arrivalMs(), t.promptTokens(), t.outputTokens(), trueType, predicted,
        routed);
    if (features != null) {
      settings.predictor().observe(features, predicted, t.outputTokens());
    }
    inFlight++;
    policy.observeArrival(now, r);
    route(r, Set.of());
  }

  /** Where the live routers would send it ({@link RoutingPolicy}); held when no instance is ready anywhere. */
  void route(SimRequest r, Set<String> avoid) {
    var choice = routing.route(r.routedType, views(), avoid);
    if (choice instanceof RoutingPolicy.Route to) {
      SimInstance i = instances.get(to.instance());
      if (to.overflow()) {
        metrics.overflowed++;
      }
      i.pool.onRouted.accept(r);
      i.enqueue(now, r, true);
      return;
    }
    if (choice instanceof RoutingPolicy.Shed || !routing.mayHold(held.size())) {
      dropped(r);
      return;
    }
    if (Double.isNaN(r.heldSinceMs)) {
      r.heldSinceMs = now;
    }
    held.add(r);
  }

  /**
   * What the routers know of every pool: its ready instances, their planned capacity and outstanding requests (the
   * pools and instances themselves: nothing is copied per request).
   */
  Collection<SimPool> views() {
    return pools.values();
  }

  SimInstance instance(String id) {
    return instances.get(id);
  }

  /** GPUs held by instances that have not stopped (starting, serving, re-sharding, draining). */
  int gpusInInstances() {
    int g = 0;
    for (SimPool p : pools.values()) {
      g += p.gpusInInstances();
    }
    return g;
  }

  /** Every instance that serves now. */
  List<SimInstance> readyInstances() {
    List<SimInstance> out = new ArrayList<>();
    for (SimPool p : pools.values()) {
      out.addAll(p.ready());
    }
    return out;
  }

  /** From now on every new instance gets an instance step from {@code factory} and starts at its clock. */
  void instanceSteps(java.util.function.Function<SimInstance, io.dynamollm.decision.instance.InstanceStep> factory) {
    this.instanceSteps = factory;
  }

  private void attachStep(SimInstance i) {
    if (instanceSteps != null) {
      i.step = instanceSteps.apply(i);
      i.clockMhz = i.step.clockMhz();
    }
  }

  boolean anyReady() {
    for (SimPool p : pools.values()) {
      if (!p.ready().isEmpty()) {
        return true;
      }
    }
    return false;
  }

  /** A request that has not started goes back to the router, not to {@code from}. */
  void reroute(SimRequest r, SimInstance from) {
    r.reroutes++;
    route(r, Set.of(from.id));
  }

  /** The ladder's re-route: to {@code to}, taken out of its instance's queue already. */
  void rerouteTo(SimRequest r, SimInstance to) {
    r.reroutes++;
    metrics.rerouted++;
    to.pool.onRouted.accept(r);
    to.enqueue(now, r, true);
  }

  void completed(SimRequest r) {
    inFlight--;
    Slo slo = settings.slos().of(r.trueType);
    boolean ttftOk = r.ttftMs() <= slo.ttftP99Ms();
    boolean tbtOk = r.tbtMs() <= slo.tbtP99Ms();
    metrics.completed(r.ttftMs(), r.tbtMs(), ttftOk && tbtOk);
    metrics.completedType(r.trueType.ordinal(), ttftOk, tbtOk);
    r.instance.pool.onCompleted.accept(r, ttftOk && tbtOk);
    policy.observeCompletion(now, r);
  }

  void dropped(SimRequest r) {
    inFlight--;
    metrics.dropped++;
  }

  // ------------------------------------------------------------------ events

  void schedule(double time, SimInstance instance, int version) {
    events.add(new Event(time, seq++, instance, version, null));
  }

  void at(double time, DoubleConsumer action) {
    events.add(new Event(Math.max(time, now), seq++, null, 0, action));
  }

  /** Runs {@code action} every {@code periodMs} from {@code firstMs} while the workload lasts or requests remain. */
  void every(double periodMs, double firstMs, DoubleConsumer action) {
    at(firstMs, new DoubleConsumer() {
      @Override
      public void accept(double t) {
        action.accept(t);
        at(t + periodMs, this); // the run loop stops once the workload is over and nothing is in flight
      }
    });
  }

  // ------------------------------------------------------------------ pools and instances

  SimPool pool(String name, RequestType nativeType, Slo slo, Set<RequestType> types) {
    SimPool p = pools.computeIfAbsent(name, n -> new SimPool(this, n, nativeType, slo));
    p.nativeType = nativeType;
    p.slo = slo;
    p.types = java.util.EnumSet.noneOf(RequestType.class);
    p.types.addAll(types);
    parkedAccount.putIfAbsent(p, new double[] {now});
    return p;
  }

  /** A new instance; ready at once when {@code startupMs} is 0, else after starting. */
  SimInstance addInstance(SimPool pool, TensorParallelism tp, int clockMhz, double startupMs, double capacityRps,
      boolean countAsScale) {
    SimInstance i = new SimInstance("i" + nextInstanceId++, pool, tp, clockMhz,
        startupMs <= 0 ? InstanceState.READY : InstanceState.STARTING, now);
    i.capacityRps = capacityRps;
    attachStep(i);
    pool.instances.add(i);
    instances.put(i.id, i);
    metrics.gpus(now, tp.degree());
    updateParked(); // its GPUs are no longer parked (its pool's, or the cluster's free ones)
    if (countAsScale) {
      metrics.scaleChanges++;
    }
    if (startupMs <= 0) {
      instanceReady(now, i);
    } else {
      i.beginTransition(now, InstanceState.STARTING, startupMs);
    }
    return i;
  }

  void removeInstance(SimInstance i, boolean countAsScale) {
    if (i.state == InstanceState.STOPPED || i.state == InstanceState.DRAINING) {
      return;
    }
    if (countAsScale) {
      metrics.scaleChanges++;
    }
    i.drain(now);
  }

  /**
   * Re-shards {@code old} — its GPUs and those of {@code partners}, which drain — into instances of {@code into} on
   * the same GPUs: they serve after {@code durationMs}; the old instance's running requests continue on the first new
   * one (their KV cache moves with the shards), its waiting ones are routed afresh.
   */
  List<SimInstance> reshard(SimInstance old, List<SimInstance> partners, List<PoolPlan.Group> into,
      double durationMs) {
    SimPool pool = old.pool;
    // the old instance and its partners give their GPUs to the new ones at once: their running requests continue on
    // the first new instance (their KV cache moves with the shards), their waiting ones are routed afresh
    List<SimInstance> gone = new ArrayList<>();
    gone.add(old);
    // a partner whose running requests the new instances have no batch room for drains beside them instead
    int room = into.isEmpty() ? 0 : profile().maxBatch(into.get(0).tp()) - old.engine.runningCount();
    pool.muted = true;
    for (SimInstance p : partners) {
      if (p.state == InstanceState.STOPPED) {
        continue;
      }
      if (p.engine.runningCount() <= room) {
        room -= p.engine.runningCount();
        gone.add(p);
      } else {
        removeInstance(p, false);
      }
    }
    pool.muted = false;
    List<SimRequest> waiting = new ArrayList<>();
    for (SimInstance g : gone) {
      g.halt(now);
      g.engine.takeWaiting().forEach(j -> waiting.add(j.payload()));
      g.state = InstanceState.STOPPED;
      metrics.gpus(now, -g.tp.degree());
    }
    List<SimInstance> created = new ArrayList<>();
    for (PoolPlan.Group g : into) {
      SimInstance n = new SimInstance("i" + nextInstanceId++, pool, g.tp(), g.clockMhz(), InstanceState.RESHARDING,
          now);
      n.capacityRps = g.capacityRps();
      attachStep(n);
      pool.instances.add(n);
      instances.put(n.id, n);
      metrics.gpus(now, g.tp().degree());
      n.beginTransition(now, InstanceState.RESHARDING, durationMs);
      created.add(n);
    }
    metrics.reshards++;
    for (SimInstance g : gone) {
      if (!created.isEmpty()) {
        g.engine.moveRunningTo(created.get(0).engine);
      }
      instances.remove(g.id);
      pool.instances.remove(g);
    }
    if (!created.isEmpty()) {
      for (var j : created.get(0).engine.all()) {
        j.payload().instance = created.get(0);
      }
    }
    updateParked();
    pool.refreshReady();
    for (SimRequest r : waiting) {
      reroute(r, old);
    }
    return created;
  }

  void instanceReady(double t, SimInstance i) {
    stateChanged(i);
    i.kick(t);
    int n = held.size();
    for (int k = 0; k < n; k++) {
      SimRequest r = held.poll();
      if (routing.heldTooLong(r.heldSinceMs, t)) {
        dropped(r); // held longer than a client would wait
      } else {
        route(r, Set.of());
      }
    }
  }

  void stateChanged(SimInstance i) {
    i.pool.refreshReady();
    if (!i.pool.muted) {
      i.pool.onStateChange.accept(i);
    }
  }

  void instanceStopped(double t, SimInstance i) {
    metrics.gpus(t, -i.tp.degree());
    instances.remove(i.id);
    i.pool.instances.remove(i); // its energy is accounted; it holds no GPU any more
    stateChanged(i);
    updateParked(); // its GPUs are parked where a budget still holds them
  }

  /** {@code pool}'s budget is {@code budgetGpus} from now: the GPUs of it no instance holds are parked. */
  void updateParked(SimPool pool, int budgetGpus) {
    if (budgetGpus < 0) {
      throw new IllegalArgumentException("a budget of " + budgetGpus + " GPUs");
    }
    pool.budgetGpus = budgetGpus;
    updateParked();
  }

  /**
   * Budget GPUs not in an instance are parked (drawing idle power). A GPU is held once: where another pool's instances
   * still hold GPUs of this budget (a pool over its budget during a hand-over), only the cluster's GPUs no instance
   * holds are parked, the pools' shares of them in pool order.
   */
  private void updateParked() {
    // a draining instance still holds its GPUs: they are parked only once it has stopped
    int free = Math.max(0, settings.servers() * 8 - gpusInInstances());
    for (SimPool p : pools.values()) {
      int parked = Math.min(free, Math.max(0, p.budgetGpus - p.gpusInInstances()));
      free -= parked;
      if (parked != p.parkedGpus) {
        accountParked(p, now);
        metrics.gpus(now, parked - p.parkedGpus);
        p.parkedGpus = parked;
      }
    }
  }

  private void accountParked(SimPool pool, double t) {
    double[] since = parkedAccount.computeIfAbsent(pool, k -> new double[] {t});
    if (pool.parkedGpus > 0 && t > since[0]) {
      addEnergy(since[0], t, pool.parkedGpus * profile().idlePowerW());
    }
    since[0] = t;
  }

  void addEnergy(double fromMs, double toMs, double powerW) {
    metrics.addEnergy(fromMs, toMs, powerW);
  }

  void countFrequencyChange() {
    metrics.frequencyChanges++;
  }

  /** Held requests that waited too long fail; samples the pools for the charts. */
  private void sample(double t) {
    for (Iterator<SimRequest> it = held.iterator(); it.hasNext(); ) {
      SimRequest r = it.next();
      if (routing.heldTooLong(r.heldSinceMs, t)) {
        it.remove();
        dropped(r);
      }
    }
    double minute = t / 60_000.0;
    for (SimPool p : pools.values()) {
      int n = 0;
      double tpSum = 0;
      double clockSum = 0;
      for (SimInstance i : p.instances) {
        if (i.state == InstanceState.READY || i.state == InstanceState.DRAINING) {
          n++;
          tpSum += i.tp.degree();
          clockSum += i.clockMhz;
        }
      }
      metrics.sample(p.name, minute, n, p.gpusInInstances() + p.parkedGpus, n > 0 ? tpSum / n : 0,
          n > 0 ? clockSum / n : 0);
    }
  }

  /** The ready instance a request of {@code type} waiting on {@code from} may go to instead; empty when none. */
  Optional<SimInstance> rerouteTarget(RequestType type, SimInstance from) {
    return routing.reroute(type, from.pool.name, from.id, views()).map(r -> instances.get(r.instance()));
  }
}
