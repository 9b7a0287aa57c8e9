package io.dynamollm.decision.instance;

import io.dynamollm.decision.engine.ContinuousBatching;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.InstanceTelemetry;
import io.dynamollm.protocol.MixSpec;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.CorrectedProfile;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.ProfileFactors;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * The instance level's epoch logic, once: what the live instance manager and the simulator's instances both run.
 *
 * <ul>
 *   <li>Every instance epoch ({@link #govern}): the arrival rate (smoothed over the latency window so one quiet epoch
 *       does not drop the clock before the next burst), the pool's mix and the band of the windowed p99 of each
 *       completion's latency over its own type's SLO go to the {@link FrequencyGovernor}; its choice passes the
 *       {@link ClockGuard} (a supported clock inside the bounds, rate-limited). An instance that has heard nothing
 *       from its pool for {@code poolSilenceMs} returns to the maximum clock.
 *   <li>Every ladder interval ({@link #ladder}): the {@link EmergencyLadder} on the waiting queue — deadline order,
 *       the maximum clock (an emergency: not rate-limited, and held against the governor until the guardrail
 *       releases), re-route of requests that have not started, rejection of those already past their deadline.
 * </ul>
 *
 * <p>A small state machine: observations in ({@link #arrived}, {@link #completed}, {@link #retarget}), decisions out;
 * time is an argument. The driver applies a {@link ClockChange} to the GPUs and reports a failure back
 * ({@link #clockNotApplied}).
 */
public final class InstanceStep {

  /**
   * What stays fixed for the instance's life.
   *
   * @param id the instance
   * @param nativeType its pool's largest type
   * @param tp its tensor parallelism
   * @param supportedClocksMhz the clocks its GPUs support
   */
  public record Instance(String id, RequestType nativeType, TensorParallelism tp, List<Integer> supportedClocksMhz) {
    public Instance {
      Objects.requireNonNull(id, "id");
      Objects.requireNonNull(nativeType, "nativeType");
      Objects.requireNonNull(tp, "tp");
      supportedClocksMhz = List.copyOf(supportedClocksMhz);
    }
  }

  /**
   * A clock to apply to every GPU of the instance.
   *
   * @param fromMhz the clock now
   * @param toMhz the new clock
   * @param reason why, in words
   * @param detail what was decided at which load
   * @param predictedSavingW power the instance is predicted to save by it (negative when it rises)
   * @param emergency the ladder's raise (not rate-limited)
   */
  public record ClockChange(int fromMhz, int toMhz, String reason, String detail, double predictedSavingW,
      boolean emergency) {}

  /**
   * A request waiting for its prefill.
   *
   * @param seq its id inside the engine
   * @param arrivalMs when it arrived
   * @param promptTokens its prompt
   * @param ttftSloMs the TTFT SLO of its (predicted) type
   */
  public record Queued(long seq, double arrivalMs, int promptTokens, double ttftSloMs) {}

  /**
   * The ladder's actions.
   *
   * @param order the waiting queue's new order (seqs), re-routed and rejected ones removed
   * @param reordered rung 1 was taken
   * @param raise rung 2: the clock change to the maximum, when taken
   * @param reroute rung 3: seqs to send to another instance
   * @param reject rung 4: seqs past their deadline
   */
  public record LadderActions(List<Long> order, boolean reordered, Optional<ClockChange> raise, List<Long> reroute,
      List<Long> reject) {
    public LadderActions {
      order = List.copyOf(order);
      reroute = List.copyOf(reroute);
      reject = List.copyOf(reject);
    }

    public boolean any() {
      return reordered || raise.isPresent() || !reroute.isEmpty() || !reject.isEmpty();
    }
  }

  /** How often each rung of the ladder was taken since the instance started. */
  public record LadderCounts(long reordered, long maxClockRaises, long rerouted, long rejected) {}

  /** Below this smoothed arrival rate (one request in about 17 minutes) an instance counts as idle. */
  static final double IDLE_RPS = 1e-3;

  /** The profile as given; {@link #profile} is it as this instance's engine showed it to be. */
  private final Profile baseProfile;
  private Profile profile;
  private FrequencyGovernor governor;
  private final ProfileRefinement refinement;
  private final Instance instance;
  private final EmergencyLadder ladder = new EmergencyLadder();
  private final long epochMs;
  private final long poolSilenceMs;
  private FrequencyBounds bounds;
  private Mix mix;
  private MixSpec lastSpec;
  private ClockGuard guard;
  private FrequencyGovernor.State state;
  private int clockMhz;
  private double lastChangeMs;
  private double lastHeardMs;
  private double workSinceEpoch;
  private double smoothedLoad = -1;
  /** {time, TTFT ms, TBT ms, the larger of TTFT and TBT over the own SLO} of recent completions. */
  private final ArrayDeque<double[]> completions = new ArrayDeque<>();
  private long reordered;
  private long raises;
  private long rerouted;
  private long rejected;

  /**
   * Starts at the highest supported clock inside the bounds (where every GPU's clock is reset to).
   *
   * @param mix the requests its pool serves
   * @param epochMs the instance epoch ({@link #govern} runs this often)
   * @param poolSilenceMs after this long without a word from the pool, the maximum clock
   */
  public InstanceStep(Profile profile, FrequencyGovernor governor, Instance instance, FrequencyBounds bounds,
      MixSpec mix, long epochMs, long poolSilenceMs, double nowMs) {
    this.baseProfile = Objects.requireNonNull(profile, "profile");
    this.profile = profile;
    this.governor = Objects.requireNonNull(governor, "governor");
    this.refinement = new ProfileRefinement(instance.tp(), ProfileRefinement.Settings.DEFAULT);
    this.instance = Objects.requireNonNull(instance, "instance");
    if (epochMs <= 0 || poolSilenceMs <= 0) {
      throw new IllegalArgumentException("epoch and pool silence must be positive, got " + epochMs + " and "
          + poolSilenceMs + " ms");
    }
    this.epochMs = epochMs;
    this.poolSilenceMs = poolSilenceMs;
    retarget(bounds, mix, nowMs);
    clockMhz = guard.max(instance.supportedClocksMhz());
    lastChangeMs = nowMs;
    state = FrequencyGovernor.State.initial(clockMhz);
  }

  /**
   * A snapshot of the engine's counters (every ladder interval): intervals of pure decoding refine the profile
   * ({@link ProfileRefinement}); when the factors moved, the governor decides on the corrected profile from now on.
   *
   * @return the new factors when they moved
   */
  public Optional<ProfileFactors> observedEngine(ProfileRefinement.Snapshot snapshot) {
    return corrected(refinement.observe(snapshot, baseProfile, mix.aggregate().meanDecodeContext()));
  }

  /**
   * A prompt submitted while the engine held nothing else, at {@code clockMhz}, had its first token {@code ttftMs}
   * (engine time) after: it refines the profile's prefill ({@link ProfileRefinement#observePrefill}).
   *
   * @return the new factors when they moved
   */
  public Optional<ProfileFactors> observedPrefill(int promptTokens, double ttftMs, int clockMhz) {
    return corrected(refinement.observePrefill(promptTokens, ttftMs, clockMhz, baseProfile));
  }

  /** Where the factors moved, the governor decides on the corrected profile from now on. */
  private Optional<ProfileFactors> corrected(boolean moved) {
    if (!moved) {
      return Optional.empty();
    }
    profile = CorrectedProfile.of(baseProfile, refinement.factors());
    governor = new FrequencyGovernor(profile, governor.settings());
    return Optional.of(refinement.factors());
  }

  /** What the engine showed of the profile so far, per (TP, clock), for the pool (telemetry). */
  public List<InstanceTelemetry.ProfileFactor> profileFactors() {
    return refinement.telemetry();
  }

  /** The clock applied now. */
  public int clockMhz() {
    return clockMhz;
  }

  public Instance instance() {
    return instance;
  }

  /** New bounds or mix from the pool (also its keep-alive). */
  public void retarget(FrequencyBounds newBounds, MixSpec newMix, double nowMs) {
    this.bounds = Objects.requireNonNull(newBounds, "bounds");
    Objects.requireNonNull(newMix, "mix");
    if (lastSpec == null || !lastSpec.equals(newMix)) {
      this.mix = newMix.toMix();
      this.lastSpec = newMix;
    }
    this.guard = new ClockGuard(newBounds, governor.settings().minChangeIntervalMs());
    this.lastHeardMs = nowMs;
  }

  /** A request of {@code type} arrived at the instance. */
  public void arrived(RequestType type) {
    workSinceEpoch += 1;
  }

  /** A request completed with these latencies; {@code slo} is its own type's. */
  public void completed(double nowMs, double ttftMs, double tbtMs, Slo slo) {
    completions.add(new double[] {nowMs, ttftMs, tbtMs, Math.max(ttftMs / slo.ttftP99Ms(), tbtMs / slo.tbtP99Ms())});
  }

  /** Windowed p99 TTFT of the completions (0 when none), ms. */
  public double ttftP99Ms(double nowMs) {
    trim(nowMs);
    return p99(1).orElse(0.0);
  }

  /** Windowed p99 TBT of the completions (0 when none), ms. */
  public double tbtP99Ms(double nowMs) {
    trim(nowMs);
    return p99(2).orElse(0.0);
  }

  /** The instance epoch: the clock for the load and latencies observed, or empty when it stays. */
  public Optional<ClockChange> govern(double nowMs) {
    int max = guard.max(instance.supportedClocksMhz());
    double epochS = epochMs / 1000.0;
    double instant = workSinceEpoch / epochS;
    workSinceEpoch = 0;
    if (nowMs - lastHeardMs > poolSilenceMs) {
      state = FrequencyGovernor.State.initial(max);
      return change(max, "nothing from the pool for " + (long) ((nowMs - lastHeardMs) / 1000)
          + " s: the maximum clock", "pool silent", 0, true, nowMs);
    }
    trim(nowMs);
    Optional<FrequencyGovernor.Observed> observed = Optional.empty();
    if (completions.size() >= governor.settings().minCompletions()) {
      double[] ratios = new double[completions.size()];
      int k = 0;
      for (double[] c : completions) {
        ratios[k++] = c[3];
      }
      observed = Optional.of(FrequencyGovernor.Observed.of(ratios));
    }
    // the load the governor plans for: the arrival rate smoothed over the latency window (an exponential average
    // with that time constant), never below the last epoch's
    double alpha = 1 - Math.exp(-epochS / Math.max(epochS, governor.settings().windowMs() / 1000.0));
    smoothedLoad = smoothedLoad < 0 ? instant : smoothedLoad + alpha * (instant - smoothedLoad);
    if (smoothedLoad < IDLE_RPS) {
      smoothedLoad = 0; // an average that only decays is no load: the instance is idle
    }
    double load = Math.max(instant, smoothedLoad);
    var d = governor.decide(state.clockMhz() == clockMhz ? state : FrequencyGovernor.State.initial(clockMhz),
        new FrequencyGovernor.Input((long) nowMs, mix, instance.tp(), load, bounds, observed));
    state = d.state();
    var g = guard.decide(d.state().clockMhz(), clockMhz, (long) lastChangeMs, (long) nowMs,
        instance.supportedClocksMhz(), false);
    if (g instanceof ClockGuard.Apply a) {
      return change(a.mhz(), d.reason().words(), d.detail(), d.predictedSavingW(), false, nowMs);
    }
    if (g instanceof ClockGuard.Defer) {
      state = new FrequencyGovernor.State(clockMhz, state.lastChangeMs(), state.guardFloorMhz(), state.downVotes());
    }
    return Optional.empty();
  }

  /**
   * The emergency ladder on the waiting queue.
   *
   * @param waiting the requests not started, in queue order
   * @param busyUntilMs when the iteration in progress ends (now when idle)
   * @param canReroute whether another instance of this pool or a larger one could take a request now
   */
  public LadderActions ladder(double nowMs, List<Queued> waiting, double busyUntilMs, boolean canReroute) {
    if (waiting.isEmpty()) {
      return new LadderActions(List.of(), false, Optional.empty(), List.of(), List.of());
    }
    int max = guard.max(instance.supportedClocksMhz());
    List<EmergencyLadder.Waiting> w = new ArrayList<>(waiting.size());
    for (Queued q : waiting) {
      int tokens = Math.max(1, Math.min(ContinuousBatching.MAX_PREFILL_TOKENS, q.promptTokens()));
      w.add(new EmergencyLadder.Waiting(q.seq(), q.arrivalMs() + q.ttftSloMs(),
          profile.prefillMs(instance.tp(), tokens, clockMhz), profile.prefillMs(instance.tp(), tokens, max)));
    }
    var a = ladder.evaluate(new EmergencyLadder.Snapshot(nowMs, w, busyUntilMs, clockMhz == max, canReroute, 0));
    Optional<ClockChange> raise = Optional.empty();
    if (a.raiseToMaxClock()) {
      raise = change(max, "requests would miss their TTFT deadline: the maximum clock until the guardrail releases",
          "emergency ladder", 0, true, nowMs);
      // held against the governor: the guard floor keeps the maximum until observations release it
      state = state.heldAt(max, (long) nowMs);
    }
    reordered += a.reordered() ? 1 : 0;
    raises += raise.isPresent() ? 1 : 0;
    rerouted += a.reroute().size();
    rejected += a.reject().size();
    return new LadderActions(a.order(), a.reordered(), raise, a.reroute(), a.reject());
  }

  /**
   * The engine had already taken a request the ladder re-routed or rejected into a batch (it is served here after
   * all): it is not counted as re-routed or rejected.
   */
  public void notWithdrawn(boolean reroute) {
    if (reroute) {
      rerouted = Math.max(0, rerouted - 1);
    } else {
      rejected = Math.max(0, rejected - 1);
    }
  }

  /** The driver could not apply the last change: the clock is still {@code mhz}. */
  public void clockNotApplied(int mhz) {
    clockMhz = mhz;
    state = FrequencyGovernor.State.initial(mhz);
  }

  public LadderCounts ladderCounts() {
    return new LadderCounts(reordered, raises, rerouted, rejected);
  }

  private Optional<ClockChange> change(int mhz, String reason, String detail, double savingW, boolean emergency,
      double nowMs) {
    if (mhz == clockMhz) {
      return Optional.empty();
    }
    ClockChange c = new ClockChange(clockMhz, mhz, reason, detail, savingW, emergency);
    clockMhz = mhz;
    lastChangeMs = nowMs;
    return Optional.of(c);
  }

  private void trim(double nowMs) {
    double since = nowMs - governor.settings().windowMs();
    while (!completions.isEmpty() && completions.peekFirst()[0] < since) {
      completions.pollFirst();
    }
  }

  /** p99 of column {@code col} of the window's completions. */
  private Optional<Double> p99(int col) {
    if (completions.isEmpty()) {
      return Optional.empty();
    }
    double[] v = new double[completions.size()];
    int k = 0;
    for (double[] c : completions) {
      v[k++] = c[col];
    }
    Arrays.sort(v);
    return Optional.of(v[Math.max(0, (int) Math.ceil(0.99 * v.length) - 1)]);
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT, "instance %s (%s, %s) at %d MHz", instance.id(), instance.nativeType(),
        instance.tp(), clockMhz);
  }
}
