package io.dynamollm.control.live;

import io.dynamollm.control.cluster.ArrivalHistoryStore;
import io.dynamollm.control.cluster.ClusterLimits;
import io.dynamollm.control.cluster.LayoutStore;
import io.dynamollm.control.cluster.LimitsStore;
import io.dynamollm.control.cluster.SloStore;
import io.dynamollm.decision.DecisionNote;
import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.cluster.ClusterStep;
import io.dynamollm.decision.cluster.PlanPreview;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.pool.PoolManager;
import io.dynamollm.protocol.CborSerializable;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolLayout;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Profile;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.DoubleSupplier;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * The cluster level (a Cluster Singleton on control nodes): a thin driver of the {@link ClusterStep} (the simulator's
 * DynamoLLM policy runs the same step). It feeds the step the routers' arrivals, the pools' telemetry, the SLOs and
 * the operator's limits (it subscribes to their Distributed Data stores, so a change written anywhere reaches it and
 * brings the next epoch within the rebudget delay), and the GPU hosts' inventories; each epoch it sends every pool
 * manager its budget and stores the layout durably (majority); each pool epoch it sends every pool its forecast; a
 * pool short of capacity gets a top-up. Each pool epoch it also stores the arrival history its forecaster counted
 * ({@link ArrivalHistoryStore}, majority). A manager that takes over from another node resumes the stored layout and
 * history, and budgets as soon as both are read and the GPU hosts are listed — not a rebudget delay later (that delay
 * lets hosts join a cluster that is starting; on a takeover they are there), and not from the bootstrap layout.
 */
public final class ClusterManager {

  public sealed interface Command permits Observed, PoolReport, GetPools, Preview, Stop, Internal {}

  /**
   * A plan preview: what the cluster would run with {@code slos} and {@code limits} under the current forecast, next
   * to what it would run with the SLOs and limits in force — the same steps an epoch runs, nothing applied.
   */
  public record Preview(SloTable slos, ClusterLimits limits, ActorRef<PreviewAnswer> replyTo)
      implements Command, CborSerializable {}

  /**
   * The preview's answer: with the SLOs and limits in force ({@code now}) and proposed, on {@code hostGpus} GPUs of
   * the listed hosts; {@code error} says why there is none (no GPU host yet, the planner failed).
   */
  public record PreviewAnswer(Optional<PlanPreview.Result> now, Optional<PlanPreview.Result> proposed, int hostGpus,
      String error) implements CborSerializable {}

  /**
   * What a router saw since its last report: arrivals per (predicted) type and second, with their prompt tokens (the
   * forecaster sees bursts of seconds), and the lengths of the requests that completed (by the type they were routed
   * as).
   */
  public record Observed(List<Arrivals> arrivals, List<Completed> completed) implements Command, CborSerializable {
    public Observed {
      arrivals = List.copyOf(arrivals);
      completed = List.copyOf(completed);
    }
  }

  /** {@code n} requests of {@code type} arrived in the second that began at {@code atMillis} (model time). */
  public record Arrivals(long atMillis, RequestType type, int n, long promptTokens) implements CborSerializable {}

  /** A request routed as {@code type} completed with these lengths. */
  public record Completed(RequestType type, int promptTokens, int outputTokens) implements CborSerializable {}

  /** A pool manager's telemetry (every keep-alive). */
  public record PoolReport(PoolTelemetry telemetry) implements Command, CborSerializable {}

  /** The pools of the current epoch (names). */
  public record GetPools(ActorRef<Pools> replyTo) implements Command, CborSerializable {}

  /** The current epoch's pools, and the latest telemetry each pool manager sent up (absent until it reports). */
  public record Pools(List<String> names, Map<String, PoolTelemetry> telemetry, ClusterStep.PowerStatus power)
      implements CborSerializable {}

  /** Hand-over message for the singleton. */
  public record Stop() implements Command, CborSerializable {}

  sealed interface Internal extends Command, NoSerializationVerificationNeeded {}

  private enum Tick implements Internal { EPOCH, POOL_EPOCH, KEEP_ALIVE }

  private record HostsListing(Receptionist.Listing listing) implements Internal {}

  private record SlosChanged(SloTable slos) implements Internal {}

  private record LimitsChanged(ClusterLimits limits) implements Internal {}

  /** One host agent's answer during an epoch's gathering (empty when it did not answer). */
  private record HostGpus(long gathering, Optional<Integer> gpus) implements Internal {}

  private record Resumed(Optional<PoolLayout> layout) implements Internal {}

  private record Stored(long epoch, boolean ok) implements Internal {}

  private record HistoryLoaded(List<ArrivalHistoryStore.Hour> hours) implements Internal {}

  private record HistoryStored(long hour, boolean ok) implements Internal {}

  private record PreviewDone(PreviewAnswer answer, ActorRef<PreviewAnswer> replyTo) implements Internal {}

  /** Sends a command to a pool manager wherever it lives (sharding in a cluster). */
  public interface PoolRefs {
    void tell(String pool, PoolManager.Command command);
  }

  /**
   * What the cluster manager is wired to.
   *
   * @param transitions what pool changes cost on this cluster's engines (start-up: forecasts look that far ahead)
   * @param slos this node's SLO store (subscribed to)
   * @param limits this node's limits store (subscribed to)
   * @param layoutStore where each epoch's layout is kept, and read back by a manager that takes over
   * @param history where the forecaster's arrival counts are kept, and read back by a manager that takes over
   * @param bounds the clock range until the limits store answers
   * @param modelNowMs model time now (the node's model clock)
   * @param speedup model time runs this many times faster than the wall clock (timers are set in wall time)
   */
  public record Wiring(Profile profile, DecisionSettings settings, PoolPlanner.Transitions transitions, PoolRefs pools,
      ActorRef<SloStore.Command> slos,
      ActorRef<LimitsStore.Command> limits, ActorRef<LayoutStore.Command> layoutStore, ActorRef<ArrivalHistoryStore.Command> history,
      ActorRef<Decision> decisions,
      FrequencyBounds bounds, DoubleSupplier modelNowMs, double speedup) {}

  private ClusterManager() {}

  public static Behavior<Command> create(Wiring wiring) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Running(ctx, timers, wiring).behavior()));
  }

  private static final class Running {
    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final Wiring w;
    private final ClusterStep step;
    private Set<ActorRef<HostAgent.Command>> hosts = Set.of();
    private SloTable slos;
    private ClusterLimits limits;
    /** The gathering of host inventories in progress (its number), and what has come back. */
    private long gathering;
    private int pendingHosts;
    private int gatheredGpus;
    private int lastHostGpus; // the GPUs of the hosts the last epoch gathered
    private final PoolPlanner previewPlanner;
    private final io.dynamollm.decision.pool.PoolReconciler.Reshards previewReshards;
    private final java.util.concurrent.Executor previewExecutor; // the blocking dispatcher, as pool managers solve
    /** Until the stored arrival history is read (or the read timed out) no epoch is budgeted. */
    private boolean historyLoaded;
    /** This manager resumed a stored layout: it gathers the hosts' GPUs once history and hosts are in ... */
    private boolean takingOver;
    /** ... and budgets at once unless the cluster is starting (see {@link #budget}). */
    private boolean takeoverGathering;
    /** The last model hour whose arrivals were stored (the hour under way is stored again each pool epoch). */
    private long storedHour = Long.MIN_VALUE;

    Running(ActorContext<Command> ctx, TimerScheduler<Command> timers, Wiring w) {
      this.ctx = ctx;
      this.timers = timers;
      this.w = w;
      this.step = new ClusterStep(w.profile(), w.settings(), w.transitions(), w.modelNowMs().getAsDouble());
      this.limits = new ClusterLimits(w.bounds(), 0);
      this.previewPlanner = new PoolPlanner(w.profile(), w.settings().planner(), w.transitions());
      this.previewReshards = io.dynamollm.decision.pool.PoolReconciler.Reshards.byRestart(
          w.transitions().reshardCost());
      this.previewExecutor = ctx.getSystem().dispatchers().lookup(
          org.apache.pekko.actor.typed.DispatcherSelector.blocking());
      // a cluster manager that took over from another node resumes the last epoch's pools
      ctx.ask(Optional.class, w.layoutStore(), Duration.ofSeconds(15), reply -> new LayoutStore.Load(castReply(reply)),
          (l, err) -> new Resumed(l == null ? Optional.empty() : castLayout(l)));
      long hour = hourOf(now());
      ctx.ask(List.class, w.history(), Duration.ofSeconds(20),
          reply -> new ArrivalHistoryStore.Load(hour - ArrivalHistoryStore.HOURS + 1, hour + 1, castHours(reply)),
          (h, err) -> new HistoryLoaded(h == null ? List.of() : castHourList(h)));
      w.slos().tell(new SloStore.Subscribe(ctx.messageAdapter(SloTable.class, SlosChanged::new)));
      w.limits().tell(new LimitsStore.Subscribe(ctx.messageAdapter(ClusterLimits.class, LimitsChanged::new)));
      ctx.getSystem().receptionist().tell(Receptionist.subscribe(HostAgent.KEY,
          ctx.messageAdapter(Receptionist.Listing.class, HostsListing::new)));
      scheduleEpoch();
      timers.startTimerWithFixedDelay(Tick.POOL_EPOCH, wall(w.settings().poolEpochMs()));
      timers.startTimerWithFixedDelay(Tick.KEEP_ALIVE, wall(w.settings().poolKeepAliveMs()));
    }

    private double now() {
      return w.modelNowMs().getAsDouble();
    }

    private Duration wall(double modelMs) {
      return ModelClock.wall(modelMs, w.speedup());
    }

    /** The next epoch when the step says it is due. */
    private void scheduleEpoch() {
      timers.startSingleTimer(Tick.EPOCH, wall(Math.max(0, step.nextDueMs() - now())));
    }

    Behavior<Command> behavior() {
      return Behaviors.receive(Command.class)
          .onMessage(Observed.class, o -> {
            o.arrivals().forEach(a -> step.observe(a.atMillis(), a.type(), a.n(), a.promptTokens()));
            o.completed().forEach(c -> step.completed(now(), c.type(), c.promptTokens(), c.outputTokens()));
            return Behaviors.same();
          })
          .onMessage(PoolReport.class, this::onPoolReport)
          .onMessage(SlosChanged.class, c -> rebudgetIfChanged(slos != null && !slos.equals(c.slos()),
              () -> slos = c.slos(), "SLOs changed"))
          .onMessage(LimitsChanged.class, c -> rebudgetIfChanged(!limits.equals(c.limits()),
              () -> limits = c.limits(), "cluster limits changed"))
          .onMessage(HostsListing.class, l -> {
            Set<ActorRef<HostAgent.Command>> now = l.listing().getServiceInstances(HostAgent.KEY);
            boolean changed = step.epochNumber() > 0 && !now.equals(hosts);
            hosts = now;
            budgetIfTakingOver();
            // a GPU host joined or left: the budgets no longer match the cluster's GPUs
            return rebudgetIfChanged(changed, () -> { }, "GPU hosts changed (" + now.size() + " now)");
          })
          .onMessage(GetPools.class, g -> {
            List<String> names = step.budgets().stream().filter(b -> b.gpus() > 0).map(PoolBudget::pool).toList();
            g.replyTo().tell(new Pools(names, step.telemetry(), step.power()));
            return Behaviors.same();
          })
          .onMessage(Preview.class, this::onPreview)
          .onMessage(PreviewDone.class, d -> {
            d.replyTo().tell(d.answer());
            return Behaviors.same();
          })
          .onMessageEquals(Tick.EPOCH, this::gather)
          .onMessageEquals(Tick.POOL_EPOCH, this::onPoolEpoch)
          .onMessageEquals(Tick.KEEP_ALIVE, () -> {
            step.handover(now()).ifPresent(this::send); // a layout change's handover ends
            return Behaviors.same();
          })
          .onMessage(HostGpus.class, this::onHostGpus)
          .onMessage(Resumed.class, this::onResumed)
          .onMessage(HistoryLoaded.class, this::onHistoryLoaded)
          .onMessage(HistoryStored.class, st -> {
            if (!st.ok()) {
              ctx.getLog().warn("model hour {}: the arrival history was not stored on a majority (it is kept here and"
                  + " stored again next pool epoch)", st.hour());
            }
            return Behaviors.same();
          })
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

    /** An operator or host change brings the next epoch within the rebudget delay (later changes never postpone it). */
    private Behavior<Command> rebudgetIfChanged(boolean changed, Runnable apply, String why) {
      apply.run();
      if (changed) {
        double before = step.nextDueMs();
        step.requestRebudget(now());
        if (step.nextDueMs() < before) {
          ctx.getLog().info("{}: budgeting again within {} model s", why, w.settings().rebudgetDelayMs() / 1000);
          scheduleEpoch();
        }
      }
      return Behaviors.same();
    }

    /** The epoch begins: the GPUs of every host (one ask each), then the budgets. */
    private Behavior<Command> gather() {
      if (slos == null || !historyLoaded) {
        scheduleEpochIn(w.settings().rebudgetDelayMs()); // the SLO or history store has not answered yet
        return Behaviors.same();
      }
      gathering++;
      pendingHosts = hosts.size();
      gatheredGpus = 0;
      if (pendingHosts == 0) {
        return budget();
      }
      long g = gathering;
      for (var a : hosts) {
        ctx.ask(HostAgent.Inventory.class, a, Duration.ofSeconds(5), HostAgent.GetInventory::new,
            (inv, err) -> new HostGpus(g, Optional.ofNullable(inv).map(i -> i.gpus().size())));
      }
      return Behaviors.same();
    }

    private Behavior<Command> onHostGpus(HostGpus h) {
      if (h.gathering() != gathering || pendingHosts == 0) {
        return Behaviors.same(); // an answer of an earlier gathering
      }
      gatheredGpus += h.gpus().orElse(0);
      if (--pendingHosts == 0) {
        return budget();
      }
      return Behaviors.same();
    }

    /**
     * The cluster step proposes both layouts here (it is the actor's); the pools' plans are solved off the actor, on
     * the blocking dispatcher, as the pool managers solve theirs.
     */
    private Behavior<Command> onPreview(Preview p) {
      if (lastHostGpus == 0 || slos == null) {
        p.replyTo().tell(new PreviewAnswer(Optional.empty(), Optional.empty(), lastHostGpus,
            "no GPU host has been listed yet: nothing to plan on"));
        return Behaviors.same();
      }
      double t = now();
      ClusterStep.Proposal current = step.propose(t, slos, limits.usableGpus(lastHostGpus), limits.bounds(),
          limits.powerBudgetW());
      ClusterStep.Proposal proposed = step.propose(t, p.slos(), p.limits().usableGpus(lastHostGpus),
          p.limits().bounds(), p.limits().powerBudgetW());
      int gpus = lastHostGpus;
      ctx.pipeToSelf(java.util.concurrent.CompletableFuture.supplyAsync(() -> new PreviewAnswer(
              Optional.of(PlanPreview.of(current, w.settings(), previewPlanner, previewReshards, t)),
              Optional.of(PlanPreview.of(proposed, w.settings(), previewPlanner, previewReshards, t)), gpus, ""),
          previewExecutor), (a, err) -> new PreviewDone(a != null ? a : new PreviewAnswer(Optional.empty(),
              Optional.empty(), gpus, "the planner failed: " + err), p.replyTo()));
      return Behaviors.same();
    }

    private Behavior<Command> budget() {
      lastHostGpus = gatheredGpus;
      int usable = limits.usableGpus(gatheredGpus);
      if (takeoverGathering) {
        takeoverGathering = false;
        // fewer GPUs than the layout held, on a node that has just started: the whole cluster is starting from its
        // durable copies, its hosts still joining. On a node that ran before, the missing GPUs went with a lost host
        boolean starting = ctx.getSystem().uptime() * 1000 < wall(w.settings().rebudgetDelayMs()).toMillis();
        // no epoch ran since the resume: the budgets are the resumed layout's
        int resumedGpus = step.budgets().stream().mapToInt(PoolBudget::gpus).sum();
        if (usable < resumedGpus && starting) {
          ctx.getLog().info("resumed layout held {} GPUs, {} are back: waiting for GPU hosts to join", resumedGpus,
              usable);
          scheduleEpoch();
          return Behaviors.same();
        }
        ctx.getLog().info("took over the stored layout (epoch {}, {} GPUs): budgeting now", step.epochNumber(),
            usable);
      }
      send(step.epoch(now(), slos, usable, limits.bounds(), limits.powerBudgetW()));
      scheduleEpoch();
      return Behaviors.same();
    }

    /** An epoch's (or a handover's) budgets to the pools; retirements first, so their GPUs are free for the others. */
    private void send(ClusterStep.Epoch e) {
      for (PoolBudget b : e.retire()) {
        w.pools().tell(b.pool(), new PoolManager.Assign(b));
      }
      for (PoolBudget b : e.assign()) {
        w.pools().tell(b.pool(), new PoolManager.Assign(b));
      }
      if (!e.assign().isEmpty()) {
        store(e.layout());
      }
      log(e.decision());
    }

    /** A pool's telemetry; a pool short of capacity may get GPUs no pool holds. */
    private Behavior<Command> onPoolReport(PoolReport r) {
      step.poolReport(now(), r.telemetry()).ifPresent(this::rebudget);
      step.powerCheck(now()).ifPresent(this::rebudget); // the watt budget's governor: a ceiling or cap for one pool
      return Behaviors.same();
    }

    /** One pool's budget changed between epochs (a top-up, a power governor step): sent, stored, logged. */
    private void rebudget(ClusterStep.TopUp change) {
      w.pools().tell(change.budget().pool(), new PoolManager.Assign(change.budget()));
      store(change.layout());
      log(change.decision());
    }

    /** Each pool epoch: every pool's forecast for its next pool epoch. */
    private Behavior<Command> onPoolEpoch() {
      step.poolForecasts(now()).forEach((pool, f) -> w.pools().tell(pool, new PoolManager.Forecast(f.loadRps(),
          f.typeRps())));
      storeHistory();
      return Behaviors.same();
    }

    /** The hour under way, and the one before it once, when it ended since the last store. */
    private void storeHistory() {
      if (!historyLoaded) {
        return; // storing now would overwrite the hour under way with only what this manager saw of it
      }
      long hour = hourOf(now());
      for (long h = Math.max(storedHour, hour - 1); h <= hour; h++) {
        long at = h;
        var arrivals = step.arrivals(h * ArrivalHistoryStore.HOUR_MS, (h + 1) * ArrivalHistoryStore.HOUR_MS);
        if (!arrivals.isEmpty()) {
          ctx.ask(Boolean.class, w.history(), Duration.ofSeconds(15),
              reply -> new ArrivalHistoryStore.Save(new ArrivalHistoryStore.Hour(at, arrivals), reply),
              (ok, err) -> new HistoryStored(at, ok != null && ok));
        }
      }
      storedHour = hour;
    }

    private Behavior<Command> onHistoryLoaded(HistoryLoaded h) {
      int restored = 0;
      for (ArrivalHistoryStore.Hour hour : h.hours()) {
        try {
          step.restoreArrivals(hour.arrivals());
          restored++;
        } catch (IllegalArgumentException e) {
          ctx.getLog().warn("model hour {} of the stored arrival history is not used: {}", hour.hour(), e.getMessage());
        }
      }
      if (restored > 0) {
        ctx.getLog().info("the forecaster goes on from {} stored hours of arrival history", restored);
      }
      historyLoaded = true;
      budgetIfTakingOver();
      return Behaviors.same();
    }

    private Behavior<Command> onResumed(Resumed r) {
      r.layout().flatMap(l -> step.resume(l, now())).ifPresent(n -> {
        step.budgets().forEach(b -> w.pools().tell(b.pool(), new PoolManager.Assign(b)));
        log(n);
        takingOver = true;
        budgetIfTakingOver();
      });
      return Behaviors.same();
    }

    /**
     * A manager that took over from another (the hosts that held the stored layout's GPUs are all listed) budgets as
     * soon as it has the stored layout and history; one resumed while the whole cluster starts waits as at a start.
     */
    private void budgetIfTakingOver() {
      if (takingOver && historyLoaded && !hosts.isEmpty()) {
        takingOver = false;
        takeoverGathering = true;
        scheduleEpochIn(0);
      }
    }

    private static long hourOf(double modelMs) {
      return Math.floorDiv((long) modelMs, ArrivalHistoryStore.HOUR_MS);
    }

    private void scheduleEpochIn(long modelMs) {
      timers.startSingleTimer(Tick.EPOCH, wall(modelMs));
    }

    private void store(PoolLayout layout) {
      long epoch = layout.epoch();
      ctx.ask(Boolean.class, w.layoutStore(), Duration.ofSeconds(15), reply -> new LayoutStore.Save(layout, reply),
          (ok, err) -> new Stored(epoch, ok != null && ok));
    }

    private void log(DecisionNote n) {
      w.decisions().tell(n.at(System.currentTimeMillis(), (long) now()));
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static ActorRef<Optional<PoolLayout>> castReply(ActorRef reply) {
      return (ActorRef<Optional<PoolLayout>>) reply;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static ActorRef<List<ArrivalHistoryStore.Hour>> castHours(ActorRef reply) {
      return (ActorRef<List<ArrivalHistoryStore.Hour>>) reply;
    }

    @SuppressWarnings("unchecked")
    private static List<ArrivalHistoryStore.Hour> castHourList(List<?> l) {
      return (List<ArrivalHistoryStore.Hour>) l;
    }

    @SuppressWarnings("unchecked")
    private static Optional<PoolLayout> castLayout(Optional<?> o) {
      return (Optional<PoolLayout>) o;
    }
  }
}
