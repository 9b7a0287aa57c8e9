package io.dynamollm.sim;

import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.RequestType;

/**
 * Per-minute arrivals per true type, read once from the workload: the static policies size their pools from its
 * peaks and the oracle plans each window from it (it is the oracle's perfect knowledge).
 */
final class WorkloadStats {
  final int minutes;
  final int[][] perMinute; // [type][minute]
  final long requests;
  final double durationMs;

  WorkloadStats(Workload w, ClassThresholds thresholds) {
    this.durationMs = w.durationMs();
    this.minutes = (int) Math.ceil(durationMs / 60_000.0) + 1;
    this.perMinute = new int[9][minutes];
    long n = 0;
    for (TraceRequest r : w) {
      int m = (int) Math.min(minutes - 1, Math.floor(r.arrivalMs() / 60_000.0));
      RequestType t = thresholds.typeOf(Math.min(r.promptTokens(), thresholds.maxContextTokens()), r.outputTokens());
      perMinute[t.ordinal()][m]++;
      n++;
    }
    this.requests = n;
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
