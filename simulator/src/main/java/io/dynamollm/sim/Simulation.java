package io.dynamollm.sim;

import io.dynamollm.decision.routing.RequestClassifier;
import io.dynamollm.decision.routing.RequestFeatures;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SizeClass;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.function.DoubleConsumer;

/**
 * Discrete-event simulation of one policy on one workload, on virtual time (ms). Deterministic: the same workload,
 * settings and seed give the same numbers.
 */
public final class Simulation {
  static final int MAX_PREFILL_TOKENS = 8192;
  /** Outstanding requests per req/s of planned capacity above which a request may overflow to a larger pool. */
  static final double OVERFLOW_SCORE = 4.0;

  private record Event(double time, long seq, SimInstance instance, int version, DoubleConsumer action) {}

  private final SimSettings settings;
  private final SimPolicy policy;
  private final RequestClassifier classifier;
  private final PriorityQueue<Event> events = new PriorityQueue<>((a, b) -> a.time != b.time
      ? Double.compare(a.time, b.time) : Long.compare(a.seq, b.seq));
  private long seq;
  private double now;
  private int nextInstanceId;
  private long inFlight;
  final Map<String, SimPool> pools = new LinkedHashMap<>();
  final Metrics metrics = new Metrics();
  private final Map<SimPool, double[]> parkedAccount = new LinkedHashMap<>(); // pool -> {sinceMs}
  private ProgressListener progress = (t, d) -> { };

  /** Told about the virtual time now and then. */
  public interface ProgressListener {
    void at(double nowMs, double durationMs);
  }

  public Simulation(SimSettings settings, SimPolicy policy) {
    this.settings = settings;
    this.policy = policy;
    this.classifier = new RequestClassifier(settings.thresholds());
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
    double sampleEvery = Metrics.BUCKET_MS;
    every(sampleEvery, 0, this::sample);
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
        + " requests still in flight an hour after the workload ended;");
    for (SimPool p : pools.values()) {
      b.append(" pool ").append(p.name).append(": backlog ").append(p.backlog.size());
      for (SimInstance i : p.instances) {
        if (!i.waiting.isEmpty() || !i.running.isEmpty()) {
          b.append(", instance ").append(i.id).append(' ').append(i.state).append(" waiting ").append(i.waiting.size())
              .append(" running ").append(i.running.size());
        }
      }
      b.append(';');
    }
    return b.toString();
  }

  private void arrive(TraceRequest t) {
    RequestType trueType = settings.thresholds().typeOf(Math.min(t.promptTokens(), settings.thresholds().maxContextTokens()),
        t.outputTokens());
    SizeClass predicted = settings.thresholds().outputClass(t.outputTokens());
    RequestFeatures features = null;
    if (policy.usesPrediction()) {
      features = RequestFeatures.simulated(t.id(), t.promptTokens(), t.outputTokens());
      predicted = settings.predictor().predict(features);
    }
    if ((long) t.promptTokens() + t.outputTokens() > settings.thresholds().maxContextTokens()
        || classifier.classify(t.promptTokens(), 0, predicted) instanceof RequestClassifier.Rejected) {
      metrics.rejected++;
      return;
    }
    RequestType routed = RequestType.of(settings.thresholds().inputClass(t.promptTokens()), predicted);
    SimRequest r = new SimRequest(t.id(), t.arrivalMs(), t.promptTokens(), t.outputTokens(), trueType, predicted, routed);
    if (features != null) {
      settings.predictor().observe(features, predicted, t.outputTokens());
    }
    inFlight++;
    policy.observeArrival(now, r);
    SimPool pool = policy.poolFor(routed);
    route(pool, r);
  }

  /**
   * To the pool's best ready instance, else a larger pool's, else any pool's (every instance serves the same model;
   * only efficiency differs), else the pool's backlog until an instance is ready.
   */
  void route(SimPool pool, SimRequest r) {
    SimInstance target = pool.pick();
    if (target != null && target.loadScore() > OVERFLOW_SCORE) {
      // the pool is past its planned capacity: overflow into a larger pool with room
      for (SimPool other : pools.values()) {
        if (other != pool && other.nativeType.covers(r.routedType)) {
          SimInstance i = other.pick();
          if (i != null && i.loadScore() < target.loadScore() * 0.5) {
            target = i;
          }
        }
      }
    }
    for (int pass = 0; pass < 2 && target == null; pass++) {
      for (SimPool other : pools.values()) {
        if (other != pool && (pass == 1 || other.nativeType.covers(r.routedType))) {
          SimInstance i = other.pick();
          if (i != null && (target == null || i.outstanding() < target.outstanding())) {
            target = i;
          }
        }
      }
    }
    if (target == null) {
      pool.backlog.add(r);
      return;
    }
    target.enqueue(now, r);
  }

  boolean anyReady() {
    for (SimPool p : pools.values()) {
      if (p.pick() != null) {
        return true;
      }
    }
    return false;
  }

  void reroute(double t, SimRequest r, SimPool pool) {
    r.reroutes++;
    route(pool, r);
  }

  void completed(SimRequest r) {
    inFlight--;
    Slo slo = settings.slos().of(r.trueType);
    boolean ttftOk = r.ttftMs() <= slo.ttftP99Ms();
    boolean tbtOk = r.tbtMs() <= slo.tbtP99Ms();
    metrics.completed(r.ttftMs(), r.tbtMs(), ttftOk && tbtOk);
    if (r.instance != null) {
      r.instance.pool.epochCompleted++;
      if (!(ttftOk && tbtOk)) {
        r.instance.pool.epochMissed++;
      }
    }
    metrics.completedType(r.trueType.ordinal(), ttftOk, tbtOk);
  }

  void dropped(SimRequest r) {
    inFlight--;
    r.dropped = true;
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
    p.types = types.isEmpty() ? p.types : java.util.EnumSet.copyOf(types);
    parkedAccount.putIfAbsent(p, new double[] {now});
    return p;
  }

  /** A new instance; ready at once when {@code startupMs} is 0, else after starting. */
  SimInstance addInstance(SimPool pool, TensorParallelism tp, int clockMhz, double startupMs, boolean countAsScale) {
    SimInstance i;
    if (startupMs <= 0) {
      i = new SimInstance(nextInstanceId++, pool, tp, clockMhz, SimInstance.State.READY, now, now);
      pool.instances.add(i);
      i.kick(now);
      instanceReady(now, i);
    } else {
      i = new SimInstance(nextInstanceId++, pool, tp, clockMhz, SimInstance.State.STARTING, now, now + startupMs);
      pool.instances.add(i);
      i.beginTransition(now, SimInstance.State.STARTING, startupMs);
    }
    metrics.gpus(now, tp.degree());
    if (countAsScale) {
      metrics.scaleChanges++;
    }
    return i;
  }

  void removeInstance(SimInstance i, boolean countAsScale) {
    if (i.state == SimInstance.State.STOPPED || i.state == SimInstance.State.DRAINING) {
      return;
    }
    if (countAsScale) {
      metrics.scaleChanges++;
    }
    i.drain(now);
  }

  /**
   * Re-shards {@code old} into instances of {@code tps} on the same GPUs: they serve after {@code durationMs}; the old
   * instance's running requests continue on the first new one, its waiting ones are routed afresh.
   */
  List<SimInstance> reshard(SimInstance old, List<TensorParallelism> tps, int clockMhz, double durationMs) {
    SimPool pool = old.pool;
    old.halt(now);
    List<SimInstance> created = new ArrayList<>();
    List<SimRequest> waiting = new ArrayList<>(old.waiting);
    old.waiting.clear();
    List<SimRequest> running = new ArrayList<>(old.running);
    old.running.clear();
    long oldStep = old.stepIndex;
    old.state = SimInstance.State.STOPPED;
    metrics.gpus(now, -old.tp.degree());
    old.kvUsed = 0;
    for (TensorParallelism tp : tps) {
      SimInstance n = new SimInstance(nextInstanceId++, pool, tp, clockMhz, SimInstance.State.RESHARDING, now, now + durationMs);
      pool.instances.add(n);
      metrics.gpus(now, tp.degree());
      n.beginTransition(now, SimInstance.State.RESHARDING, durationMs);
      created.add(n);
    }
    metrics.reshards++;
    if (!created.isEmpty()) {
      SimInstance first = created.get(0);
      for (SimRequest r : running) {
        long remaining = r.finishStep - oldStep;
        r.joinStep = first.stepIndex - (oldStep - r.joinStep);
        r.finishStep = first.stepIndex + remaining;
        r.instance = first;
        first.running.add(r);
        first.kvUsed += r.kvTokens();
        first.sumPrompt += r.prompt;
        first.sumJoin += r.joinStep;
      }
    }
    for (SimRequest r : waiting) {
      reroute(now, r, pool);
    }
    return created;
  }

  void instanceReady(double t, SimInstance i) {
    for (SimPool p : pools.values()) {
      int n = p.backlog.size();
      for (int k = 0; k < n; k++) {
        route(p, p.backlog.poll());
      }
    }
  }

  void instanceStopped(double t, SimInstance i) {
    metrics.gpus(t, -i.tp.degree());
    if (i.pool.budgetGpus > 0) {
      Policies.updateParked(this, i.pool, -1);
    }
  }

  void setParked(SimPool pool, int gpus) {
    accountParked(pool, now);
    metrics.gpus(now, gpus - pool.parkedGpus);
    pool.parkedGpus = gpus;
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

  private void sample(double t) {
    double minute = t / 60_000.0;
    for (SimPool p : pools.values()) {
      int n = 0;
      double tpSum = 0;
      double clockSum = 0;
      for (SimInstance i : p.instances) {
        if (i.state == SimInstance.State.READY || i.state == SimInstance.State.DRAINING) {
          n++;
          tpSum += i.tp.degree();
          clockSum += i.clockMhz;
        }
      }
      metrics.sample(p.name, minute, n, p.gpusInInstances() + p.parkedGpus, n > 0 ? tpSum / n : 0, n > 0 ? clockSum / n : 0);
    }
  }
}
