package io.dynamollm.decision.cluster;

import io.dynamollm.protocol.RequestType;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Forecasts, per request type, the peak load of the coming epoch and the bursts within it.
 *
 * <p>Arrivals are counted in buckets (default 1 min) and the rate of a bucket is smoothed over its neighbours. The
 * forecast for an epoch covers the epoch and a lead before it (an instance started for it needs its start-up time):
 * <ul>
 *   <li>never below the recent peak (the last {@code recentWindowMs}): capacity is released only after the load has
 *       stayed lower for that long, at least a start-up time;
 *   <li>the short-horizon trend: a line fitted to the last {@code trendWindowMs} of bucket rates, extrapolated to the
 *       end of the horizon (at most {@code 2 ×} the recent peak), so a ramp is met before it arrives;
 *   <li>with a week of history, the same time slot a week earlier; with a day, a day earlier — the template's peak
 *       over the horizon scaled by how the last hour compares with the same hour then (clamped to 0.5–2).
 * </ul>
 * Bursts shorter than a bucket are seen in short buckets (default 10 s) over {@code burstWindowMs}: the rate that the
 * busiest short windows reach for {@code 1 - burstQuantile} of the requests, taken as the Poisson rate whose windows
 * reach it equally often ({@link #poissonRateFor}) — Poisson arrivals at the mean give the mean back (the profile's
 * load model already holds their spread), burstier ones more. The same from each short window's prompt tokens, in
 * requests of the window's mean prompt, catches bursts of long prompts. A headroom factor covers the noise of a
 * peak.
 *
 * <p>Pure: the caller passes every arrival's time; nothing reads a clock.
 */
public final class LoadForecaster {
  public static final long DAY_MS = 86_400_000L;
  public static final long WEEK_MS = 7 * DAY_MS;

  /**
   * @param bucketMs counting bucket
   * @param smoothingBuckets buckets averaged on each side when taking a rate
   * @param recentWindowMs window of the recent peak (the forecast never falls below it)
   * @param minHistoryMs less history than this is partial (the cluster stays in its bootstrap layout)
   * @param trendWindowMs buckets the trend line is fitted to
   * @param shortBucketMs bucket of the burst statistics
   * @param burstWindowMs window of the burst statistics
   * @param burstQuantile the share of requests whose short windows the burst rate covers
   * @param headroom multiplier on every forecast
   */
  public record Settings(long bucketMs, int smoothingBuckets, long recentWindowMs, long minHistoryMs,
      long trendWindowMs, long shortBucketMs, long burstWindowMs, double burstQuantile, double headroom) {
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
      if (minHistoryMs < bucketMs || minHistoryMs > recentWindowMs) {
        throw new IllegalArgumentException("min-history (" + minHistoryMs + " ms) must be at least one bucket and at"
            + " most the recent window (" + recentWindowMs + " ms)");
      }
      if (trendWindowMs < 3 * bucketMs) {
        throw new IllegalArgumentException("trend-window (" + trendWindowMs + " ms) must span at least 3 buckets");
      }
      if (shortBucketMs < 1000 || shortBucketMs > bucketMs || burstWindowMs < 10 * shortBucketMs) {
        throw new IllegalArgumentException("need 1 s <= short-bucket <= bucket and a burst-window of at least 10 short"
            + " buckets, got " + shortBucketMs + " ms, " + burstWindowMs + " ms");
      }
      if (!(burstQuantile > 0.5 && burstQuantile < 1)) {
        throw new IllegalArgumentException("burst-quantile must be within (0.5, 1), got " + burstQuantile);
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
   * @param peakRps forecast peak of the bucket rates over the horizon, requests per second (with headroom)
   * @param burstRps the Poisson rate its short-window bursts amount to (with headroom; 0 without enough data)
   * @param basis the rule used
   * @param correction the online correction applied to a template (1 without one)
   * @param partialHistory less history than the minimum: the forecast may be low
   */
  public record Forecast(double peakRps, double burstRps, Basis basis, double correction, boolean partialHistory) {
    /** The load to plan for: the peak, or the bursts where they are higher. */
    public double planRps() {
      return Math.max(peakRps, burstRps);
    }
  }

  private final Settings settings;
  private final Map<RequestType, Map<Long, Integer>> counts = new EnumMap<>(RequestType.class);
  /** Per type: short bucket → {requests, prompt tokens}, over the burst window. */
  private final Map<RequestType, java.util.TreeMap<Long, long[]>> shortCounts = new EnumMap<>(RequestType.class);
  private long firstMs = Long.MAX_VALUE;
  private long lastMs = Long.MIN_VALUE;

  public LoadForecaster(Settings settings) {
    this.settings = settings;
  }

  /** {@code n} arrivals of {@code type} at {@code timeMs}, with {@code promptTokens} prompt tokens in all. */
  public void observe(long timeMs, RequestType type, int n, long promptTokens) {
    counts.computeIfAbsent(type, t -> new HashMap<>()).merge(Math.floorDiv(timeMs, settings.bucketMs()), n, Integer::sum);
    long[] c = shortCounts.computeIfAbsent(type, t -> new java.util.TreeMap<>())
        .computeIfAbsent(Math.floorDiv(timeMs, settings.shortBucketMs()), k -> new long[2]);
    c[0] += n;
    c[1] += promptTokens;
    firstMs = Math.min(firstMs, timeMs);
    lastMs = Math.max(lastMs, timeMs);
  }

  /**
   * A type's counts in consecutive buckets from the one numbered {@code firstIndex} (bucket = time / bucket length):
   * {@code n[i]} arrivals with {@code promptTokens[i]} prompt tokens in all (arrays: a compact record to replicate).
   */
  public record Series(RequestType type, long firstIndex, int[] n, long[] promptTokens) {
    public Series {
      if (n.length != promptTokens.length) {
        throw new IllegalArgumentException("a series needs one prompt-token count per bucket, got " + n.length
            + " buckets and " + promptTokens.length + " prompt-token counts");
      }
    }
  }

  /**
   * The forecaster's counts over a span of time, to be kept elsewhere (another node) and {@linkplain #restore
   * restored} by a forecaster that takes over.
   *
   * @param bucketMs and {@code shortBucketMs}: the bucket lengths the counts were made with
   * @param firstMs the first arrival seen in the span ({@code Long.MAX_VALUE} when none)
   * @param lastMs the last arrival seen in the span ({@code Long.MIN_VALUE} when none)
   * @param buckets per type, the counting buckets (prompt tokens are not kept there: zeros)
   * @param shortBuckets per type, the short buckets of the burst statistics that the forecaster still held
   */
  public record Snapshot(long bucketMs, long shortBucketMs, long firstMs, long lastMs, List<Series> buckets,
      List<Series> shortBuckets) {
    public Snapshot {
      buckets = List.copyOf(buckets);
      shortBuckets = List.copyOf(shortBuckets);
    }

    public boolean isEmpty() {
      return buckets.isEmpty() && shortBuckets.isEmpty();
    }
  }

  /**
   * The counts of the buckets that begin in [fromMs, toMs) (both lengths), with the first and last arrival as far as
   * they fall in the span.
   */
  public Snapshot snapshot(long fromMs, long toMs) {
    List<Series> buckets = new ArrayList<>();
    long b0 = ceilDiv(fromMs, settings.bucketMs());
    long b1 = ceilDiv(toMs, settings.bucketMs());
    for (RequestType type : RequestType.values()) {
      Map<Long, Integer> m = counts.get(type);
      if (m == null) {
        continue;
      }
      long lo = Long.MAX_VALUE;
      long hi = Long.MIN_VALUE;
      for (long b : m.keySet()) {
        if (b >= b0 && b < b1) {
          lo = Math.min(lo, b);
          hi = Math.max(hi, b);
        }
      }
      if (lo <= hi) {
        int[] n = new int[(int) (hi - lo + 1)];
        for (int i = 0; i < n.length; i++) {
          n[i] = m.getOrDefault(lo + i, 0);
        }
        buckets.add(new Series(type, lo, n, new long[n.length]));
      }
    }
    List<Series> shorts = new ArrayList<>();
    long s0 = ceilDiv(fromMs, settings.shortBucketMs());
    long s1 = ceilDiv(toMs, settings.shortBucketMs());
    for (RequestType type : RequestType.values()) {
      java.util.TreeMap<Long, long[]> m = shortCounts.get(type);
      var span = m == null ? java.util.Collections.<Long, long[]>emptySortedMap() : m.subMap(s0, s1);
      if (!span.isEmpty()) {
        long lo = span.firstKey();
        int[] n = new int[(int) (span.lastKey() - lo + 1)];
        long[] tokens = new long[n.length];
        span.forEach((b, v) -> {
          n[(int) (b - lo)] = (int) v[0];
          tokens[(int) (b - lo)] = v[1];
        });
        shorts.add(new Series(type, lo, n, tokens));
      }
    }
    boolean any = firstMs < toMs && lastMs >= fromMs;
    return new Snapshot(settings.bucketMs(), settings.shortBucketMs(), any ? Math.max(firstMs, fromMs)
        : Long.MAX_VALUE, any ? Math.min(lastMs, toMs - 1) : Long.MIN_VALUE, buckets, shorts);
  }

  private static long ceilDiv(long a, long b) {
    return -Math.floorDiv(-a, b);
  }

  /**
   * Takes in counts another forecaster kept: each bucket holds the larger of its own and the snapshot's count (so a
   * snapshot restored twice, or one overlapping what this forecaster saw itself, counts nothing twice; a bucket both
   * saw in part reads low by what only one of them saw).
   *
   * @throws IllegalArgumentException when the snapshot was counted in other bucket lengths than this forecaster's
   */
  public void restore(Snapshot s) {
    if (s.bucketMs() != settings.bucketMs() || s.shortBucketMs() != settings.shortBucketMs()) {
      throw new IllegalArgumentException("arrival history counted in buckets of " + s.bucketMs() + " ms / "
          + s.shortBucketMs() + " ms cannot be restored into buckets of " + settings.bucketMs() + " ms / "
          + settings.shortBucketMs() + " ms");
    }
    for (Series series : s.buckets()) {
      Map<Long, Integer> m = counts.computeIfAbsent(series.type(), t -> new HashMap<>());
      for (int i = 0; i < series.n().length; i++) {
        if (series.n()[i] > 0) {
          m.merge(series.firstIndex() + i, series.n()[i], Math::max);
        }
      }
    }
    for (Series series : s.shortBuckets()) {
      java.util.TreeMap<Long, long[]> m = shortCounts.computeIfAbsent(series.type(), t -> new java.util.TreeMap<>());
      for (int i = 0; i < series.n().length; i++) {
        if (series.n()[i] > 0) {
          long[] c = m.computeIfAbsent(series.firstIndex() + i, k -> new long[2]);
          if (series.n()[i] > c[0]) {
            c[0] = series.n()[i];
            c[1] = series.promptTokens()[i];
          }
        }
      }
    }
    firstMs = Math.min(firstMs, s.firstMs());
    lastMs = Math.max(lastMs, s.lastMs());
  }

  /** Drops buckets older than eight days (short ones: the burst window) before {@code nowMs}: bounded memory. */
  public void forgetBefore(long nowMs) {
    long cutoff = Math.floorDiv(nowMs - WEEK_MS - DAY_MS, settings.bucketMs());
    counts.values().forEach(m -> m.keySet().removeIf(b -> b < cutoff));
    long shortCutoff = Math.floorDiv(nowMs - settings.burstWindowMs(), settings.shortBucketMs());
    shortCounts.values().forEach(m -> m.headMap(shortCutoff).clear());
  }

  /** Forecast for every type over [startMs, startMs + lengthMs), with instances started {@code leadMs} ahead. */
  public Map<RequestType, Forecast> forecast(long startMs, long lengthMs, long leadMs) {
    Map<RequestType, Forecast> out = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      out.put(t, forecast(t, startMs, lengthMs, leadMs));
    }
    return out;
  }

  public Forecast forecast(RequestType type, long startMs, long lengthMs, long leadMs) {
    return forecast(java.util.EnumSet.of(type), startMs, lengthMs, leadMs);
  }

  /**
   * The forecast for a pool of {@code types}: of their arrivals together (peaks of different types at different times
   * do not add up).
   */
  public Forecast forecast(Set<RequestType> types, long startMs, long lengthMs, long leadMs) {
    List<Map<Long, Integer>> maps = new ArrayList<>();
    for (RequestType t : types) {
      Map<Long, Integer> m = counts.get(t);
      if (m != null && !m.isEmpty()) {
        maps.add(m);
      }
    }
    if (maps.isEmpty() || firstMs == Long.MAX_VALUE) {
      return new Forecast(0, 0, Basis.NO_DATA, 1, true);
    }
    java.util.function.LongToIntFunction c = b -> {
      int sum = 0;
      for (Map<Long, Integer> m : maps) {
        sum += m.getOrDefault(b, 0);
      }
      return sum;
    };
    long history = startMs - firstMs;
    long horizon = lengthMs + Math.max(0, leadMs);
    long shift = history >= WEEK_MS + horizon ? WEEK_MS : history >= DAY_MS + horizon ? DAY_MS : 0;
    double recentPeak = peak(c, startMs - settings.recentWindowMs(), startMs);
    double trend = trend(c, startMs, horizon, recentPeak);
    double burst = burst(types, startMs) * settings.headroom();
    if (shift == 0) {
      return new Forecast(Math.max(recentPeak, trend) * settings.headroom(), burst, Basis.RECENT_PEAK, 1,
          history < settings.minHistoryMs());
    }
    double template = peak(c, startMs - shift, startMs - shift + horizon);
    long hour = Math.min(60 * 60_000L, settings.recentWindowMs() * 2);
    double recentMean = mean(c, startMs - hour, startMs);
    double templateMean = mean(c, startMs - shift - hour, startMs - shift);
    double correction = templateMean > 0 ? Math.max(0.5, Math.min(2.0, recentMean / templateMean)) : 1;
    // never forecast below what is arriving right now, nor below the ramp under way
    double peak = Math.max(template * correction, Math.max(recentPeak, trend));
    return new Forecast(peak * settings.headroom(), burst, shift == WEEK_MS ? Basis.WEEKLY_TEMPLATE
        : Basis.DAILY_TEMPLATE, correction, false);
  }

  /** Each type's mean arrival rate over the recent window before {@code nowMs}, req/s: the shares of a pool's mix. */
  public Map<RequestType, Double> recentMeans(long nowMs) {
    Map<RequestType, Double> out = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      Map<Long, Integer> m = counts.get(t);
      out.put(t, m == null ? 0.0 : mean(b -> m.getOrDefault(b, 0), nowMs - settings.recentWindowMs(), nowMs));
    }
    return out;
  }

  /**
   * The rate a line fitted (least squares) to the bucket rates of the last trend window reaches at the end of the
   * horizon, at most twice the recent peak; 0 when it falls.
   */
  private double trend(java.util.function.LongToIntFunction c, long startMs, long horizonMs, double recentPeak) {
    long b1 = Math.min(Math.floorDiv(startMs - 1, settings.bucketMs()), Math.floorDiv(lastMs, settings.bucketMs()) - 1);
    int n = (int) (settings.trendWindowMs() / settings.bucketMs());
    double sx = 0;
    double sy = 0;
    double sxx = 0;
    double sxy = 0;
    for (int i = 0; i < n; i++) {
      double x = i - (n - 1);
      double y = c.applyAsInt(b1 - (n - 1) + i) / (settings.bucketMs() / 1000.0);
      sx += x;
      sy += y;
      sxx += x * x;
      sxy += x * y;
    }
    double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    if (!(slope > 0)) {
      return 0;
    }
    double intercept = (sy - slope * sx) / n; // the fitted rate at the last full bucket
    double ahead = intercept + slope * ((startMs - (b1 + 1) * settings.bucketMs() + horizonMs)
        / (double) settings.bucketMs() + 0.5);
    return Math.min(2 * recentPeak, Math.max(0, ahead));
  }

  /**
   * The burst rate of {@code types} together over the burst window before {@code nowMs}: the larger of the Poisson rates that
   * match the request-weighted {@code burstQuantile} of short-window request counts and of short-window prompt tokens
   * (in requests of the window's mean prompt). 0 without short windows.
   */
  double burst(Set<RequestType> types, long nowMs) {
    long from = Math.floorDiv(nowMs - settings.burstWindowMs(), settings.shortBucketMs());
    long to = Math.floorDiv(nowMs - 1, settings.shortBucketMs());
    java.util.TreeMap<Long, long[]> window = new java.util.TreeMap<>();
    for (RequestType t : types) {
      java.util.TreeMap<Long, long[]> m = shortCounts.get(t);
      if (m != null) {
        m.subMap(from, true, to, true).forEach((b, v) -> {
          long[] sum = window.computeIfAbsent(b, k -> new long[2]);
          sum[0] += v[0];
          sum[1] += v[1];
        });
      }
    }
    if (window.isEmpty()) {
      return 0;
    }
    long requests = 0;
    long tokens = 0;
    for (long[] v : window.values()) {
      requests += v[0];
      tokens += v[1];
    }
    if (requests == 0) {
      return 0;
    }
    double meanPrompt = Math.max(1, (double) tokens / requests);
    int n = window.size();
    double[] byCount = new double[n];
    double[] byTokens = new double[n];
    int k = 0;
    for (long[] v : window.values()) {
      byCount[k] = v[0];
      byTokens[k++] = v[1] / meanPrompt;
    }
    double seconds = settings.shortBucketMs() / 1000.0;
    return Math.max(poissonRateFor(weightedQuantile(byCount, settings.burstQuantile()), settings.burstQuantile()),
        poissonRateFor(weightedQuantile(byTokens, settings.burstQuantile()), settings.burstQuantile())) / seconds;
  }

  /**
   * The window count that all but {@code 1 - q} of the requests find their window at or below (windows weighted by
   * their own count: it is the requests that wait).
   */
  public static double weightedQuantile(double[] counts, double q) {
    double[] v = counts.clone();
    java.util.Arrays.sort(v);
    double total = 0;
    for (double x : v) {
      total += x;
    }
    double above = 0;
    for (int i = v.length - 1; i >= 0; i--) {
      above += v[i];
      if (above > (1 - q) * total) {
        return v[i];
      }
    }
    return v.length == 0 ? 0 : v[0];
  }

  /**
   * The mean count μ of a Poisson window whose request-weighted q-quantile is {@code quantile}: a request finds its
   * window holding itself plus a Poisson(μ) count of others, so μ + z·√μ + 1 = quantile (normal approximation).
   */
  public static double poissonRateFor(double quantile, double q) {
    double z = inverseNormalApprox(q);
    double disc = z * z + 4 * Math.max(0, quantile - 1);
    double root = (-z + Math.sqrt(disc)) / 2;
    return root > 0 ? root * root : 0;
  }

  /** Standard normal quantile for the levels used here (Acklam's central region suffices above 0.5). */
  private static double inverseNormalApprox(double p) {
    // Beasley-Springer-Moro would do too; for p in (0.5, 0.9999) this rational approximation is within 5e-4
    double t = Math.sqrt(-2 * Math.log(1 - p));
    return t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t
        + 0.001308 * t * t * t);
  }

  /** Highest smoothed rate (req/s) of any bucket in [from, to). */
  private double peak(java.util.function.LongToIntFunction c, long fromMs, long toMs) {
    // only complete buckets count: the one under way (and those after it) would read low
    long complete = Math.floorDiv(lastMs, settings.bucketMs()) - 1;
    long b0 = Math.floorDiv(fromMs, settings.bucketMs());
    long b1 = Math.min(complete, Math.floorDiv(toMs - 1, settings.bucketMs()));
    double best = 0;
    int k = settings.smoothingBuckets();
    for (long b = b0; b <= b1; b++) {
      long sum = 0;
      int n = 0;
      for (long j = b - k; j <= Math.min(b + k, complete); j++) {
        sum += c.applyAsInt(j);
        n++;
      }
      best = Math.max(best, sum / (n * settings.bucketMs() / 1000.0));
    }
    return best;
  }

  private double mean(java.util.function.LongToIntFunction c, long fromMs, long toMs) {
    long b0 = Math.floorDiv(fromMs, settings.bucketMs());
    long b1 = Math.floorDiv(toMs - 1, settings.bucketMs());
    long sum = 0;
    for (long b = b0; b <= b1; b++) {
      sum += c.applyAsInt(b);
    }
    return sum / ((b1 - b0 + 1) * settings.bucketMs() / 1000.0);
  }
}
