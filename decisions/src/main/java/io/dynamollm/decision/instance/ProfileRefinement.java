package io.dynamollm.decision.instance;

import io.dynamollm.protocol.InstanceTelemetry.ProfileFactor;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.ProfileFactors;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What an instance learns of its engine against the profile (issue 15's online refinement): from successive
 * snapshots of the engine's counters, the intervals in which it only decoded — the same sequences running at both
 * ends, none finished, none waiting, the same clock — give the decode step's time ({@code running} tokens per step)
 * and the GPUs' power, to compare with what the profile says at that (TP, clock, batch) and the pool's mean decode
 * context; prompts submitted while the engine held nothing else give the prefill's time (their time to first
 * token) against the profile's at that (TP, clock, prompt). Per (TP, clock) it keeps decayed sums of the observed
 * and the predicted decode time, energy and prefill time; each factor is their ratio (a ratio of sums, not a mean
 * of ratios: an interval of few steps is not biased towards long ones), bounded to [1 / {@code maxFactor},
 * {@code maxFactor}] and used once it stands on {@code minSamples} intervals (prefills).
 * Pure; the instance manager feeds it, the {@link InstanceStep} plans on the corrected profile.
 */
public final class ProfileRefinement {

  /**
   * @param decay what each new interval leaves of the sums before it is added (1: never forget)
   * @param maxFactor the largest correction either way
   * @param minSamples intervals a (TP, clock) needs before its factor counts
   * @param minSteps decode steps an interval must hold to count
   * @param changeTolerance a factor that moved by more than this (relative) rebuilds the corrected profile
   * @param minPrefillMs prefills the profile puts shorter than this do not count (their time to first token says
   *     more of the engine's and the network's overheads than of the prefill)
   */
  public record Settings(double decay, double maxFactor, long minSamples, int minSteps, double changeTolerance,
      double minPrefillMs) {
    public static final Settings DEFAULT = new Settings(0.98, 1.5, 20, 2, 0.02, 30);

    public Settings {
      if (!(decay > 0 && decay <= 1) || !(maxFactor > 1) || minSamples < 1 || minSteps < 1
          || !(changeTolerance >= 0) || !(minPrefillMs >= 0)) {
        throw new IllegalArgumentException("need 0 < decay <= 1, max-factor > 1, min-samples >= 1, min-steps >= 1,"
            + " change-tolerance >= 0, min-prefill-ms >= 0");
      }
    }
  }

  /**
   * The engine's counters at one moment.
   *
   * @param nowMs the engine's time
   * @param running sequences in its batch
   * @param waiting prompts waiting
   * @param generated output tokens since it started
   * @param completed requests finished since it started
   * @param clockMhz the clock its GPUs run at
   * @param powerPerGpuW its GPUs' mean power now
   */
  public record Snapshot(double nowMs, int running, int waiting, long generated, long completed, int clockMhz,
      double powerPerGpuW) {}

  /**
   * Which of an instance's requests had their prefill to themselves: one submitted while the engine held nothing
   * else, when the next request came only after its first token (an engine batches prompts that arrive together).
   * Its time to first token is then its prefill's time. One at a time; not thread-safe (the instance's actor).
   */
  public static final class AlonePrefill {
    private long id = -1;
    private double submittedMs;
    private int clockMhz;
    private double followedMs = Double.POSITIVE_INFINITY;

    /** A request was submitted at {@code nowMs}; {@code engineEmpty}: the engine held no other. */
    public void submitted(long requestId, boolean engineEmpty, double nowMs, int clockMhz) {
      if (engineEmpty) {
        id = requestId;
        submittedMs = nowMs;
        this.clockMhz = clockMhz;
        followedMs = Double.POSITIVE_INFINITY;
      } else if (id >= 0 && followedMs == Double.POSITIVE_INFINITY) {
        followedMs = nowMs;
      }
    }

    /**
     * A request finished (with its engine's time to first token, mean time between tokens and output tokens; zeros
     * when it failed).
     *
     * @return the clock its prefill ran alone at, or 0 when it did not run alone or its first token was not timed (a
     *     server that answered without streaming gives only its total, as TTFT with TBT 0)
     */
    public int finished(long requestId, double ttftMs, double tbtMs, int outputTokens) {
      if (requestId != id) {
        return 0;
      }
      id = -1;
      boolean timed = ttftMs > 0 && (tbtMs > 0 || outputTokens == 1);
      return timed && submittedMs + ttftMs <= followedMs ? clockMhz : 0;
    }
  }

  private static final class Sums {
    double observedMs;
    double predictedMs;
    double observedJ;
    double predictedJ;
    double samples;
    double observedPrefillMs;
    double predictedPrefillMs;
    double prefillSamples;
  }

  private final Settings settings;
  private final TensorParallelism tp;
  private final Map<Integer, Sums> byClock = new TreeMap<>();
  private Snapshot last;
  private ProfileFactors factors = ProfileFactors.NONE;

  public ProfileRefinement(TensorParallelism tp, Settings settings) {
    this.tp = tp;
    this.settings = settings;
  }

  /**
   * Takes one snapshot.
   *
   * @param profile the profile as it stands, uncorrected
   * @param contextTokens the mean decode context of the requests the instance serves
   * @return true when the factors moved enough that the corrected profile should be rebuilt
   */
  public boolean observe(Snapshot s, Profile profile, double contextTokens) {
    Snapshot before = last;
    last = s;
    if (before == null) {
      return false;
    }
    long tokens = s.generated() - before.generated();
    double dt = s.nowMs() - before.nowMs();
    int b = s.running();
    boolean onlyDecoded = b >= 1 && before.running() == b && before.waiting() == 0 && s.waiting() == 0
        && before.completed() == s.completed() && before.clockMhz() == s.clockMhz() && dt > 0
        && tokens >= (long) settings.minSteps() * b && tokens % b == 0;
    if (!onlyDecoded || b > profile.maxBatch(tp)) {
      return false;
    }
    double steps = (double) tokens / b;
    double context = Math.min(contextTokens, profile.kvCacheTokens(tp) / (double) b);
    double predictedStep;
    double predictedW;
    try {
      predictedStep = profile.decodeStepMs(tp, b, context, s.clockMhz());
      predictedW = profile.decodePowerW(tp, b, s.clockMhz());
    } catch (RuntimeException outsideTheProfile) {
      return false; // a clock or context the profile does not cover says nothing about it
    }
    Sums sums = byClock.computeIfAbsent(s.clockMhz(), k -> new Sums());
    double d = settings.decay();
    sums.observedMs = sums.observedMs * d + dt;
    sums.predictedMs = sums.predictedMs * d + steps * predictedStep;
    double watts = (s.powerPerGpuW() + before.powerPerGpuW()) / 2;
    if (watts > 0) {
      sums.observedJ = sums.observedJ * d + watts * dt;
      sums.predictedJ = sums.predictedJ * d + predictedW * dt;
    }
    sums.samples = sums.samples * d + 1;
    return taken();
  }

  /**
   * Takes one prefill: a prompt of {@code promptTokens} submitted to the engine while it held nothing else, at
   * {@code clockMhz}, whose first token came {@code ttftMs} after (the engine's own time to first token, its wait
   * for the instance not included).
   *
   * @param profile the profile as it stands, uncorrected
   * @return true when the factors moved enough that the corrected profile should be rebuilt
   */
  public boolean observePrefill(int promptTokens, double ttftMs, int clockMhz, Profile profile) {
    if (promptTokens < 1 || !(ttftMs > 0) || Double.isInfinite(ttftMs)) {
      return false;
    }
    double predicted;
    try {
      predicted = profile.prefillMs(tp, promptTokens, clockMhz);
    } catch (RuntimeException outsideTheProfile) {
      return false;
    }
    if (!(predicted >= settings.minPrefillMs())) {
      return false;
    }
    Sums sums = byClock.computeIfAbsent(clockMhz, k -> new Sums());
    double d = settings.decay();
    sums.observedPrefillMs = sums.observedPrefillMs * d + ttftMs;
    sums.predictedPrefillMs = sums.predictedPrefillMs * d + predicted;
    sums.prefillSamples = sums.prefillSamples * d + 1;
    return taken();
  }

  /** Takes the factors as the sums stand where they moved by more than the tolerance; answers whether they did. */
  private boolean taken() {
    ProfileFactors next = current();
    boolean moved = next.differsFrom(factors, settings.changeTolerance());
    if (moved) {
      factors = next;
    }
    return moved;
  }

  /** The factors in use: those that moved by more than the tolerance since they were last taken. */
  public ProfileFactors factors() {
    return factors;
  }

  /** The factors as the sums stand now, for telemetry (the pool merges its instances'). */
  public List<ProfileFactor> telemetry() {
    return current().list();
  }

  private ProfileFactors current() {
    List<ProfileFactor> out = new ArrayList<>();
    double max = settings.maxFactor();
    byClock.forEach((mhz, s) -> {
      boolean decoded = s.predictedMs > 0;
      boolean prefilled = s.predictedPrefillMs > 0;
      if (decoded || prefilled) {
        double time = decoded ? clamp(s.observedMs / s.predictedMs, max) : 1;
        double power = s.predictedJ > 0 ? clamp(s.observedJ / s.predictedJ, max) : 1;
        double prefill = prefilled ? clamp(s.observedPrefillMs / s.predictedPrefillMs, max) : 1;
        out.add(new ProfileFactor(tp.degree(), mhz, time, power, Math.round(s.samples), prefill,
            Math.round(s.prefillSamples)));
      }
    });
    return ProfileFactors.of(out, settings.minSamples());
  }

  private static double clamp(double v, double max) {
    return Math.max(1 / max, Math.min(max, v));
  }
}
