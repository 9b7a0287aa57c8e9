package io.dynamollm.decision.instance;

import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.LoadPoint;
import io.dynamollm.protocol.profile.Profile;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * Instance epoch (default 5 s): the GPU clock of one instance.
 *
 * <p>Open loop: drop the clocks the profile says would miss the SLO at the instance's current load (with a safety
 * margin), pick the one with the least energy per request, the maximum if none fits. Closed loop (guardrail): when
 * the observed windowed p99 TTFT or TBT nears the SLO, step up one level above what the profile says and stay there
 * until the observation falls well below the SLO (hysteresis). Changes are rate-limited, except a step up when the
 * SLO is already being missed.
 *
 * <p>Pure: state in, state out; time is a parameter.
 */
public final class FrequencyGovernor {

  /**
   * @param profileMargin a clock is feasible when the predicted p99s stay within this share of the SLO
   * @param guardEnter observed p99 / SLO at or above which the guardrail engages
   * @param guardExit observed p99 / SLO at or below which the guardrail releases
   * @param minChangeIntervalMs least time between two changes (except emergencies)
   */
  public record Settings(double profileMargin, double guardEnter, double guardExit, long minChangeIntervalMs) {
    public static final Settings DEFAULT = new Settings(0.9, 0.85, 0.6, 5_000);

    public Settings {
      if (!(profileMargin > 0 && profileMargin <= 1)) {
        throw new IllegalArgumentException("profileMargin must be in (0, 1], got " + profileMargin);
      }
      if (!(guardExit > 0 && guardExit < guardEnter)) {
        throw new IllegalArgumentException("need 0 < guardExit < guardEnter, got " + guardExit + ", " + guardEnter);
      }
      if (minChangeIntervalMs < 0) {
        throw new IllegalArgumentException("minChangeIntervalMs must be >= 0, got " + minChangeIntervalMs);
      }
    }
  }

  /**
   * What the governor remembers between epochs.
   *
   * @param clockMhz the clock applied now
   * @param lastChangeMs when it was last changed (Long.MIN_VALUE / 2 when never)
   * @param guardFloorMhz while the guardrail holds, the lowest clock allowed; 0 when released
   */
  public record State(int clockMhz, long lastChangeMs, int guardFloorMhz) {
    public static State initial(int clockMhz) {
      return new State(clockMhz, Long.MIN_VALUE / 2, 0);
    }
  }

  /**
   * One epoch's inputs.
   *
   * @param nowMs the time
   * @param type the request type the instance is sized for (a merged pool's native type)
   * @param tp the instance's TP
   * @param loadRps the instance's current arrival rate
   * @param slo the SLO to hold (a merged pool's tightest)
   * @param bounds the clock range the pool allows
   * @param observedTtftP99Ms windowed p99 TTFT, when requests completed in the window
   * @param observedTbtP99Ms windowed p99 TBT, likewise
   */
  public record Input(
      long nowMs,
      RequestType type,
      TensorParallelism tp,
      double loadRps,
      Slo slo,
      FrequencyBounds bounds,
      Optional<Double> observedTtftP99Ms,
      Optional<Double> observedTbtP99Ms) {
    public Input {
      Objects.requireNonNull(type, "type");
      Objects.requireNonNull(tp, "tp");
      Objects.requireNonNull(slo, "slo");
      Objects.requireNonNull(bounds, "bounds");
      if (!(loadRps >= 0) || Double.isInfinite(loadRps)) {
        throw new IllegalArgumentException("loadRps must be finite and >= 0, got " + loadRps);
      }
    }
  }

  /** Why the clock is what it is. */
  public enum Reason {
    PROFILE_OPTIMUM,
    NO_FEASIBLE_CLOCK,
    GUARDRAIL_STEP_UP,
    GUARDRAIL_HOLD,
    RATE_LIMITED,
    IDLE
  }

  /**
   * @param state the new state (the clock to apply is {@code state.clockMhz()})
   * @param changed whether the clock changes now
   * @param reason why
   * @param detail one line for the decision log
   * @param predictedPowerSavingW predicted power saved per GPU against the maximum clock (0 when unknown)
   */
  public record Decision(State state, boolean changed, Reason reason, String detail, double predictedPowerSavingW) {}

  private final Profile profile;
  private final Settings settings;

  public FrequencyGovernor(Profile profile, Settings settings) {
    this.profile = Objects.requireNonNull(profile, "profile");
    this.settings = Objects.requireNonNull(settings, "settings");
  }

  public Decision decide(State state, Input in) {
    List<Integer> levels = profile.clockLevelsMhz().stream().filter(in.bounds()::contains).toList();
    if (levels.isEmpty()) {
      throw new IllegalArgumentException("no profile clock level lies within " + in.bounds());
    }
    int max = levels.get(levels.size() - 1);

    // open loop: the cheapest clock the profile says holds the SLO at this load
    int target = max;
    Reason reason = Reason.NO_FEASIBLE_CLOCK;
    double bestEnergy = Double.POSITIVE_INFINITY;
    double powerAtMax = Double.NaN;
    double powerAtTarget = Double.NaN;
    if (in.loadRps() <= 0) {
      target = levels.get(0);
      reason = Reason.IDLE;
    } else {
      Slo margin = new Slo(in.slo().ttftP99Ms() * settings.profileMargin(), in.slo().tbtP99Ms() * settings.profileMargin());
      for (int mhz : levels) {
        LoadPoint p = profile.estimate(in.type(), in.tp(), mhz, in.loadRps());
        if (mhz == max && p.stable()) {
          powerAtMax = p.powerPerGpuW();
        }
        if (p.meets(margin) && p.energyPerRequestWh() < bestEnergy) {
          bestEnergy = p.energyPerRequestWh();
          target = mhz;
          reason = Reason.PROFILE_OPTIMUM;
          powerAtTarget = p.powerPerGpuW();
        }
      }
    }

    // closed loop: the observation overrules the profile near the SLO
    double ratio = Math.max(
        in.observedTtftP99Ms().map(v -> v / in.slo().ttftP99Ms()).orElse(0.0),
        in.observedTbtP99Ms().map(v -> v / in.slo().tbtP99Ms()).orElse(0.0));
    int guardFloor = state.guardFloorMhz();
    boolean emergency = ratio >= 1.0;
    if (ratio >= settings.guardEnter()) {
      int stepped = emergency ? max : nextAbove(levels, Math.max(state.clockMhz(), target));
      guardFloor = Math.max(guardFloor, stepped);
      reason = Reason.GUARDRAIL_STEP_UP;
    } else if (guardFloor > 0 && ratio <= settings.guardExit()) {
      guardFloor = 0; // released: observation is well below the SLO again
    } else if (guardFloor > 0) {
      reason = Reason.GUARDRAIL_HOLD;
    }
    if (guardFloor > 0 && target < guardFloor) {
      target = Math.min(max, guardFloor);
    }

    String detail;
    if (target != state.clockMhz()
        && !emergency
        && in.nowMs() - state.lastChangeMs() < settings.minChangeIntervalMs()) {
      detail = String.format(Locale.ROOT, "keep %d MHz: last change %d ms ago (min %d ms); wanted %d MHz",
          state.clockMhz(), in.nowMs() - state.lastChangeMs(), settings.minChangeIntervalMs(), target);
      return new Decision(new State(state.clockMhz(), state.lastChangeMs(), guardFloor), false, Reason.RATE_LIMITED,
          detail, 0);
    }
    double saving = Double.isFinite(powerAtMax) && Double.isFinite(powerAtTarget) ? powerAtMax - powerAtTarget : 0;
    detail = String.format(Locale.ROOT, "%s: %d MHz at %.2f req/s on %s (observed/SLO %.2f%s)", reason, target,
        in.loadRps(), in.tp(), ratio, guardFloor > 0 ? ", guard floor " + guardFloor + " MHz" : "");
    boolean changed = target != state.clockMhz();
    long last = changed ? in.nowMs() : state.lastChangeMs();
    return new Decision(new State(target, last, guardFloor), changed, reason, detail, saving);
  }

  private static int nextAbove(List<Integer> levels, int mhz) {
    for (int l : levels) {
      if (l > mhz) {
        return l;
      }
    }
    return levels.get(levels.size() - 1);
  }
}
