package io.dynamollm.decision.pool;

import java.util.Locale;

/**
 * Online correction of the profile's capacity for one pool, from the requests it served last pool epoch: a pool that
 * missed its SLOs for more than {@code missThreshold} of its requests plans for more load than the profile says (the
 * profile cannot know how its mix of types, the predictor's mistakes or bursts cost), one that met them comfortably
 * relaxes back towards the profile. The planner plans for {@code forecast × factor}. Pure; the simulator's DynamoLLM
 * policy and the live pool manager use the same rule.
 *
 * @param factor the multiple of the forecast to plan for, in [1, {@code max}]
 */
public record CapacityCorrection(double factor) {

  /**
   * @param minRequests fewer completed requests than this in an epoch say nothing (the factor stays)
   * @param missThreshold a miss rate above this raises the factor by {@code 1 + min(maxStep, gain × missRate)}
   * @param relaxBelow a miss rate below this lowers the factor by {@code relax} (never below 1)
   * @param max the largest factor
   */
  public record Settings(long minRequests, double missThreshold, double gain, double maxStep, double max,
      double relaxBelow, double relax) {
    public Settings {
      if (minRequests < 1) {
        throw new IllegalArgumentException("min-requests must be at least 1, got " + minRequests);
      }
      if (!(missThreshold >= 0 && missThreshold < 1) || !(relaxBelow >= 0 && relaxBelow <= missThreshold)) {
        throw new IllegalArgumentException("need 0 <= relax-below <= miss-threshold < 1, got " + relaxBelow + ", "
            + missThreshold);
      }
      if (!(gain >= 0) || !(maxStep >= 0) || !(max >= 1) || Double.isInfinite(max)) {
        throw new IllegalArgumentException("need gain >= 0, max-step >= 0 and a finite max >= 1, got " + gain + ", "
            + maxStep + ", " + max);
      }
      if (!(relax > 0 && relax <= 1)) {
        throw new IllegalArgumentException("relax must be within (0, 1], got " + relax);
      }
    }
  }

  public static final CapacityCorrection NONE = new CapacityCorrection(1);

  public CapacityCorrection {
    if (!(factor >= 1) || Double.isInfinite(factor)) {
      throw new IllegalArgumentException("a capacity correction is a finite factor >= 1, got " + factor);
    }
  }

  /** The factor for the next epoch after one in which {@code completed} requests finished and {@code missed} missed. */
  public CapacityCorrection next(long completed, long missed, Settings s) {
    if (completed < s.minRequests()) {
      return this;
    }
    double missRate = (double) Math.min(missed, completed) / completed;
    if (missRate > s.missThreshold()) {
      return new CapacityCorrection(Math.min(s.max(), factor * (1 + Math.min(s.maxStep(), s.gain() * missRate))));
    }
    if (missRate < s.relaxBelow()) {
      return new CapacityCorrection(Math.max(1.0, factor * s.relax()));
    }
    return this;
  }

  /** The load to plan for. */
  public double apply(double forecastRps) {
    return forecastRps * factor;
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT, "x%.2f", factor);
  }
}
