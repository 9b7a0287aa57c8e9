package io.dynamollm.instance.engine;

import java.time.Duration;

/**
 * The time simulated engines and GPUs run on: the wall clock sped up {@code speedup} times (1 = real time), so that a
 * demo or a test can compress a workload and the controllers' epochs together.
 */
public final class ModelClock {
  private final long originNanos;
  private final double speedup;

  public ModelClock(double speedup) {
    if (!(speedup >= 1) || Double.isInfinite(speedup)) {
      throw new IllegalArgumentException("speedup must be a finite number >= 1, got " + speedup);
    }
    this.originNanos = System.nanoTime();
    this.speedup = speedup;
  }

  public double speedup() {
    return speedup;
  }

  /** Model time since the clock was made, ms. */
  public double nowMs() {
    return (System.nanoTime() - originNanos) / 1e6 * speedup;
  }

  /** Model time in nanoseconds (for simulated GPUs' energy counters). */
  public long nanoTime() {
    return (long) ((System.nanoTime() - originNanos) * speedup);
  }

  /** How long {@code model} time lasts on the wall clock (at least 1 ms: a timer needs a positive delay). */
  public Duration wall(Duration model) {
    return wall(model.toNanos() / 1e6, speedup);
  }

  /** How long {@code modelMs} of model time lasts on the wall clock at {@code speedup} (at least 1 ms). */
  public static Duration wall(double modelMs, double speedup) {
    return Duration.ofNanos(Math.max(1_000_000, (long) (modelMs * 1e6 / speedup)));
  }

  /** Wall time until the model time reaches {@code modelMs}, ms (negative when already past). */
  public double wallMsUntil(double modelMs) {
    return (modelMs - nowMs()) / speedup;
  }
}
