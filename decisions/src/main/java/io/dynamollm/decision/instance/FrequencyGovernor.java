package io.dynamollm.decision.instance;

import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.MixPoint;
import io.dynamollm.protocol.profile.Profile;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * Instance epoch (default 5 s): the GPU clock of one instance.
 *
 * <p>Open loop: drop the clocks the profile says would miss the SLOs of the instance's mix at its current load (each
 * SLO times a safety margin), pick the one with the least energy per request, the maximum if none fits.
 *
 * <p>Closed loop (the guardrail), a controller on what the SLOs are about: the windowed p99, over the instance's
 * recent completions, of each request's latency over its own type's SLO (the larger of its TTFT and TBT ratios) — p99
 * at or below 1 is the 99 % attainment the SLOs ask for; a short prompt in a merged pool that waits behind long ones
 * counts as the one request in a hundred it is, not as the pool's SLO. With {@code n} completions the p99 is known only
 * between two order statistics (a one-sided 90 % confidence band): the guardrail raises a floor under the clock when
 * the band's lower end reaches {@code guardEnter} — by one level, and by one more for every {@code guardStep} the
 * lower end stands above it (above 1, the SLO is already missed: the maximum), and again only once half a window has
 * completed at the new clock (no ratchet on the same slow requests) — holds it while the band straddles,
 * and releases it when the band's upper end falls to {@code guardExit}. Fewer than {@code minCompletions} completions
 * say nothing. Changes are rate-limited, except a raise when the SLO is already being missed; a step down waits until
 * the governor wanted it {@code stepDownAfter} epochs in a row, so a steady load does not flap between two clocks.
 *
 * <p>Pure: state in, state out; time is a parameter.
 */
public final class FrequencyGovernor {

  /**
   * The governor's tuning ({@code dynamollm.decisions.governor}).
   *
   * @param profileMargin a clock is feasible when the predicted TBT p99 stays within this share of the SLOs ...
   * @param missBudget ... and at most this share of the requests misses the TTFT SLO (as the planner plans)
   * @param guardEnter the guardrail raises the clock when the observed p99 (latency over SLO) is surely at least this
   * @param guardExit it releases when the observed p99 is surely at most this
   * @param guardStep one more level for every this much the observed p99 stands above {@code guardEnter}
   * @param minCompletions the guardrail needs at least this many completions in the window
   * @param windowMs latencies and the arrival rate are judged over this much recent time
   * @param minChangeIntervalMs least time between two changes (except emergencies)
   * @param stepDownAfter a lower clock is taken only after it was wanted this many epochs in a row
   */
  public record Settings(double profileMargin, double missBudget, double guardEnter, double guardExit, double guardStep,
      int minCompletions, long windowMs, long minChangeIntervalMs, int stepDownAfter) {

    public Settings {
      if (!(profileMargin > 0 && profileMargin <= 1)) {
        throw new IllegalArgumentException("profile-margin must be within (0, 1], got " + profileMargin);
      }
      if (!(missBudget > 0 && missBudget <= 0.05)) {
        throw new IllegalArgumentException("miss-budget must be within (0, 0.05], got " + missBudget);
      }
      if (!(guardExit > 0 && guardExit < guardEnter)) {
        throw new IllegalArgumentException("need 0 < guard-exit < guard-enter, got " + guardExit + ", " + guardEnter);
      }
      if (!(guardStep > 0) || Double.isInfinite(guardStep)) {
        throw new IllegalArgumentException("guard-step must be a positive, finite number, got " + guardStep);
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
   * What the completions of the window say: the p99 of latency over SLO lies within [{@code lower}, {@code upper}]
   * (one-sided 90 % each), from {@code completions} requests.
   */
  public record Observed(double lower, double upper, int completions) {
    /**
     * The band of the p99 of {@code ratios} (each request's latency over its own SLO): the order statistics at ranks
     * 0.99·n ∓ 1.28·√(0.99·0.01·n), the binomial count of requests above the true p99 at one-sided 90 %.
     */
    public static Observed of(double[] ratios) {
      int n = ratios.length;
      double[] v = ratios.clone();
      java.util.Arrays.sort(v);
      double spread = 1.2816 * Math.sqrt(0.99 * 0.01 * n);
      int lo = (int) Math.max(0, Math.min(n - 1, Math.floor(0.99 * n - spread) - 1));
      int hi = (int) Math.max(0, Math.min(n - 1, Math.ceil(0.99 * n + spread) - 1));
      return new Observed(n == 0 ? 0 : v[lo], n == 0 ? 0 : v[hi], n);
    }
  }

  /**
   * One epoch's inputs.
   *
   * @param nowMs the time
   * @param mix the requests the instance serves (its pool's mix: types, shares, lengths, SLOs)
   * @param tp the instance's TP
   * @param loadRps the instance's current arrival rate, requests per second
   * @param bounds the clock range the pool allows
   * @param observed what its recent completions say, when enough completed in the window
   */
  public record Input(long nowMs, Mix mix, TensorParallelism tp, double loadRps, FrequencyBounds bounds,
      Optional<Observed> observed) {
    public Input {
      Objects.requireNonNull(mix, "mix");
      Objects.requireNonNull(tp, "tp");
      Objects.requireNonNull(bounds, "bounds");
      Objects.requireNonNull(observed, "observed");
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
        case GUARDRAIL_STEP_UP -> "observed p99 near the SLO: up by the margin it shows";
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

    // open loop: the cheapest clock the profile says holds the SLOs at this load
    int target = max;
    Reason reason = Reason.NO_FEASIBLE_CLOCK;
    double bestEnergy = Double.POSITIVE_INFINITY;
    if (in.loadRps() <= 0) {
      target = levels.get(0);
      reason = Reason.IDLE;
    } else {
      Mix margin = in.mix().withSloScaled(1, settings.profileMargin()).withMissBudget(settings.missBudget());
      for (int mhz : levels) {
        MixPoint p = profile.estimate(margin, in.tp(), mhz, in.loadRps());
        if (p.meets() && p.point().energyPerRequestWh() < bestEnergy) {
          bestEnergy = p.point().energyPerRequestWh();
          target = mhz;
          reason = Reason.PROFILE_OPTIMUM;
        }
      }
    }

    // closed loop: the observation overrules the profile near the SLO
    int guardFloor = state.guardFloorMhz();
    double lower = in.observed().map(Observed::lower).orElse(0.0);
    double upper = in.observed().map(Observed::upper).orElse(Double.POSITIVE_INFINITY);
    boolean emergency = lower > 1.0;
    // a raise answers what the window showed; the next one waits for half a window of completions at the new clock
    // (else the same slow requests would raise it again every epoch: a ratchet)
    boolean fresh = emergency || guardFloor == 0 || in.nowMs() - state.lastChangeMs() >= settings.windowMs() / 2;
    if (in.observed().isPresent() && lower >= settings.guardEnter() && fresh) {
      int steps = 1 + (int) Math.floor((lower - settings.guardEnter()) / settings.guardStep());
      int stepped = emergency ? max : above(levels, Math.max(state.clockMhz(), target), steps);
      guardFloor = Math.max(guardFloor, stepped);
      reason = Reason.GUARDRAIL_STEP_UP;
    } else if (in.observed().isPresent() && lower >= settings.guardEnter()) {
      reason = Reason.GUARDRAIL_HOLD;
    } else if (guardFloor > 0 && upper <= settings.guardExit()) {
      guardFloor = 0; // released: the observation is surely well below the SLO again
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
    String detail = String.format(Locale.ROOT, "%d MHz at %.2f req/s on %s (%s%s)", target, in.loadRps(), in.tp(),
        in.observed().map(o -> String.format(Locale.ROOT, "observed p99/SLO %.2f..%.2f of %d", o.lower(), o.upper(),
            o.completions())).orElse("too few completions to judge"), guardFloor > 0 ? ", guard floor " + guardFloor
            + " MHz" : "");
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
    MixPoint p = profile.estimate(in.mix(), in.tp(), mhz, in.loadRps());
    return p.stable() ? p.powerPerGpuW() : Double.NaN;
  }

  /** The level {@code steps} above {@code mhz} (the highest when there are fewer). */
  private static int above(List<Integer> levels, int mhz, int steps) {
    int at = levels.size() - 1;
    for (int i = 0; i < levels.size(); i++) {
      if (levels.get(i) > mhz) {
        at = i + steps - 1;
        break;
      }
    }
    return levels.get(Math.min(levels.size() - 1, at));
  }
}
