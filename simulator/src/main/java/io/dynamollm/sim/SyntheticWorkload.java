package io.dynamollm.sim;

import java.util.Iterator;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;

/**
 * Generated week-long workloads shaped like the 2023 Azure LLM inference traces (labelled synthetic wherever shown).
 *
 * <p>Arrivals are Poisson with a rate (constant within each minute) that follows a daily curve — valley at 03:00, peak at 15:00,
 * {@code r(h) = valley + (1 − valley) · ((1 − cos(2π(h − 3)/24)) / 2)^k} with {@code k} solved so that a weekday's peak
 * is the published multiple of its average — and a lower weekend level. Lengths are log-normal around the published
 * medians.
 *
 * <table>
 *   <tr><th></th><th>peak / average</th><th>peak / valley</th><th>weekend</th><th>prompt median</th><th>output median</th></tr>
 *   <tr><td>conversation</td><td>1.7</td><td>3.3</td><td>0.75 ×</td><td>1020</td><td>129</td></tr>
 *   <tr><td>coding</td><td>2.8</td><td>34.6</td><td>0.35 ×</td><td>1500</td><td>13</td></tr>
 * </table>
 */
public final class SyntheticWorkload implements Workload {

  /** The two shapes. */
  public enum Kind {
    CONVERSATION(1.7, 3.3, 0.75, 1020, 1.0, 129, 0.9, 5.5),
    CODING(2.8, 34.6, 0.35, 1500, 0.8, 13, 1.0, 4.0);

    final double peakOverAverage;
    final double peakOverValley;
    final double weekendFactor;
    final double promptMedian;
    final double promptSigma;
    final double outputMedian;
    final double outputSigma;
    final double defaultAverageRps;

    Kind(double pa, double pv, double weekend, double pm, double ps, double om, double os, double rps) {
      peakOverAverage = pa;
      peakOverValley = pv;
      weekendFactor = weekend;
      promptMedian = pm;
      promptSigma = ps;
      outputMedian = om;
      outputSigma = os;
      defaultAverageRps = rps;
    }

    public static Kind parse(String s) {
      for (Kind k : values()) {
        if (k.name().equalsIgnoreCase(s)) {
          return k;
        }
      }
      throw new WorkloadException("unknown workload '" + s + "': expected conversation or coding");
    }
  }

  static final double DAY_MS = 86_400_000.0;

  private final Kind kind;
  private final double days;
  private final long seed;
  private final double averageRps;
  private final double shapeExponent;
  private final double valley;
  private final double weekdayScale;

  /**
   * @param days length in days (fractions allowed)
   * @param averageRps weekday average request rate (before the weekend dip)
   * @param seed random seed
   */
  public SyntheticWorkload(Kind kind, double days, double averageRps, long seed) {
    if (!(days > 0) || days > 28) {
      throw new WorkloadException("--days must be within (0, 28], got " + days);
    }
    if (!(averageRps > 0) || Double.isInfinite(averageRps)) {
      throw new WorkloadException("the average request rate must be positive, got " + averageRps);
    }
    this.kind = kind;
    this.days = days;
    this.seed = seed;
    this.averageRps = averageRps;
    this.valley = 1 / kind.peakOverValley;
    this.shapeExponent = solveExponent(1 / kind.peakOverAverage, valley);
    // a weekday's mean of the relative curve, so the absolute curve averages averageRps on weekdays
    this.weekdayScale = averageRps / meanRelative(shapeExponent, valley);
  }

  /** Request rate at time t (ms from Monday 00:00). */
  public double rateAt(double tMs) {
    double day = Math.floor(tMs / DAY_MS);
    double hour = (tMs - day * DAY_MS) / 3_600_000.0;
    boolean weekend = ((long) day % 7) >= 5;
    double r = weekdayScale * relative(hour, shapeExponent, valley);
    return weekend ? r * kind.weekendFactor : r;
  }

  static double relative(double hour, double k, double valley) {
    double g = Math.pow((1 - Math.cos(2 * Math.PI * (hour - 3) / 24)) / 2, k);
    return valley + (1 - valley) * g;
  }

  static double meanRelative(double k, double valley) {
    int n = 1440;
    double s = 0;
    for (int i = 0; i < n; i++) {
      s += relative(24.0 * (i + 0.5) / n, k, valley);
    }
    return s / n;
  }

  /** k such that the curve's mean over a day is {@code averageOverPeak} of its peak (1). */
  static double solveExponent(double averageOverPeak, double valley) {
    double lo = 0.05;
    double hi = 50;
    for (int i = 0; i < 100; i++) {
      double mid = Math.sqrt(lo * hi);
      if (meanRelative(mid, valley) > averageOverPeak) {
        lo = mid; // flatter than wanted: sharpen
      } else {
        hi = mid;
      }
    }
    return Math.sqrt(lo * hi);
  }


  @Override
  public String name() {
    return String.format(Locale.ROOT, "synthetic %s (%.1f days, weekday average %.2f req/s, seed %d)",
        kind.name().toLowerCase(Locale.ROOT), days, averageRps, seed);
  }

  @Override
  public boolean synthetic() {
    return true;
  }

  @Override
  public double durationMs() {
    return days * DAY_MS;
  }

  @Override
  public Iterator<TraceRequest> iterator() {
    // Poisson arrivals at a rate held constant within each minute (the curve changes slowly): exponential gaps at
    // that minute's rate; a gap that crosses into the next minute is redrawn there (memoryless)
    return new Iterator<>() {
      final SplittableRandom random = new SplittableRandom(seed);
      final double end = durationMs();
      double t;
      long id;
      TraceRequest next = advance();

      private TraceRequest advance() {
        while (t < end) {
          double minuteEnd = (Math.floor(t / 60_000.0) + 1) * 60_000.0;
          double rate = rateAt(minuteEnd - 30_000.0) / 1000.0; // per ms, at the middle of the minute
          double gap = rate > 0 ? -Math.log(1 - random.nextDouble()) / rate : Double.POSITIVE_INFINITY;
          if (t + gap >= minuteEnd) {
            t = minuteEnd;
            continue;
          }
          t += gap;
          if (t >= end) {
            break;
          }
          int p = lognormal(kind.promptMedian, kind.promptSigma, 1, 7600);
          int o = lognormal(kind.outputMedian, kind.outputSigma, 1, 2000);
          return new TraceRequest(id++, t, p, o);
        }
        return null;
      }

      private int lognormal(double median, double sigma, int min, int max) {
        double z = random.nextGaussian();
        return (int) Math.max(min, Math.min(max, Math.round(median * Math.exp(sigma * z))));
      }

      @Override
      public boolean hasNext() {
        return next != null;
      }

      @Override
      public TraceRequest next() {
        if (next == null) {
          throw new NoSuchElementException();
        }
        TraceRequest r = next;
        next = advance();
        return r;
      }
    };
  }
}
