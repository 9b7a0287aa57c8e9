package io.dynamollm.control.live;

import io.dynamollm.control.cluster.ClusterLimits;
import io.dynamollm.control.cluster.LayoutStore;
import io.dynamollm.control.cluster.LimitsStore;
import io.dynamollm.control.cluster.SloStore;
import io.dynamollm.decision.cluster.ClusterLayout;
import io.dynamollm.decision.cluster.LoadForecaster;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.pool.PoolManager;
import io.dynamollm.protocol.CborSerializable;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * The cluster level (a Cluster Singleton on control nodes). Every cluster epoch: forecast each type's peak from the
 * arrivals the routers report ({@link LoadForecaster}), decide the pools ({@link ClusterLayout}: the budgeter within
 * the cluster's GPUs, with the SLOs read from the SLO store that epoch and the capacity corrections the pools'
 * telemetry reports), and send each pool manager its budget — a pool that is no longer needed gets a budget of zero
 * and drains. The first epoch comes early (after {@code warmup}); until the forecaster has a forecast window of
 * history, one pool of type LL on every GPU at the maximum clock serves everything (the SinglePool baseline), and the
 * manager looks again every pool epoch.
 */
public final class ClusterManager {

  public sealed interface Command permits Observed, PoolReport, Rebudget, GetPools, Stop, Internal {}

  /** Arrivals per type a router saw since its last report. */
  public record Observed(long atMillis, Map<RequestType, Integer> arrivals) implements Command, CborSerializable {}

  /**
   * Budget again soon (after {@code warmup}) rather than at the next cluster epoch: the admin API sends it once a
   * changed SLO or limit is stored, so it takes effect within a minute of model time.
   */
  public record Rebudget(String reason) implements Command, CborSerializable {}

  /** A pool manager's telemetry (every keep-alive). */
  public record PoolReport(PoolTelemetry telemetry) implements Command, CborSerializable {}

  /** The pools of the current epoch (names). */
  public record GetPools(ActorRef<Pools> replyTo) implements Command, CborSerializable {}

  /** The current epoch's pools, and the latest telemetry each pool manager sent up (absent until it reports). */
  public record Pools(List<String> names, Map<String, PoolTelemetry> telemetry) implements CborSerializable {}

  /** Hand-over message for the singleton. */
  public record Stop() implements Command, CborSerializable {}

  sealed interface Internal extends Command, NoSerializationVerificationNeeded {}

  private enum Tick implements Internal { EPOCH, POOL_EPOCH }

  private record HostsListing(Receptionist.Listing listing) implements Internal {}

  private record Budgeting(SloTable slos, int gpus, ClusterLimits limits) implements Internal {}

  /** What an epoch reads before it budgets. */
  private record Read(SloTable slos, ClusterLimits limits) {}

  private record Resumed(Optional<LayoutStore.Layout> layout) implements Internal {}

  private record Stored(long epoch, boolean ok) implements Internal {}

  /** Sends a command to a pool manager wherever it lives (sharding in a cluster). */
  public interface PoolRefs {
    void tell(String pool, PoolManager.Command command);
  }

  /**
   * @param clusterEpoch how often pools are re-budgeted (model time)
   * @param warmup when the first budget comes (model time)
   */
  public record Settings(Duration clusterEpoch, Duration poolEpoch, Duration warmup, double speedup,
      FrequencyBounds bounds) {}

  private ClusterManager() {}

  /**
   * @param layouts the epoch's decision (pure; the simulator's {@code dynamollm-live} policy runs the same)
   * @param limits the operator's clock range and GPU budget (read each epoch; {@code settings.bounds()} and every GPU
   *     when it does not answer)
   * @param layoutStore where each epoch's layout is kept (durable), and read back by a manager that takes over
   */
  public static Behavior<Command> create(ClusterLayout layouts, PoolRefs pools, ActorRef<SloStore.Command> slos,
      ActorRef<LimitsStore.Command> limits, ActorRef<LayoutStore.Command> layoutStore, ActorRef<Decision> decisions,
      Settings settings, java.util.function.DoubleSupplier modelNowMs) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Running(ctx, timers, layouts, pools, slos, limits,
        layoutStore, decisions, settings, modelNowMs).behavior()));
  }

  private static final class Running {
    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final PoolRefs pools;
    private final ActorRef<SloStore.Command> slos;
    private final ActorRef<Decision> decisions;
    private final Settings settings;
    private final java.util.function.DoubleSupplier now;
    private final ActorRef<LayoutStore.Command> layoutStore;
    private final ClusterLayout layouts;
    /** Each pool's latest telemetry. */
    private final Map<String, PoolTelemetry> poolTelemetry = new HashMap<>();
    /** When each pool last got GPUs between epochs (model ms). */
    private final Map<String, Double> lastTopUpMs = new HashMap<>();
    /** The GPUs the pools may hold (the hosts' GPUs within the operator's budget) at the last epoch. */
    private int clusterGpus;
    /** The clock range of the last epoch (the operator's limits). */
    private FrequencyBounds bounds;
    private final ActorRef<LimitsStore.Command> limits;
    private final LoadForecaster forecaster = new LoadForecaster(LoadForecaster.Settings.DEFAULT);
    private Set<ActorRef<HostAgent.Command>> hosts = Set.of();
    private List<String> current = List.of();
    /** Each current pool's native type and the types it serves. */
    private final Map<String, PoolManager.Assign> assigned = new HashMap<>();
    private SloTable lastSlos;
    private final Map<String, Integer> currentGpus = new HashMap<>();
    private long epoch;
    private boolean seenTraffic;

    Running(ActorContext<Command> ctx, TimerScheduler<Command> timers, ClusterLayout layouts, PoolRefs pools,
        ActorRef<SloStore.Command> slos, ActorRef<LimitsStore.Command> limits, ActorRef<LayoutStore.Command> layoutStore,
        ActorRef<Decision> decisions, Settings settings, java.util.function.DoubleSupplier now) {
      this.layouts = layouts;
      this.layoutStore = layoutStore;
      this.limits = limits;
      this.bounds = settings.bounds();
      // a cluster manager that took over from another node resumes the last epoch's pools
      ctx.ask(Optional.class, layoutStore, Duration.ofSeconds(15), reply -> new LayoutStore.Load(castReply(reply)),
          (l, err) -> new Resumed(l == null ? Optional.empty() : castLayout(l)));
      this.ctx = ctx;
      this.timers = timers;
      this.pools = pools;
      this.slos = slos;
      this.decisions = decisions;
      this.settings = settings;
      this.now = now;
      ctx.getSystem().receptionist().tell(Receptionist.subscribe(HostAgent.KEY,
          ctx.messageAdapter(Receptionist.Listing.class, HostsListing::new)));
      timers.startSingleTimer(Tick.EPOCH, wall(settings.warmup()));
      timers.startTimerWithFixedDelay(Tick.POOL_EPOCH, wall(settings.poolEpoch()));
    }

    private Duration wall(Duration model) {
      return Duration.ofNanos(Math.max(1_000_000, (long) (model.toNanos() / settings.speedup())));
    }

    Behavior<Command> behavior() {
      return Behaviors.receive(Command.class)
          .onMessage(Observed.class, o -> {
            o.arrivals().forEach((t, n) -> forecaster.observe(o.atMillis(), t, n));
            seenTraffic = true;
            return Behaviors.same();
          })
          .onMessage(PoolReport.class, this::onPoolReport)
          .onMessage(Rebudget.class, r -> {
            ctx.getLog().info("budgeting again in {}: {}", settings.warmup(), r.reason());
            timers.startSingleTimer(Tick.EPOCH, wall(settings.warmup()));
            return Behaviors.same();
          })
          .onMessage(HostsListing.class, l -> {
            Set<ActorRef<HostAgent.Command>> now = l.listing().getServiceInstances(HostAgent.KEY);
            if (epoch > 0 && !now.equals(hosts)) {
              // a GPU host joined or left: the budgets no longer match the cluster's GPUs; budget again soon
              ctx.getLog().info("GPU hosts changed ({} -> {}): budgeting again in {}", hosts.size(), now.size(),
                  settings.warmup());
              timers.startSingleTimer(Tick.EPOCH, wall(settings.warmup()));
            }
            hosts = now;
            return Behaviors.same();
          })
          .onMessage(GetPools.class, g -> {
            Map<String, PoolTelemetry> latest = new HashMap<>();
            for (String pool : current) {
              if (poolTelemetry.containsKey(pool)) {
                latest.put(pool, poolTelemetry.get(pool));
              }
            }
            g.replyTo().tell(new Pools(current, latest));
            return Behaviors.same();
          })
          .onMessageEquals(Tick.EPOCH, this::onEpoch)
          .onMessageEquals(Tick.POOL_EPOCH, this::onPoolEpoch)
          .onMessage(Budgeting.class, this::onBudgeting)
          .onMessage(Resumed.class, this::onResumed)
          .onMessage(Stored.class, st -> {
            if (!st.ok()) {
              ctx.getLog().warn("cluster epoch {}: the pool layout was not stored on a majority (it still applies)",
                  st.epoch());
            }
            return Behaviors.same();
          })
          .onMessage(Stop.class, s -> Behaviors.stopped())
          .build();
    }

    private Behavior<Command> onEpoch() {
      timers.startSingleTimer(Tick.EPOCH, wall(settings.clusterEpoch()));
      // the SLOs of this epoch and the GPUs the hosts have: gathered, then budgeted
      List<ActorRef<HostAgent.Command>> agents = new ArrayList<>(hosts);
      var inventories = new java.util.concurrent.ConcurrentHashMap<ActorRef<HostAgent.Command>, Integer>();
      var all = new ArrayList<java.util.concurrent.CompletableFuture<?>>();
      for (var a : agents) {
        all.add(org.apache.pekko.actor.typed.javadsl.AskPattern.<HostAgent.Command, HostAgent.Inventory>ask(a,
            HostAgent.GetInventory::new, Duration.ofSeconds(5), ctx.getSystem().scheduler())
            .thenAccept(inv -> inventories.put(a, inv.gpus().size())).toCompletableFuture()
            .exceptionally(e -> null));
      }
      var slosF = org.apache.pekko.actor.typed.javadsl.AskPattern.<SloStore.Command, SloTable>ask(slos,
          SloStore.Get::new, Duration.ofSeconds(10), ctx.getSystem().scheduler()).toCompletableFuture();
      ClusterLimits fallback = new ClusterLimits(settings.bounds(), 0);
      var limitsF = org.apache.pekko.actor.typed.javadsl.AskPattern.<LimitsStore.Command, ClusterLimits>ask(limits,
          LimitsStore.Get::new, Duration.ofSeconds(10), ctx.getSystem().scheduler()).toCompletableFuture()
          .exceptionally(e -> {
            ctx.getLog().warn("cluster epoch: the cluster limits did not answer ({}); the configured ones apply", e.toString());
            return fallback;
          });
      var done = java.util.concurrent.CompletableFuture.allOf(all.toArray(new java.util.concurrent.CompletableFuture[0]))
          .thenCombine(slosF, (x, s) -> s);
      ctx.pipeToSelf(done.thenCombine(limitsF, Read::new), (in, err) -> {
        if (err != null) {
          ctx.getLog().warn("cluster epoch: could not read the SLOs ({}); budgets unchanged", err.toString());
          return new Budgeting(null, 0, fallback);
        }
        return new Budgeting(in.slos(),
            in.limits().usableGpus(inventories.values().stream().mapToInt(Integer::intValue).sum()), in.limits());
      });
      return Behaviors.same();
    }

    private Behavior<Command> onBudgeting(Budgeting b) {
      if (b.slos() == null) {
        return Behaviors.same();
      }
      if (b.gpus() == 0) {
        ctx.getLog().info("cluster epoch: no GPU host has joined yet; trying again in {}", settings.warmup());
        decide("cluster", "no budget", "no GPU host in the cluster yet", 0);
        timers.startSingleTimer(Tick.EPOCH, wall(settings.warmup()));
        return Behaviors.same();
      }
      epoch++;
      clusterGpus = b.gpus();
      lastTopUpMs.clear();
      long epochStart = (long) now.getAsDouble();
      Map<RequestType, LoadForecaster.Forecast> forecast = seenTraffic
          ? forecaster.forecast(epochStart, settings.clusterEpoch().toMillis()) : Map.of();
      // each type's capacity correction: that of the pool that served it (its telemetry)
      Map<RequestType, Double> corrections = new EnumMap<>(RequestType.class);
      assigned.forEach((pool, a) -> {
        PoolTelemetry t = poolTelemetry.get(pool);
        if (t != null && t.capacityCorrection() > 1) {
          a.budget().types().forEach(type -> corrections.merge(type, t.capacityCorrection(), Math::max));
        }
      });
      bounds = b.limits().bounds();
      ClusterLayout.Layout layout = layouts.decide(epochStart, forecast, b.slos(), b.gpus(), bounds,
          currentGpus, corrections);
      List<PoolManager.Assign> assigns = new ArrayList<>();
      for (ClusterLayout.Pool p : layout.pools()) {
        Map<RequestType, Slo> s = new EnumMap<>(RequestType.class);
        for (RequestType t : p.types()) {
          s.put(t, b.slos().of(t));
        }
        assigns.add(new PoolManager.Assign(new PoolBudget(p.name(), epoch, p.gpus(), p.types(), p.forecastRps(), s,
            p.bounds()), p.nativeType(), p.loadRps()));
      }
      String reason = layout.reason();
      if (layout.bootstrap()) {
        timers.startSingleTimer(Tick.EPOCH, wall(settings.poolEpoch())); // look again soon
      }
      Set<String> next = new HashSet<>();
      for (var a : assigns) {
        next.add(a.budget().pool());
      }
      // pools no longer needed drain first, so their GPUs are free for the others
      for (String old : current) {
        if (!next.contains(old)) {
          pools.tell(old, new PoolManager.Assign(new PoolBudget(old, epoch, 0, Set.of(), Map.of(),
              Map.of(RequestType.LL, b.slos().of(RequestType.LL)), bounds), RequestType.LL, 0));
          currentGpus.remove(old);
        }
      }
      assigned.clear();
      lastSlos = b.slos();
      for (var a : assigns) {
        pools.tell(a.budget().pool(), a);
        currentGpus.put(a.budget().pool(), a.budget().gpus());
        assigned.put(a.budget().pool(), a);
      }
      current = assigns.stream().map(a -> a.budget().pool()).toList();
      long stored = epoch;
      ctx.ask(Boolean.class, layoutStore, Duration.ofSeconds(15),
          reply -> new LayoutStore.Save(new LayoutStore.Layout(stored, assigns), reply),
          (ok, err) -> new Stored(stored, ok != null && ok));
      decide("cluster", "epoch " + epoch + ": " + assigns.stream()
          .map(a -> String.format(Locale.ROOT, "%s=%d GPUs", a.budget().pool(), a.budget().gpus())).toList(), reason, 0);
      return Behaviors.same();
    }

    /**
     * A pool's telemetry; a pool whose plan falls short of the load it plans for gets GPUs no pool holds at once
     * ({@link ClusterLayout#topUp}), at most once a pool epoch, rather than wait for the next cluster epoch.
     */
    private Behavior<Command> onPoolReport(PoolReport r) {
      PoolTelemetry t = r.telemetry();
      poolTelemetry.put(t.pool(), t);
      PoolManager.Assign a = assigned.get(t.pool());
      double at = now.getAsDouble();
      if (a == null || !t.shortOfCapacity() || clusterGpus == 0 || a.budget().gpus() == 0
          || at - lastTopUpMs.getOrDefault(t.pool(), Double.NEGATIVE_INFINITY) < settings.poolEpoch().toMillis()) {
        return Behaviors.same();
      }
      int held = currentGpus.values().stream().mapToInt(Integer::intValue).sum();
      int free = clusterGpus - held;
      int add = layouts.topUp(a.nativeType(), a.budget().slos().get(a.nativeType()), t.plannedLoadRps(),
          a.budget().gpus(), free, a.budget().frequencyBounds());
      if (add <= 0) {
        return Behaviors.same();
      }
      lastTopUpMs.put(t.pool(), at);
      PoolBudget b = a.budget();
      // the load the pool plans for now (its latest forecast), not the epoch's: an Assign resets the pool's load
      double load = Math.max(a.nativeLoadRps(), t.plannedLoadRps() / t.capacityCorrection());
      PoolManager.Assign more = new PoolManager.Assign(new PoolBudget(b.pool(), b.epoch(), b.gpus() + add, b.types(),
          b.forecastPeakRps(), b.slos(), b.frequencyBounds()), a.nativeType(), load);
      assigned.put(t.pool(), more);
      currentGpus.put(t.pool(), b.gpus() + add);
      pools.tell(t.pool(), more);
      decide("cluster", String.format(Locale.ROOT, "top up %s: %d -> %d GPUs", t.pool(), b.gpus(), b.gpus() + add),
          String.format(Locale.ROOT, "its plan carries %.2f of the %.2f req/s it plans for (correction x%.2f); %d GPUs"
              + " were free", t.capacityRps(), t.plannedLoadRps(), t.capacityCorrection(), free), 0);
      long stored = epoch;
      List<PoolManager.Assign> layout = List.copyOf(assigned.values());
      ctx.ask(Boolean.class, layoutStore, Duration.ofSeconds(15),
          reply -> new LayoutStore.Save(new LayoutStore.Layout(stored, layout), reply),
          (ok, err) -> new Stored(stored, ok != null && ok));
      return Behaviors.same();
    }

    private Behavior<Command> onResumed(Resumed r) {
      if (r.layout().isEmpty() || epoch > 0) {
        return Behaviors.same(); // nothing stored, or this manager already budgeted an epoch of its own
      }
      LayoutStore.Layout l = r.layout().get();
      epoch = l.epoch();
      List<String> names = new ArrayList<>();
      for (PoolManager.Assign a : l.pools()) {
        pools.tell(a.budget().pool(), a);
        currentGpus.put(a.budget().pool(), a.budget().gpus());
        assigned.put(a.budget().pool(), a);
        names.add(a.budget().pool());
      }
      current = names;
      decide("cluster", "resumed epoch " + epoch + ": " + names, "the pool layout read back from durable distributed data",
          0);
      return Behaviors.same();
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static ActorRef<Optional<LayoutStore.Layout>> castReply(ActorRef reply) {
      return (ActorRef<Optional<LayoutStore.Layout>>) reply;
    }

    @SuppressWarnings("unchecked")
    private static Optional<LayoutStore.Layout> castLayout(Optional<?> o) {
      return (Optional<LayoutStore.Layout>) o;
    }

    /** Each pool epoch: every pool's forecast for the next pool epoch, so its planner follows the load. */
    private Behavior<Command> onPoolEpoch() {
      if (lastSlos == null || !seenTraffic) {
        return Behaviors.same();
      }
      long t = (long) now.getAsDouble();
      Map<RequestType, Double> forecast = new EnumMap<>(RequestType.class);
      for (var e : forecaster.forecast(t, settings.poolEpoch().toMillis()).entrySet()) {
        if (e.getValue().partialHistory() && e.getValue().basis() != LoadForecaster.Basis.NO_DATA) {
          return Behaviors.same(); // would read low: the pools keep their budgets' loads
        }
        forecast.put(e.getKey(), e.getValue().peakRps());
      }
      for (var e : assigned.entrySet()) {
        PoolManager.Assign a = e.getValue();
        if (a.budget().gpus() > 0) {
          pools.tell(e.getKey(), new PoolManager.Forecast(
              layouts.nativeLoad(a.nativeType(), a.budget().types(), forecast, lastSlos)));
        }
      }
      return Behaviors.same();
    }

    private void decide(String level, String action, String reason, double saving) {
      decisions.tell(new Decision((long) now.getAsDouble(), level, "cluster", action, reason, saving));
    }
  }
}
