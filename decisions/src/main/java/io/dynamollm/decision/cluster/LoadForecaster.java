package io.dynamollm.decision.cluster;

import io.dynamollm.protocol.RequestType;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;

/**
 * Forecasts, per request type, the peak load of the coming epoch.
 *
 * <p>Arrivals are counted in buckets (default 1 min) and the rate of a bucket is smoothed over its neighbours. With a
 * week of history the template is the same time slot a week earlier; with at least a day, a day earlier. The
 * template's peak over the coming epoch is scaled by how the last hour compares with the same hour in the template
 * (clamped to 0.5–2), so a busier-than-usual day raises the forecast. Without history, the recent peak (the last
 * {@code recentWindowMs}) stands for the next epoch. A headroom factor covers the noise of a peak.
 *
 * <p>Pure: the caller passes every arrival's time; nothing reads a clock.
 */
public final class LoadForecaster {
  public static final long DAY_MS = 86_400_000L;
  public static final long WEEK_MS = 7 * DAY_MS;

  /**
   * @param bucketMs counting bucket
   * @param smoothingBuckets buckets averaged on each side when taking a rate
   * @param recentWindowMs window of the recent-peak fallback and of the online correction
   * @param headroom multiplier on the forecast peak
   */
  public record Settings(long bucketMs, int smoothingBuckets, long recentWindowMs, double headroom) {
    public Settings {
      if (bucketMs < 1000) {
        throw new IllegalArgumentException("bucket must be at least 1 s, got " + bucketMs + " ms");
      }
      if (smoothingBuckets < 0) {
        throw new IllegalArgumentException("smoothing-buckets must be >= 0, got " + smoothingBuckets);
      }
      if (recentWindowMs < bucketMs) {
        throw new IllegalArgumentException("recent-window (" + recentWindowMs + " ms) must be at least one bucket ("
            + bucketMs + " ms)");
      }
      if (!(headroom >= 1) || Double.isInfinite(headroom)) {
        throw new IllegalArgumentException("headroom must be a finite number >= 1, got " + headroom);
      }
    }
  }

  /** Which rule produced a forecast. */
  public enum Basis {
    WEEKLY_TEMPLATE,
    DAILY_TEMPLATE,
    RECENT_PEAK,
    NO_DATA
  }

  /**
   * A type's forecast.
   *
   * @param peakRps forecast peak, requests per second
   * @param basis the rule used
   * @param correction the online correction applied to a template (1 without one)
   * @param partialHistory the recent-peak rule had less history than its window: the forecast may be low
   */
  public record Forecast(double peakRps, Basis basis, double correction, boolean partialHistory) {}

  private final Settings settings;
  private final Map<RequestType, Map<Long, Integer>> counts = new EnumMap<>(RequestType.class);
  private long firstMs = Long.MAX_VALUE;
  private long lastMs = Long.MIN_VALUE;

  public LoadForecaster(Settings settings) {
    this.settings = settings;
  }

  /** {@code n} arrivals of {@code type} at {@code timeMs}. */
  public void observe(long timeMs, RequestType type, int n) {
    counts.computeIfAbsent(type, t -> new HashMap<>()).merge(Math.floorDiv(timeMs, settings.bucketMs()), n, Integer::sum);
    firstMs = Math.min(firstMs, timeMs);
    lastMs = Math.max(lastMs, timeMs);
  }

  /** Drops buckets older than eight days before {@code nowMs}, keeping memory bounded on long runs. */
  public void forgetBefore(long nowMs) {
    long cutoff = Math.floorDiv(nowMs - WEEK_MS - DAY_MS, settings.bucketMs());
    counts.values().forEach(m -> m.keySet().removeIf(b -> b < cutoff));
  }

  /** Forecast for every type over [startMs, startMs + lengthMs). */
  public Map<RequestType, Forecast> forecast(long startMs, long lengthMs) {
    Map<RequestType, Forecast> out = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      out.put(t, forecast(t, startMs, lengthMs));
    }
    return out;
  }

  public Forecast forecast(RequestType type, long startMs, long lengthMs) {
    Map<Long, Integer> c = counts.get(type);
    if (c == null || c.isEmpty() || firstMs == Long.MAX_VALUE) {
      return new Forecast(0, Basis.NO_DATA, 1, true);
    }
    long history = startMs - firstMs;
    long shift = history >= WEEK_MS + lengthMs ? WEEK_MS : history >= DAY_MS + lengthMs ? DAY_MS : 0;
    if (shift == 0) {
      double recent = peak(c, startMs - settings.recentWindowMs(), startMs);
      return new Forecast(recent * settings.headroom(), Basis.RECENT_PEAK, 1, history < settings.recentWindowMs());
    }
    double template = peak(c, startMs - shift, startMs - shift + lengthMs);
    long hour = Math.min(60 * 60_000L, settings.recentWindowMs() * 2);
    double recentMean = mean(c, startMs - hour, startMs);
    double templateMean = mean(c, startMs - shift - hour, startMs - shift);
    double correction = templateMean > 0 ? Math.max(0.5, Math.min(2.0, recentMean / templateMean)) : 1;
    double recentPeak = peak(c, startMs - settings.recentWindowMs(), startMs);
    // never forecast below what is arriving right now
    double peak = Math.max(template * correction, recentPeak);
    return new Forecast(peak * settings.headroom(), shift == WEEK_MS ? Basis.WEEKLY_TEMPLATE : Basis.DAILY_TEMPLATE,
        correction, false);
  }

  /** Highest smoothed rate (req/s) of any bucket in [from, to). */
  private double peak(Map<Long, Integer> c, long fromMs, long toMs) {
    long b0 = Math.floorDiv(fromMs, settings.bucketMs());
    long b1 = Math.floorDiv(toMs - 1, settings.bucketMs());
    double best = 0;
    int k = settings.smoothingBuckets();
    for (long b = b0; b <= b1; b++) {
      long sum = 0;
      for (long j = b - k; j <= b + k; j++) {
        sum += c.getOrDefault(j, 0);
      }
      best = Math.max(best, sum / ((2.0 * k + 1) * settings.bucketMs() / 1000.0));
    }
    return best;
  }

  private double mean(Map<Long, Integer> c, long fromMs, long toMs) {
    long b0 = Math.floorDiv(fromMs, settings.bucketMs());
    long b1 = Math.floorDiv(toMs - 1, settings.bucketMs());
    long sum = 0;
    for (long b = b0; b <= b1; b++) {
      sum += c.getOrDefault(b, 0);
    }
    return sum / ((b1 - b0 + 1) * settings.bucketMs() / 1000.0);
  }
}
