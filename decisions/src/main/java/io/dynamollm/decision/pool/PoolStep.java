package io.dynamollm.decision.pool;

import io.dynamollm.decision.DecisionNote;
import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.InstanceIds;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.InstanceTelemetry;
import io.dynamollm.protocol.MixSpec;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolRoutes;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Mix;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * The pool level's epoch logic, once: what the live pool manager and the simulator's pools both run.
 *
 * <ul>
 *   <li>A budget from the cluster ({@link #assign}; one of an older epoch is ignored) or a new forecast
 *       ({@link #forecast}) sets the load; each pool epoch ({@link #epoch}) the routers' outcomes refine the profile's
 *       capacity ({@link CapacityCorrection}) and the {@link PoolPlanner} plans for load × correction. The driver runs
 *       the planner (the live one off the actor's thread) and hands the result to {@link #planned}.
 *   <li>The plan is reconciled with the instances ({@link PoolReconciler}): starts (the driver places them and
 *       answers {@link #placed}; a TP that found no host with room is left out of the plan until one of the pool's own
 *       instances stops, the pool epoch, or a keep-alive tries every TP again — after 1, 2, 4, ... keep-alives while
 *       the cluster stays full; serving instances are never drained to make room), in-place re-shards where the
 *       engines can, drains once replacements serve.
 *   <li>Every keep-alive ({@link #keepAlive}): the instances' bounds and SLO again, the ready instances to the
 *       routers ({@link PoolRoutes}), the pool's telemetry up ({@link PoolTelemetry}); a plan short of its load is
 *       reported at once.
 * </ul>
 *
 * <p>Inputs in, {@link Effects} out; time is an argument. The driver keeps the instances' states current
 * ({@link #reported}) and turns the effects into messages (live) or events (simulator).
 */
public final class PoolStep {
  /** The longest wait between two tries of TPs that found no room, in keep-alives (the pool epoch tries too). */
  private static final int MAX_ROOM_RETRY_KEEP_ALIVES = 16;
  /** The SLO of the placeholder mix a retiring pool plans with (it plans for no load). */
  private static final io.dynamollm.protocol.Slo ANY_SLO = new io.dynamollm.protocol.Slo(1, 1);

  /**
   * An instance to start.
   *
   * @param tp its TP
   * @param clockMhz the clock the plan chose for it
   * @param capacityRps its planned capacity
   */
  public record Start(TensorParallelism tp, int clockMhz, double capacityRps) {}

  /**
   * What the driver does after a step.
   *
   * @param plan run the planner on this request and hand the result to {@link #planned}
   * @param start place and start these instances, then answer {@link #placed} for each
   * @param drain drain these instances
   * @param reshard re-shard these instances in place
   * @param retarget send every instance its bounds and SLO again (the pool's keep-alive)
   * @param routes publish these routes
   * @param up send this telemetry to the cluster
   * @param decisions log these decisions
   */
  public record Effects(Optional<PoolPlanner.Request> plan, List<Start> start, List<String> drain,
      List<PoolReconciler.Reshard> reshard, boolean retarget, Optional<PoolRoutes> routes, Optional<PoolTelemetry> up,
      List<DecisionNote> decisions) {
    public Effects {
      start = List.copyOf(start);
      drain = List.copyOf(drain);
      reshard = List.copyOf(reshard);
      decisions = List.copyOf(decisions);
    }
  }

  /** An instance of the pool as the step knows it. */
  private static final class Member {
    final String id;
    final TensorParallelism tp;
    InstanceState state;
    InstanceTelemetry last;
    /** A warm spare (ready, routed nothing) since this time; NaN while it serves. */
    double spareSinceMs = Double.NaN;

    Member(String id, TensorParallelism tp, InstanceState state) {
      this.id = id;
      this.tp = tp;
      this.state = state;
    }

    boolean spare() {
      return !Double.isNaN(spareSinceMs);
    }
  }

  private final String pool;
  private final DecisionSettings settings;
  private final PoolReconciler.Reshards reshards;
  /** Longest a warm spare is kept, ms; 0: none. */
  private final long spareKeepMs;
  private final Map<String, Member> members = new LinkedHashMap<>();
  /** TPs that found no host with room: planned without until they are tried again (see {@link #keepAlive}). */
  private final Set<TensorParallelism> noRoomFor = new HashSet<>();
  /** Keep-alives since a TP found no room, and how many to wait before trying again (doubles while none frees). */
  private int keepAlivesWithoutRoom;
  private int retryRoomAfter = 1;
  private PoolBudget budget;
  /** The load the pool was asked to plan for (budget or forecast), req/s; the correction multiplies it once. */
  private double load;
  /** The pool's mix: the budget's types, lengths and SLOs, weighted by the latest forecast. */
  private Mix mix;
  private MixSpec mixSpec;
  private PoolPlan plan = PoolPlan.EMPTY;
  private boolean hasPlan;
  private boolean planning;
  private int pendingPlacements;
  private boolean adopting;
  /** The GPU hosts listed now, and those that were listed and no longer are: their instances are leaving. */
  private Set<String> listedHosts = Set.of();
  private final Set<String> withdrawnHosts = new HashSet<>();
  private CapacityCorrection correction = CapacityCorrection.NONE;
  /** The profile factors the plans use (updated at a pool epoch when they moved). */
  private io.dynamollm.protocol.profile.ProfileFactors plannedFactors = io.dynamollm.protocol.profile.ProfileFactors.NONE;
  private long epochCompleted;
  private long epochMissed;
  private long windowCompleted;
  private long windowMissed;
  private final Map<RequestType, Integer> windowRouted = new EnumMap<>(RequestType.class);
  /** The highest rate routed to the pool in a telemetry window (a keep-alive) this pool epoch, req/s. */
  private double epochPeakRps;
  private double windowStartMs;
  private double retiredEnergyJ;

  /**
   * @param reshards how the pool changes TP where it runs (in place, or by starting new instances and draining)
   * @param spareKeepMs longest an instance the plan no longer needs is kept as a warm spare, ms (0: none;
   *     {@link SparePolicy#keepMs})
   * @param adopting the driver is still looking for instances of this pool that already run (a restarted pool
   *     manager): nothing is reconciled until it says {@link #adoptionDone}
   */
  public PoolStep(String pool, DecisionSettings settings, PoolReconciler.Reshards reshards, long spareKeepMs,
      boolean adopting, double nowMs) {
    this.pool = Objects.requireNonNull(pool, "pool");
    this.settings = Objects.requireNonNull(settings, "settings");
    this.reshards = Objects.requireNonNull(reshards, "reshards");
    if (spareKeepMs < 0) {
      throw new IllegalArgumentException("a spare's keep time must be >= 0 ms, got " + spareKeepMs);
    }
    this.spareKeepMs = spareKeepMs;
    this.adopting = adopting;
    this.windowStartMs = nowMs;
  }

  public String pool() {
    return pool;
  }

  /** The budget in force, if the cluster sent one. */
  public Optional<PoolBudget> budget() {
    return Optional.ofNullable(budget);
  }

  public PoolPlan plan() {
    return plan;
  }

  public CapacityCorrection correction() {
    return correction;
  }

  /** The instances the pool holds that have not stopped, by id, with their TP. */
  public Map<String, TensorParallelism> instances() {
    Map<String, TensorParallelism> out = new LinkedHashMap<>();
    members.values().forEach(m -> out.put(m.id, m.tp));
    return out;
  }

  /** The last telemetry of each instance (absent before its first). */
  public Map<String, Optional<InstanceTelemetry>> telemetry() {
    Map<String, Optional<InstanceTelemetry>> out = new LinkedHashMap<>();
    members.values().forEach(m -> out.put(m.id, Optional.ofNullable(m.last)));
    return out;
  }

  /** The warm spares: ready instances the plan does not use, kept loaded and routed nothing. */
  public Set<String> spares() {
    Set<String> out = new java.util.LinkedHashSet<>();
    members.values().stream().filter(Member::spare).forEach(m -> out.add(m.id));
    return out;
  }

  /** The state the step believes an instance is in. */
  public Optional<InstanceState> state(String id) {
    return Optional.ofNullable(members.get(id)).map(m -> m.state);
  }

  // ------------------------------------------------------------------ inputs

  /** The cluster's budget. */
  public Effects assign(PoolBudget b, double nowMs) {
    List<DecisionNote> notes = new ArrayList<>();
    if (budget != null && b.epoch() < budget.epoch()) {
      notes.add(note("ignored a budget of cluster epoch " + b.epoch(),
          "it is older than the budget of epoch " + budget.epoch() + " in force", 0));
      return effects(Optional.empty(), notes);
    }
    if (b.types().isEmpty() && b.gpus() > 0 && budget != null) {
      // a layout change hands over: the pool serves no type of its own until the new pools have started, but keeps
      // its instances and plan (requests fall back to it as a larger pool)
      budget = new PoolBudget(b.pool(), b.epoch(), b.gpus(), budget.nativeType(), Set.of(), Map.of(), budget.loadRps(),
          budget.slos(), budget.shapes(), budget.frequencyBounds(), b.powerCapW());
      notes.add(note("hand over", "cluster epoch " + b.epoch() + " moved its types to other pools; it keeps its "
          + b.gpus() + " GPUs and instances until they have started", 0));
      Effects keep = keepAlive(nowMs);
      notes.addAll(keep.decisions());
      return new Effects(Optional.empty(), keep.start(), keep.drain(), keep.reshard(), true, keep.routes(), keep.up(),
          notes);
    }
    // more GPUs within the epoch for the same types; fewer within it is the end of a hand-over, planned afresh
    // (or the same GPUs under a lower clock ceiling or power cap: the power governor's step)
    boolean topUp = budget != null && b.epoch() == budget.epoch() && b.types().equals(budget.types()) && mix != null
        && (b.gpus() > budget.gpus() || b.gpus() == budget.gpus() && b.gpus() > 0
            && (!b.frequencyBounds().equals(budget.frequencyBounds()) || b.powerCapW() != budget.powerCapW()));
    if (budget != null && !topUp && (!b.types().equals(budget.types()) || !b.shapes().equals(budget.shapes()))) {
      // what the correction learned was about other requests (other types, or lengths the profile had wrong)
      correction = CapacityCorrection.NONE;
    }
    budget = b;
    if (topUp) {
      // more GPUs within the epoch: the latest forecast (its load and shares) still stands
      load = Math.max(load, b.loadRps());
    } else {
      load = b.loadRps();
      mixSpec = b.types().isEmpty() ? null : b.mix();
      mix = mixSpec == null ? null : mixSpec.toMix();
    }
    notes.add(note(String.format(Locale.ROOT, "budget %d GPUs for %.2f req/s%s", b.gpus(), b.loadRps(), b.capped()
        ? String.format(Locale.ROOT, " under a %.0f W cap", b.powerCapW()) : ""),
        "cluster epoch " + b.epoch() + (b.gpus() == 0 ? ": the pool is no longer needed" : ": serves "
            + b.types().stream().sorted().toList()), 0));
    Optional<PoolPlanner.Request> req = replanRequest();
    Effects keep = keepAlive(nowMs);
    notes.addAll(keep.decisions());
    return new Effects(req, keep.start(), keep.drain(), keep.reshard(), true, keep.routes(), keep.up(), notes);
  }

  /**
   * A forecast for the next pool epoch: the load to plan for (req/s) and each type's forecast, which weighs the pool's
   * mix (types it does not serve are ignored).
   */
  public void forecast(double loadRps, Map<RequestType, Double> typeRps) {
    if (!(loadRps >= 0) || Double.isInfinite(loadRps)) {
      throw new IllegalArgumentException("a forecast must be finite and >= 0 req/s, got " + loadRps);
    }
    load = loadRps;
    if (budget != null && !budget.types().isEmpty()) {
      Map<RequestType, Double> w = new EnumMap<>(RequestType.class);
      for (RequestType t : budget.types()) {
        w.put(t, Math.max(0, typeRps.getOrDefault(t, 0.0)));
      }
      mixSpec = new MixSpec(w, budget.shapes(), budget.slos());
      mix = mixSpec.toMix();
    }
  }

  /** The pool's mix as its instances are told it (their governors plan with it). */
  public Optional<MixSpec> mixSpec() {
    return Optional.ofNullable(mixSpec);
  }

  /** The pool's mix now (types, shares, lengths, SLOs); empty without a budget that serves a type. */
  public Optional<Mix> mix() {
    return Optional.ofNullable(mix);
  }

  /** A router's count of this pool's requests since its last report. */
  public void outcomes(long completed, long missed, Map<RequestType, Integer> routed) {
    epochCompleted += completed;
    epochMissed += missed;
    windowCompleted += completed;
    windowMissed += missed;
    routed.forEach((t, n) -> windowRouted.merge(t, n, Integer::sum));
  }

  /** The pool epoch: learn the capacity correction from the epoch's outcomes, try every TP again, plan. */
  public Effects epoch(double nowMs) {
    noRoomFor.clear(); // room may have freed up elsewhere
    List<DecisionNote> notes = new ArrayList<>();
    CapacityCorrection before = correction;
    correction = correction.next(epochCompleted, epochMissed, settings.correction());
    if (correction.factor() != before.factor()) {
      notes.add(note("capacity correction " + before + " -> " + correction, String.format(Locale.ROOT,
          "%d of %d requests missed their SLO last pool epoch (up to %.2f req/s arrived in a keep-alive, the plan"
              + " carries %.2f)", epochMissed, epochCompleted, epochPeakRps, plan.capacityRps()), 0));
    }
    epochCompleted = 0;
    epochMissed = 0;
    epochPeakRps = 0;
    io.dynamollm.protocol.profile.ProfileFactors factors = profileFactors();
    if (factors.differsFrom(plannedFactors, io.dynamollm.decision.instance.ProfileRefinement.Settings.DEFAULT
        .changeTolerance())) {
      notes.add(note("profile correction " + plannedFactors + " -> " + factors, "observed over predicted decode step"
          + " and power on the pool's engines; the plan uses the corrected profile", 0));
      plannedFactors = factors;
    }
    return effects(replanRequest(), notes);
  }

  /**
   * What the pool's engines showed of the profile: per (TP, clock), the sample-weighted mean of its instances'
   * factors ({@link io.dynamollm.decision.instance.ProfileRefinement}), each on enough observations.
   */
  public io.dynamollm.protocol.profile.ProfileFactors profileFactors() {
    List<List<InstanceTelemetry.ProfileFactor>> all = new ArrayList<>();
    members.values().forEach(m -> {
      if (m.last != null) {
        all.add(m.last.profileFactors());
      }
    });
    return io.dynamollm.protocol.profile.ProfileFactors.merge(all,
        io.dynamollm.decision.instance.ProfileRefinement.Settings.DEFAULT.minSamples());
  }

  /** The planner's answer to the last request; empty when it failed ({@code error} says why). */
  public Effects planned(Optional<PoolPlanner.Result> result, String error, double nowMs) {
    planning = false;
    List<DecisionNote> notes = new ArrayList<>();
    if (result.isEmpty()) {
      notes.add(note("planner failed", error + "; the current plan stays", 0));
      if (!hasPlan) {
        return effects(Optional.empty(), notes); // nothing to reconcile against; the next pool epoch tries again
      }
    }
    hasPlan = true;
    Optional<PoolTelemetry> up = Optional.empty();
    if (result.isPresent()) {
      PoolPlanner.Result r = result.get();
      if (r.changed() || plan.groups().isEmpty()) {
        notes.add(note(r.plan().describe(), r.reason(), r.predictedSavingW()));
      }
      plan = r.plan();
      if (PoolTelemetry.isShort(plan.capacityRps(), plan.plannedLoadRps())) {
        up = Optional.of(telemetryUp(nowMs)); // short within the budget: the cluster may add GPUs no pool holds
      }
    }
    Effects e = reconcile(notes, nowMs);
    return new Effects(e.plan(), e.start(), e.drain(), e.reshard(), e.retarget(), e.routes(), up, e.decisions());
  }

  /**
   * Where a start went: the new instance's id, or empty when no host had room ({@code reason} says why).
   */
  public Effects placed(Start s, Optional<String> instanceId, String reason, double nowMs) {
    pendingPlacements = Math.max(0, pendingPlacements - 1);
    List<DecisionNote> notes = new ArrayList<>();
    if (instanceId.isEmpty()) {
      if (noRoomFor.isEmpty()) {
        keepAlivesWithoutRoom = 0;
      }
      if (noRoomFor.add(s.tp())) {
        notes.add(note("cannot start " + s.tp(), reason + "; planning without " + s.tp()
            + " or wider until GPUs free up (tried again at keep-alives)", 0));
        for (TensorParallelism tp : TensorParallelism.PAPER_DEGREES) {
          if (tp.degree() >= s.tp().degree()) {
            noRoomFor.add(tp);
          }
        }
      }
      // once every placement under way has answered, plan again with what fits; when no TP fits anywhere, wait for
      // the keep-alives' retries (planning again now would only ask for the same starts)
      boolean anyLeft = TensorParallelism.PAPER_DEGREES.stream().anyMatch(tp -> !noRoomFor.contains(tp));
      if (pendingPlacements == 0 && !anyLeft) {
        return reconcile(notes, nowMs); // a pool over its budget lets instances go to make the room (see reconcile)
      }
      return effects(pendingPlacements == 0 ? replanRequest() : Optional.empty(), notes);
    }
    String id = instanceId.get();
    retryRoomAfter = 1;
    members.put(id, new Member(id, s.tp(), InstanceState.STARTING));
    notes.add(note("start " + id + " (" + s.tp() + ")", "the plan " + plan.describe() + " needs it", 0));
    return pendingPlacements == 0 ? reconcile(notes, nowMs) : routesOnly(notes);
  }

  /** An instance the pool already runs (found in a host's GPU ledger): adopted, not started again. */
  public DecisionNote adopt(String id, TensorParallelism tp) {
    members.putIfAbsent(id, new Member(id, tp, InstanceState.READY));
    return note("adopt " + id + " (" + tp + ")", "it still runs on its host (found in the GPU ledger)", 0);
  }

  /** The search for running instances is over: reconcile from now on. */
  public Effects adoptionDone(double nowMs) {
    adopting = false;
    return hasPlan ? reconcile(new ArrayList<>(), nowMs) : routesOnly(List.of());
  }

  /**
   * An in-place re-shard began: {@code old} and its {@code partners} are gone, {@code created} (id → TP) re-shard on
   * their GPUs.
   */
  public void resharded(String old, List<String> partners, Map<String, TensorParallelism> created) {
    members.remove(old);
    partners.forEach(members::remove);
    created.forEach((id, tp) -> members.put(id, new Member(id, tp, InstanceState.RESHARDING)));
  }

  /** An instance's telemetry (every second, and at once when its state changes). */
  public Effects reported(InstanceTelemetry t, double nowMs) {
    Member m = members.get(t.instanceId());
    if (m == null) {
      return effects(Optional.empty(), List.of());
    }
    InstanceState before = m.state;
    m.last = t;
    boolean gone = t.state() == InstanceState.STOPPED || t.state() == InstanceState.FAILED;
    if (before == InstanceState.DRAINING && !gone) {
      return effects(Optional.empty(), List.of()); // sent before the drain reached it: a drain is not taken back
    }
    m.state = t.state();
    if (gone) {
      members.remove(t.instanceId());
      retiredEnergyJ += t.energyJ();
      noRoomFor.clear(); // its GPUs are free again
    }
    if (before != t.state()) {
      return reconcile(new ArrayList<>(), nowMs); // a new instance serves (drain the old ones now) or one went away
    }
    return effects(Optional.empty(), List.of());
  }

  /**
   * A host left the cluster (its node was downed or removed): its instances are gone with their GPUs — out of the
   * routes at once, their energy kept, and the plan reconciled, which starts replacements wherever there is room.
   * {@code host} is {@code host:port}, as instance ids begin ({@link io.dynamollm.protocol.InstanceIds}).
   */
  public Effects hostLost(String host, double nowMs) {
    withdrawnHosts.remove(host); // a host that comes back under the same address starts afresh
    List<DecisionNote> notes = new ArrayList<>();
    for (var it = members.values().iterator(); it.hasNext(); ) {
      Member m = it.next();
      if (InstanceIds.onHost(m.id, host)) {
        it.remove();
        if (m.last != null) {
          retiredEnergyJ += m.last.energyJ();
        }
        notes.add(note("lost " + m.id + " (" + m.tp + ")", "its host " + host + " left the cluster; "
            + (hasPlan ? "the plan " + plan.describe() + " is reconciled without it" : "no plan yet"), 0));
      }
    }
    if (notes.isEmpty()) {
      return effects(Optional.empty(), List.of());
    }
    noRoomFor.clear(); // the cluster changed: every TP may be tried again
    return reconcile(notes, nowMs);
  }

  /**
   * The GPU hosts that offer their GPUs now. An instance on a host no longer listed — it is leaving the cluster (a
   * rolling restart: the node withdrew its host before stopping) — keeps serving while a replacement starts on
   * another host, and drains once that serves (make-before-break); {@link #hostLost} follows when the host is gone.
   */
  public Effects hostsListed(Set<String> hosts, double nowMs) {
    Set<String> withdrawn = new HashSet<>(listedHosts);
    withdrawn.removeAll(hosts);
    withdrawnHosts.removeAll(hosts); // listed again
    withdrawnHosts.addAll(withdrawn);
    listedHosts = Set.copyOf(hosts);
    List<DecisionNote> notes = new ArrayList<>();
    for (Member m : members.values()) {
      if (withdrawn.contains(InstanceIds.hostOf(m.id))) {
        notes.add(note("replace " + m.id + " (" + m.tp + ")", "its host is leaving the cluster; it serves until a"
            + " replacement on another host does, then drains", 0));
      }
    }
    if (notes.isEmpty()) {
      return effects(Optional.empty(), List.of());
    }
    noRoomFor.clear(); // the cluster changed: every TP may be tried again
    return reconcile(notes, nowMs);
  }

  private boolean leaving(Member m) {
    return withdrawnHosts.contains(InstanceIds.hostOf(m.id));
  }

  /** The keep-alive: bounds and SLO to the instances, retries of starts, routes, telemetry up. */
  public Effects keepAlive(double nowMs) {
    if (budget == null) {
      return effects(Optional.empty(), List.of());
    }
    boolean settled = hasPlan && !planning && pendingPlacements == 0;
    if (settled && !noRoomFor.isEmpty() && ++keepAlivesWithoutRoom >= retryRoomAfter) {
      // GPUs may have freed up anywhere in the cluster (another pool drained, a host joined): plan with every TP
      // again, after 1, 2, 4, ... keep-alives while the cluster stays full
      noRoomFor.clear();
      keepAlivesWithoutRoom = 0;
      retryRoomAfter = Math.min(2 * retryRoomAfter, MAX_ROOM_RETRY_KEEP_ALIVES);
      return new Effects(replanRequest(), List.of(), List.of(), List.of(), true, routes(),
          Optional.of(telemetryUp(nowMs)), List.of());
    }
    Effects e = settled ? reconcile(new ArrayList<>(), nowMs) : routesOnly(List.of());
    return new Effects(e.plan(), e.start(), e.drain(), e.reshard(), true, e.routes(),
        Optional.of(telemetryUp(nowMs)), e.decisions());
  }

  /** The routes of the ready instances now. */
  public Optional<PoolRoutes> routes() {
    if (budget == null) {
      return Optional.empty();
    }
    List<PoolRoutes.Ready> ready = new ArrayList<>();
    for (Member m : members.values()) {
      if (m.state == InstanceState.READY && !m.spare()) {
        ready.add(new PoolRoutes.Ready(m.id, capacity(m.tp), m.last == null ? 0 : m.last.queued()));
      }
    }
    return Optional.of(new PoolRoutes(pool, budget.nativeType(), budget.types(), ready));
  }

  // ------------------------------------------------------------------ internals

  private Optional<PoolPlanner.Request> replanRequest() {
    if (budget == null || planning) {
      return Optional.empty();
    }
    planning = true;
    List<TensorParallelism> tps = TensorParallelism.PAPER_DEGREES.stream().filter(tp -> !noRoomFor.contains(tp))
        .toList();
    // a retiring pool serves no type: it plans for nothing and drains
    Mix m = mix != null ? mix : Mix.single(RequestType.LL, io.dynamollm.protocol.profile.TypeShape.ONE, ANY_SLO);
    return Optional.of(new PoolPlanner.Request(pool, m, mix == null ? 0 : correction.apply(load),
        budget.gpus(), budget.frequencyBounds(), tps.isEmpty() ? TensorParallelism.PAPER_DEGREES : tps,
        plan.groups().isEmpty() ? Optional.empty() : Optional.of(plan), settings.poolEpochMs() / 1000.0, false,
        warmSpares(), budget.powerCapW(), plannedFactors));
  }

  /** The warm spares by TP (the planner counts them as instances that serve without a start-up). */
  private Map<TensorParallelism, Integer> warmSpares() {
    Map<TensorParallelism, Integer> out = new java.util.HashMap<>();
    members.values().stream().filter(m -> m.spare() && m.state == InstanceState.READY)
        .forEach(m -> out.merge(m.tp, 1, Integer::sum));
    return out;
  }

  private Effects reconcile(List<DecisionNote> notes, double nowMs) {
    if (pendingPlacements > 0 || adopting || !hasPlan) {
      return routesOnly(notes); // wait for the placements under way, the ledgers' answer, or a first plan
    }
    List<PoolReconciler.Live> live = new ArrayList<>();
    List<PoolReconciler.Spare> spares = new ArrayList<>();
    for (Member m : members.values()) {
      boolean leaving = leaving(m);
      if (m.spare() && m.state == InstanceState.READY && !leaving) {
        spares.add(new PoolReconciler.Spare(m.id, m.tp, m.spareSinceMs));
      } else {
        live.add(new PoolReconciler.Live(m.id, m.tp, m.state, capacity(m.tp), leaving));
      }
    }
    // a pool that holds more GPUs than its budget, while a start found no room, lets its extra instances go first:
    // the cluster gave those GPUs to other pools (or to this pool's new instances), which wait for them. GPUs of a
    // leaving host are counted by no budget and can go to no one: they do not count as held
    int held = members.values().stream().filter(m -> m.state != InstanceState.DRAINING && !leaving(m))
        .mapToInt(m -> m.tp.degree()).sum();
    boolean breakFirst = !noRoomFor.isEmpty() && held > budget.gpus();
    var actions = PoolReconciler.reconcile(plan, live, reshards, breakFirst, spares,
        new PoolReconciler.Spares(spareKeepMs, budget.gpus(), nowMs));
    for (String id : actions.wake()) {
      Member m = members.get(id);
      notes.add(note("wake " + id + " (" + m.tp + ")", String.format(Locale.ROOT, "the plan %s needs it again; a warm"
          + " spare for %.1f min, it serves at once instead of a start-up", plan.describe(),
          (nowMs - m.spareSinceMs) / 60_000), 0));
      m.spareSinceMs = Double.NaN;
    }
    for (String id : actions.park()) {
      Member m = members.get(id);
      notes.add(note("park " + id + " (" + m.tp + ") as a warm spare", String.format(Locale.ROOT, "the plan %s no"
          + " longer needs it; kept loaded, unrouted, at the lowest clock for up to %.1f min (what a start-up costs"
          + " at its idle power) within the pool's %d GPUs", plan.describe(), spareKeepMs / 60_000.0, budget.gpus()),
          0));
      m.spareSinceMs = nowMs;
    }
    List<Start> starts = new ArrayList<>();
    for (PoolPlan.Group g : actions.start()) {
      if (noRoomFor.contains(g.tp())) {
        continue; // no host has room for it: the planner already plans without it
      }
      starts.add(new Start(g.tp(), g.clockMhz(), g.capacityRps()));
    }
    pendingPlacements += starts.size();
    for (String id : actions.drain()) {
      Member d = members.get(id);
      notes.add(note("drain " + id, d.spare() ? String.format(Locale.ROOT, "a warm spare for %.1f min, not needed"
          + " again within its keep time or the pool's budget of %d GPUs", (nowMs - d.spareSinceMs) / 60_000,
          budget.gpus()) : "the plan " + plan.describe() + " no longer needs it" + (breakFirst
          ? String.format(Locale.ROOT, " (the pool holds %d GPUs of a %d-GPU budget and its new instances find no"
              + " room: it goes before they serve)", held, budget.gpus()) : ""), 0));
      d.state = InstanceState.DRAINING;
      d.spareSinceMs = Double.NaN;
    }
    for (PoolReconciler.Reshard r : actions.reshard()) {
      notes.add(note("re-shard " + r.id() + (r.partners().isEmpty() ? "" : " with " + r.partners()) + " into "
          + r.into().stream().map(g -> g.tp().toString()).toList(), "the plan " + plan.describe() + " wants "
          + "that TP; in place on its own GPUs" + (r.delayMs() > 0 ? ", after " + r.delayMs() + " ms" : ""), 0));
      Member m = members.get(r.id());
      m.state = InstanceState.RESHARDING;
      r.partners().forEach(p -> members.get(p).state = InstanceState.RESHARDING);
    }
    return new Effects(Optional.empty(), starts, actions.drain(), actions.reshard(), false, routes(), Optional.empty(),
        notes);
  }

  private Effects routesOnly(List<DecisionNote> notes) {
    return effects(Optional.empty(), notes);
  }

  private Effects effects(Optional<PoolPlanner.Request> req, List<DecisionNote> notes) {
    return new Effects(req, List.of(), List.of(), List.of(), false, routes(), Optional.empty(), notes);
  }

  /** An instance's planned capacity: its TP's group in the plan; without one, in proportion to its GPUs. */
  private double capacity(TensorParallelism tp) {
    for (PoolPlan.Group g : plan.groups()) {
      if (g.tp().equals(tp) && g.capacityRps() > 0) {
        return g.capacityRps();
      }
    }
    return tp.degree();
  }

  private PoolTelemetry telemetryUp(double nowMs) {
    double seconds = Math.max(1e-3, (nowMs - windowStartMs) / 1000.0);
    Map<RequestType, Double> rates = new EnumMap<>(RequestType.class);
    windowRouted.forEach((type, n) -> rates.put(type, n / seconds));
    if (seconds >= 1) {
      epochPeakRps = Math.max(epochPeakRps, rates.values().stream().mapToDouble(Double::doubleValue).sum());
    }
    double power = 0;
    double energy = retiredEnergyJ;
    int gpus = 0;
    for (Member m : members.values()) {
      if (m.last != null) {
        power += m.last.powerW();
        energy += m.last.energyJ();
      }
      gpus += m.tp.degree();
    }
    double attainment = windowCompleted == 0 ? 1.0
        : (double) (windowCompleted - Math.min(windowMissed, windowCompleted)) / windowCompleted;
    PoolTelemetry t = new PoolTelemetry(pool, (long) nowMs, rates, attainment, power, energy, members.size(), gpus,
        load, plan.plannedLoadRps(), plan.capacityRps(), correction.factor());
    windowStartMs = nowMs;
    windowCompleted = 0;
    windowMissed = 0;
    windowRouted.clear();
    return t;
  }

  private DecisionNote note(String action, String reason, double savingW) {
    return new DecisionNote(Decision.POOL, pool, action, reason, savingW);
  }
}
