package io.dynamollm.decision.pool;

import java.util.Locale;

/**
 * How long a pool keeps an instance its plan no longer needs as a warm spare — weights loaded, routed nothing, at the
 * lowest clock (its governor sees no load) — before it drains ({@code dynamollm.decisions.spares.keep}).
 *
 * <p>{@code break-even} (the default) keeps it for as long as its idle power takes to spend what one start-up costs:
 * start-up time × the power of a loading GPU ÷ the idle power of a GPU. It is the ski-rental rule: a spare never
 * woken wastes at most one start-up's energy, and one woken within its keep time saves that start-up's energy and its
 * minutes without the capacity — whatever the load does next, never more than twice the energy of knowing it in
 * advance. With the bundled profile: 7 min × 230 W ÷ 77.7 W ≈ 20.7 min. A fixed duration overrides it; {@code 0s}
 * keeps none (every extra instance drains at once, as before spares existed).
 *
 * @param breakEven the keep time follows from the start-up cost and idle power
 * @param fixedMs otherwise, this keep time, ms (0: no spares)
 */
public record SparePolicy(boolean breakEven, long fixedMs) {
  /** The configuration's word for the break-even rule. */
  public static final String BREAK_EVEN = "break-even";

  public SparePolicy {
    if (fixedMs < 0) {
      throw new IllegalArgumentException("spares.keep must be " + BREAK_EVEN + " or a duration >= 0, got " + fixedMs
          + " ms");
    }
  }

  /** The keep time where pools run with these transitions and a GPU idles at {@code idlePowerW}, ms. */
  public long keepMs(PoolPlanner.Transitions transitions, double idlePowerW) {
    if (!breakEven) {
      return fixedMs;
    }
    if (!(idlePowerW > 0)) {
      return 0; // a GPU that idles for nothing: keep none rather than forever
    }
    return Math.round(transitions.startupMs() * transitions.transitionPowerW() / idlePowerW);
  }

  @Override
  public String toString() {
    return breakEven ? BREAK_EVEN : String.format(Locale.ROOT, "%d ms", fixedMs);
  }
}
