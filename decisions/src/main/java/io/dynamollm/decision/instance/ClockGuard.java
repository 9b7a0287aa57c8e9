package io.dynamollm.decision.instance;

import io.dynamollm.protocol.FrequencyBounds;
import java.util.List;
import java.util.Objects;

/**
 * The safety rules for setting a GPU clock: only a clock the device supports, inside the configured bounds, and not
 * more often than a configured interval — except in an emergency (the ladder's raise to the maximum), which may
 * always go up. Pure: the caller passes the time.
 *
 * @param minIntervalMs least time between two changes of one instance's clock
 */
public record ClockGuard(FrequencyBounds bounds, long minIntervalMs) {

  public ClockGuard {
    Objects.requireNonNull(bounds, "bounds");
    if (minIntervalMs < 0) {
      throw new IllegalArgumentException("minIntervalMs must be >= 0, got " + minIntervalMs);
    }
  }

  /** What to do with a requested clock. */
  public sealed interface Decision permits Apply, Keep, Defer {}

  /** Lock the clock at {@code mhz} (a supported clock inside the bounds). */
  public record Apply(int mhz) implements Decision {}

  /** The request resolves to the clock already applied: nothing to do. */
  public record Keep(int mhz) implements Decision {}

  /** Too soon after the last change; may be applied from {@code notBeforeMs}. */
  public record Defer(int mhz, long notBeforeMs) implements Decision {}

  /**
   * @param requestedMhz the clock asked for (snapped to the highest supported clock at or below it, within bounds)
   * @param currentMhz the clock applied now, or -1 when none is locked
   * @param lastChangeMs when the clock last changed (ignored when none is locked)
   * @param supportedMhz the device's supported clocks
   * @param emergency a raise the emergency ladder asked for: not rate-limited when it goes up
   */
  public Decision decide(int requestedMhz, int currentMhz, long lastChangeMs, long nowMs, List<Integer> supportedMhz,
      boolean emergency) {
    int target = snap(requestedMhz, supportedMhz);
    if (target == currentMhz) {
      return new Keep(target);
    }
    boolean exempt = currentMhz < 0 || (emergency && target > currentMhz);
    if (!exempt && nowMs - lastChangeMs < minIntervalMs) {
      return new Defer(target, lastChangeMs + minIntervalMs);
    }
    return new Apply(target);
  }

  /** The highest supported clock inside the bounds at or below {@code mhz}; the lowest one inside if none is below. */
  public int snap(int mhz, List<Integer> supportedMhz) {
    int best = -1;
    int lowestInside = -1;
    for (int c : supportedMhz) {
      if (!bounds.contains(c)) {
        continue;
      }
      if (lowestInside < 0 || c < lowestInside) {
        lowestInside = c;
      }
      if (c <= mhz && c > best) {
        best = c;
      }
    }
    if (lowestInside < 0) {
      throw new IllegalArgumentException("the device supports no clock inside " + bounds.minMhz() + "-"
          + bounds.maxMhz() + " MHz");
    }
    return best >= 0 ? best : lowestInside;
  }

  /** The highest supported clock inside the bounds. */
  public int max(List<Integer> supportedMhz) {
    return snap(Integer.MAX_VALUE, supportedMhz);
  }
}
