package io.dynamollm.sim;

import io.dynamollm.decision.cluster.ShapeLearner;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.MixSpec;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.TypeShape;
import java.util.EnumMap;
import java.util.Map;
import java.util.Set;

/**
 * Arrivals per true type, per minute and per short window (10 s), and each type's lengths, read once from the
 * workload: the static policies size their pools from its peaks and its mix, and the oracle plans each window from
 * it (it is the oracle's perfect knowledge).
 */
final class WorkloadStats {
  /** Arrivals are counted per second; a short window is 10 of them, sliding. */
  static final double SECOND_MS = 1_000;
  static final int SHORT_SECONDS = 10;
  final int minutes;
  final int[][] perMinute; // [type][minute]
  final int[][] perSecond; // [type][second]
  final long[] byType;
  /** Requests of the workload, those refused at admission included. */
  final long requests;
  final double durationMs;
  private final Map<RequestType, TypeShape> shapes;

  WorkloadStats(Workload w, ClassThresholds thresholds, Profile profile) {
    this.durationMs = w.durationMs();
    this.minutes = (int) Math.ceil(durationMs / 60_000.0) + 1;
    this.perMinute = new int[9][minutes];
    this.perSecond = new int[9][minutes * 60];
    this.byType = new long[9];
    // the workload's own lengths per type, as the shape learner would learn them with no prior and no forgetting
    ShapeLearner lengths = new ShapeLearner(new ShapeLearner.Settings(0, Long.MAX_VALUE / 4, 0), profile::shape);
    long n = 0;
    for (TraceRequest r : w) {
      n++;
      if ((long) r.promptTokens() + r.outputTokens() > thresholds.maxContextTokens()) {
        continue; // rejected at admission: no policy serves it (counted in the workload, not in its load)
      }
      int m = (int) Math.min(minutes - 1, Math.floor(r.arrivalMs() / 60_000.0));
      RequestType t = thresholds.typeOf(r.promptTokens(), r.outputTokens());
      perMinute[t.ordinal()][m]++;
      perSecond[t.ordinal()][(int) Math.min(perSecond[0].length - 1, Math.floor(r.arrivalMs() / SECOND_MS))]++;
      byType[t.ordinal()]++;
      lengths.observe(t, r.promptTokens(), r.outputTokens(), 0);
    }
    this.requests = n;
    this.shapes = lengths.shapes(0);
  }

  /** The workload's lengths of each type (the profile's where it has no request of a type). */
  Map<RequestType, TypeShape> shapes() {
    return shapes;
  }

  /** The mix of {@code types} as the whole workload brings them (alike when it brings none of them). */
  Mix mix(Set<RequestType> types, SloTable slos) {
    Map<RequestType, Double> w = new EnumMap<>(RequestType.class);
    for (RequestType t : types) {
      w.put(t, (double) byType[t.ordinal()]);
    }
    return Mix.of(w, shapes::get, slos::of);
  }

  /** The mix of {@code types} as minutes [fromMinute, toMinute) bring them (the whole workload's when none). */
  Mix mix(Set<RequestType> types, SloTable slos, int fromMinute, int toMinute) {
    Map<RequestType, Double> w = new EnumMap<>(RequestType.class);
    double total = 0;
    for (RequestType t : types) {
      double n = 0;
      for (int m = Math.max(0, fromMinute); m < Math.min(minutes, toMinute); m++) {
        n += perMinute[t.ordinal()][m];
      }
      w.put(t, n);
      total += n;
    }
    return total > 0 ? Mix.of(w, shapes::get, slos::of) : mix(types, slos);
  }

  /** The same as a message's mix (the weights are the workload's request counts). */
  MixSpec mixSpec(Set<RequestType> types, SloTable slos) {
    Map<RequestType, Double> w = new EnumMap<>(RequestType.class);
    Map<RequestType, Slo> sl = new EnumMap<>(RequestType.class);
    for (RequestType t : types) {
      w.put(t, (double) byType[t.ordinal()]);
      sl.put(t, slos.of(t));
    }
    return new MixSpec(w, shapes, sl);
  }

  /**
   * Highest rate (req/s) of {@code types} together over any 10 s (sliding by the second) that begins in [fromMs, toMs).
   */
  double shortPeak(Set<RequestType> types, double fromMs, double toMs) {
    int n = perSecond[0].length;
    int s0 = (int) Math.max(0, Math.floor(fromMs / SECOND_MS));
    int s1 = (int) Math.min(n, Math.ceil(toMs / SECOND_MS));
    int[] types9 = types.stream().mapToInt(Enum::ordinal).toArray();
    int window = 0;
    for (int s = s0; s < Math.min(n, s0 + SHORT_SECONDS); s++) {
      window += count(types9, s);
    }
    int best = window;
    for (int s = s0 + 1; s < s1; s++) {
      window -= count(types9, s - 1);
      if (s + SHORT_SECONDS - 1 < n) {
        window += count(types9, s + SHORT_SECONDS - 1);
      }
      best = Math.max(best, window);
    }
    return best / (double) SHORT_SECONDS;
  }

  private int count(int[] types, int second) {
    int c = 0;
    for (int t : types) {
      c += perSecond[t][second];
    }
    return c;
  }

  /** Rate (req/s) of type t in minute m. */
  double rate(RequestType t, int m) {
    return m < 0 || m >= minutes ? 0 : perMinute[t.ordinal()][m] / 60.0;
  }

  /** Highest rate of {@code t} over any window of {@code 2k+1} minutes. */
  double peak(RequestType t, int k) {
    double best = 0;
    for (int m = 0; m < minutes; m++) {
      double s = 0;
      for (int j = m - k; j <= m + k; j++) {
        s += rate(t, j);
      }
      best = Math.max(best, s / (2 * k + 1));
    }
    return best;
  }

  /** Highest rate of {@code t} over any window of {@code 2k+1} minutes centred in [fromMinute, toMinute). */
  double peak(RequestType t, int k, int fromMinute, int toMinute) {
    double best = 0;
    for (int m = Math.max(0, fromMinute); m < Math.min(minutes, toMinute); m++) {
      double s = 0;
      for (int j = m - k; j <= m + k; j++) {
        s += rate(t, j);
      }
      best = Math.max(best, s / (2 * k + 1));
    }
    return best;
  }

  /** First minute of the busiest hour (native-equivalent). */
  int peakHourStart(double[] weights) {
    double[] perMinute = new double[minutes];
    for (int m = 0; m < minutes; m++) {
      for (RequestType t : RequestType.values()) {
        perMinute[m] += rate(t, m) * weights[t.ordinal()];
      }
    }
    double window = 0;
    for (int m = 0; m < Math.min(60, minutes); m++) {
      window += perMinute[m];
    }
    double best = window;
    int start = 0;
    for (int m = 60; m < minutes; m++) {
      window += perMinute[m] - perMinute[m - 60];
      if (window > best) {
        best = window;
        start = m - 59;
      }
    }
    return start;
  }

  /** Highest weighted rate over any window of {@code 2k+1} minutes centred in [fromMinute, toMinute). */
  double peakWeighted(double[] weights, int k, int fromMinute, int toMinute) {
    double best = 0;
    for (int m = Math.max(0, fromMinute); m < Math.min(minutes, toMinute); m++) {
      double s = 0;
      for (int j = m - k; j <= m + k; j++) {
        for (RequestType t : RequestType.values()) {
          s += rate(t, j) * weights[t.ordinal()];
        }
      }
      best = Math.max(best, s / (2 * k + 1));
    }
    return best;
  }

  /** Highest native-equivalent rate (weights per type) over any window of {@code 2k+1} minutes. */
  double peakWeighted(double[] weights, int k) {
    double best = 0;
    for (int m = 0; m < minutes; m++) {
      double s = 0;
      for (int j = m - k; j <= m + k; j++) {
        for (RequestType t : RequestType.values()) {
          s += rate(t, j) * weights[t.ordinal()];
        }
      }
      best = Math.max(best, s / (2 * k + 1));
    }
    return best;
  }
}
