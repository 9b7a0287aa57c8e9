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
 * the observed windowed p99 TTFT or TBT — each completion judged against its own type's SLO — nears the SLO, step up
 * one level above what the profile says and stay there until the observation falls well below the SLO. Changes are
 * rate-limited, except a step up when the SLO is already being missed; a step down waits until the governor wanted
 * it {@code stepDownAfter} epochs in a row, so a steady load does not flap between two clocks.
 *
 * <p>Pure: state in, state out; time is a parameter.
 */
public final class FrequencyGovernor {

  /**
   * The governor's tuning ({@code dynamollm.decisions.governor}).
   *
   * @param profileMargin a clock is feasible when the predicted p99s stay within this share of the SLO
   * @param guardEnter observed p99 / SLO at or above which the guardrail engages
   * @param guardExit observed p99 / SLO at or below which the guardrail releases
   * @param minCompletions the guardrail needs at least this many completions in the window
   * @param windowMs latencies and the arrival rate are judged over this much recent time
   * @param minChangeIntervalMs least time between two changes (except emergencies)
   * @param stepDownAfter a lower clock is taken only after it was wanted this many epochs in a row
   */
  public record Settings(double profileMargin, double guardEnter, double guardExit, int minCompletions, long windowMs,
      long minChangeIntervalMs, int stepDownAfter) {

    public Settings {
      if (!(profileMargin > 0 && profileMargin <= 1)) {
        throw new IllegalArgumentException("profile-margin must be within (0, 1], got " + profileMargin);
      }
      if (!(guardExit > 0 && guardExit < guardEnter)) {
        throw new IllegalArgumentException("need 0 < guard-exit < guard-enter, got " + guardExit + ", " + guardEnter);
      }
      if (minCompletions < 1) {
        throw new IllegalArgumentException("min-completions must be at least 1, got " + minCompletions);
      }
      if (windowMs < 1) {
        throw new IllegalArgumentException("window must be positive, got " + windowMs + " ms");
      }
      if (minChangeIntervalMs < 0) {
        throw new IllegalArgumentException("min-change-interval must be >= 0, got " + minChangeIntervalMs + " ms");
      }
      if (stepDownAfter < 1) {
        throw new IllegalArgumentException("step-down-after must be at least 1 epoch, got " + stepDownAfter);
      }
    }
  }

  /**
   * What the governor remembers between epochs.
   *
   * @param clockMhz the clock applied now
   * @param lastChangeMs when it was last changed ({@link #NEVER} when never)
   * @param guardFloorMhz while the guardrail holds, the lowest clock allowed; 0 when released
   * @param downVotes consecutive epochs that wanted a lower clock than {@code clockMhz}
   */
  public record State(int clockMhz, long lastChangeMs, int guardFloorMhz, int downVotes) {
    public static final long NEVER = Long.MIN_VALUE / 2;

    public static State initial(int clockMhz) {
      return new State(clockMhz, NEVER, 0, 0);
    }

    /** Held at {@code mhz} by an emergency (the ladder's raise): the guard floor keeps it there until released. */
    public State heldAt(int mhz, long nowMs) {
      return new State(mhz, nowMs, mhz, 0);
    }
  }

  /**
   * One epoch's inputs.
   *
   * @param nowMs the time
   * @param type the request type the instance is sized for (a merged pool's native type)
   * @param tp the instance's TP
   * @param loadRps the instance's current arrival rate, native-equivalent requests per second
   * @param slo the SLO the profile's estimate is held to (the native type's)
   * @param bounds the clock range the pool allows
   * @param observedTtftRatio windowed p99 of each completion's TTFT over its own type's TTFT SLO, when enough
   *     requests completed in the window
   * @param observedTbtRatio likewise for TBT
   */
  public record Input(
      long nowMs,
      RequestType type,
      TensorParallelism tp,
      double loadRps,
      Slo slo,
      FrequencyBounds bounds,
      Optional<Double> observedTtftRatio,
      Optional<Double> observedTbtRatio) {
    public Input {
      Objects.requireNonNull(type, "type");
      Objects.requireNonNull(tp, "tp");
      Objects.requireNonNull(slo, "slo");
      Objects.requireNonNull(bounds, "bounds");
      Objects.requireNonNull(observedTtftRatio, "observedTtftRatio");
      Objects.requireNonNull(observedTbtRatio, "observedTbtRatio");
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
    STEP_DOWN_PENDING,
    RATE_LIMITED,
    IDLE;

    /** How the decision log says it. */
    public String words() {
      return switch (this) {
        case PROFILE_OPTIMUM -> "the profile's least-energy clock within the SLO";
        case NO_FEASIBLE_CLOCK -> "no clock meets the SLO at this load: the maximum";
        case GUARDRAIL_STEP_UP -> "observed latency near the SLO: one level up";
        case GUARDRAIL_HOLD -> "guardrail holds until the latency falls well below the SLO";
        case STEP_DOWN_PENDING -> "a lower clock must be wanted a few epochs in a row";
        case RATE_LIMITED -> "too soon after the last change";
        case IDLE -> "no load: the lowest clock";
      };
    }
  }

  /**
   * @param state the new state (the clock to apply is {@code state.clockMhz()})
   * @param changed whether the clock changes now
   * @param reason why
   * @param detail one line for the decision log (what was decided at which load; the reason is separate)
   * @param predictedSavingW power the whole instance is predicted to save at this load by going from the current
   *     clock to the new one (negative when it rises); 0 when the profile cannot say
   */
  public record Decision(State state, boolean changed, Reason reason, String detail, double predictedSavingW) {}

  private final Profile profile;
  private final Settings settings;

  public FrequencyGovernor(Profile profile, Settings settings) {
    this.profile = Objects.requireNonNull(profile, "profile");
    this.settings = Objects.requireNonNull(settings, "settings");
  }

  public Settings settings() {
    return settings;
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
    if (in.loadRps() <= 0) {
      target = levels.get(0);
      reason = Reason.IDLE;
    } else {
      Slo margin = new Slo(in.slo().ttftP99Ms() * settings.profileMargin(), in.slo().tbtP99Ms() * settings.profileMargin());
      for (int mhz : levels) {
        LoadPoint p = profile.estimate(in.type(), in.tp(), mhz, in.loadRps());
        if (p.meets(margin) && p.energyPerRequestWh() < bestEnergy) {
          bestEnergy = p.energyPerRequestWh();
          target = mhz;
          reason = Reason.PROFILE_OPTIMUM;
        }
      }
    }

    // closed loop: the observation overrules the profile near the SLO
    double ratio = Math.max(in.observedTtftRatio().orElse(0.0), in.observedTbtRatio().orElse(0.0));
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

    // hysteresis: down only when wanted several epochs in a row (the first decision after a start is free)
    int votes = 0;
    if (target < state.clockMhz() && state.lastChangeMs() != State.NEVER) {
      votes = state.downVotes() + 1;
      if (votes < settings.stepDownAfter()) {
        String detail = String.format(Locale.ROOT, "keep %d MHz at %.2f req/s on %s: %d MHz wanted %d of %d epochs",
            state.clockMhz(), in.loadRps(), in.tp(), target, votes, settings.stepDownAfter());
        return new Decision(new State(state.clockMhz(), state.lastChangeMs(), guardFloor, votes), false,
            Reason.STEP_DOWN_PENDING, detail, 0);
      }
    }
    if (target != state.clockMhz() && !emergency
        && in.nowMs() - state.lastChangeMs() < settings.minChangeIntervalMs()) {
      String detail = String.format(Locale.ROOT, "keep %d MHz: last change %d ms ago (min %d ms); wanted %d MHz",
          state.clockMhz(), in.nowMs() - state.lastChangeMs(), settings.minChangeIntervalMs(), target);
      return new Decision(new State(state.clockMhz(), state.lastChangeMs(), guardFloor, votes), false,
          Reason.RATE_LIMITED, detail, 0);
    }
    boolean changed = target != state.clockMhz();
    String detail = String.format(Locale.ROOT, "%d MHz at %.2f req/s on %s (observed p99/SLO %.2f%s)", target,
        in.loadRps(), in.tp(), ratio, guardFloor > 0 ? ", guard floor " + guardFloor + " MHz" : "");
    double saving = changed ? in.tp().degree() * (powerPerGpu(in, state.clockMhz()) - powerPerGpu(in, target)) : 0;
    long last = changed ? in.nowMs() : state.lastChangeMs();
    return new Decision(new State(target, last, guardFloor, 0), changed, reason, detail,
        Double.isFinite(saving) ? saving : 0);
  }

  /** Power of one GPU of the instance at {@code mhz} and the input's load; NaN when the profile cannot say. */
  private double powerPerGpu(Input in, int mhz) {
    if (!profile.clockLevelsMhz().contains(mhz)) {
      return Double.NaN;
    }
    if (in.loadRps() <= 0) {
      return profile.idlePowerW();
    }
    LoadPoint p = profile.estimate(in.type(), in.tp(), mhz, in.loadRps());
    return p.stable() ? p.powerPerGpuW() : Double.NaN;
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
