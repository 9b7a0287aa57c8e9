package io.dynamollm.instance.engine;

import java.time.Duration;

/**
 * The time simulated engines and GPUs run on: the wall clock sped up {@code speedup} times (1 = real time), so that a
 * demo or a test can compress a workload and the controllers' epochs together.
 *
 * <p>Model time is anchored to the epoch, so that every node of a cluster reads the same model time (as far as their
 * wall clocks agree): a router on one node stamps arrivals that the cluster manager on another node buckets, and a
 * cluster manager that takes over on a third node forecasts from the same history. At speedup 1 it is the wall clock
 * (ms since 1970); sped up, it runs {@code speedup} times faster from {@link #ANCHOR_MS} (2026-01-01T00:00Z) on, so
 * nodes started with the same speedup agree. Within one node it advances with {@link System#nanoTime()} (monotonic).
 */
public final class ModelClock {
  /** The instant from which a sped-up model clock runs faster than the wall clock (2026-01-01T00:00:00Z). */
  public static final long ANCHOR_MS = 1_767_225_600_000L;

  private final long originNanos;
  /** Model time at {@link #originNanos}, ms. */
  private final double originModelMs;
  private final double speedup;

  public ModelClock(double speedup) {
    if (!(speedup >= 1) || Double.isInfinite(speedup)) {
      throw new IllegalArgumentException("speedup must be a finite number >= 1, got " + speedup);
    }
    this.originNanos = System.nanoTime();
    this.originModelMs = ANCHOR_MS + (System.currentTimeMillis() - ANCHOR_MS) * speedup;
    this.speedup = speedup;
  }

  public double speedup() {
    return speedup;
  }

  /** Model time now, ms (the same on every node with the same speedup; see the class comment). */
  public double nowMs() {
    return originModelMs + (System.nanoTime() - originNanos) / 1e6 * speedup;
  }

  /** Model time since this clock was made, in nanoseconds (for simulated GPUs' energy counters). */
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
