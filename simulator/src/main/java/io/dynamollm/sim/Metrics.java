package io.dynamollm.sim;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What one policy's run measured. */
final class Metrics {
  static final double BUCKET_MS = 60_000;

  private double[] energyBuckets = new double[64];
  double energyJ;
  private float[] ttft = new float[1024];
  private float[] tbt = new float[1024];
  int served;
  int met;
  long rejected;
  long dropped;
  long rerouted;
  /** Requests sent to a larger pool because their own was past its planned capacity. */
  long overflowed;
  long reordered;
  long maxClockRaises;
  long scaleChanges;
  long reshards;
  long frequencyChanges;
  double gpuMs;
  private int gpusNow;
  private double gpuSinceMs;
  int maxGpus;
  /** Per-minute samples for charts: pool → series. */
  final Map<String, List<double[]>> poolSeries = new LinkedHashMap<>(); // {minute, instances, gpus, meanTp, meanClock}

  void addEnergy(double fromMs, double toMs, double powerW) {
    if (powerW == 0 || toMs <= fromMs) {
      return;
    }
    energyJ += powerW * (toMs - fromMs) / 1000.0;
    int b0 = (int) (fromMs / BUCKET_MS);
    int b1 = (int) (toMs / BUCKET_MS);
    ensure(b1);
    if (b0 == b1) {
      energyBuckets[b0] += powerW * (toMs - fromMs) / 1000.0;
      return;
    }
    energyBuckets[b0] += powerW * ((b0 + 1) * BUCKET_MS - fromMs) / 1000.0;
    for (int b = b0 + 1; b < b1; b++) {
      energyBuckets[b] += powerW * BUCKET_MS / 1000.0;
    }
    energyBuckets[b1] += powerW * (toMs - b1 * BUCKET_MS) / 1000.0;
  }

  private void ensure(int bucket) {
    if (bucket >= energyBuckets.length) {
      energyBuckets = Arrays.copyOf(energyBuckets, Math.max(bucket + 1, energyBuckets.length * 2));
    }
  }

  void gpus(double nowMs, int delta) {
    gpuMs += (double) gpusNow * (nowMs - gpuSinceMs);
    gpuSinceMs = nowMs;
    gpusNow += delta;
    maxGpus = Math.max(maxGpus, gpusNow);
  }

  void finishGpus(double endMs) {
    gpus(endMs, 0);
  }

  int gpusNow() {
    return gpusNow;
  }

  final long[] servedByType = new long[9];
  final long[] metByType = new long[9];
  final long[] ttftMissByType = new long[9];
  final long[] tbtMissByType = new long[9];

  void completedType(int type, boolean ttftOk, boolean tbtOk) {
    servedByType[type]++;
    if (ttftOk && tbtOk) {
      metByType[type]++;
    }
    if (!ttftOk) {
      ttftMissByType[type]++;
    }
    if (!tbtOk) {
      tbtMissByType[type]++;
    }
  }

  void completed(double ttftMs, double tbtMs, boolean sloMet) {
    if (served == ttft.length) {
      ttft = Arrays.copyOf(ttft, served * 2);
      tbt = Arrays.copyOf(tbt, served * 2);
    }
    ttft[served] = (float) ttftMs;
    tbt[served] = (float) tbtMs;
    served++;
    if (sloMet) {
      met++;
    }
  }

  private float[] sortedTtft;
  private float[] sortedTbt;

  double percentile(boolean ofTtft, double q) {
    if (served == 0) {
      return Double.NaN;
    }
    float[] v = ofTtft ? sortedTtft : sortedTbt;
    if (v == null || v.length != served) {
      v = Arrays.copyOf(ofTtft ? ttft : tbt, served);
      Arrays.sort(v);
      if (ofTtft) {
        sortedTtft = v;
      } else {
        sortedTbt = v;
      }
    }
    int idx = (int) Math.min(served - 1, Math.max(0, Math.ceil(q * served) - 1));
    return v[idx];
  }

  /** Cluster power per minute (W), up to {@code durationMs}. */
  double[] powerSeries(double durationMs) {
    int n = (int) Math.ceil(durationMs / BUCKET_MS);
    double[] out = new double[n];
    for (int i = 0; i < n; i++) {
      double len = Math.min(BUCKET_MS, durationMs - i * BUCKET_MS) / 1000.0;
      out[i] = i < energyBuckets.length && len > 0 ? energyBuckets[i] / len : 0;
    }
    return out;
  }

  void sample(String pool, double minute, int instances, int gpus, double meanTp, double meanClock) {
    poolSeries.computeIfAbsent(pool, p -> new ArrayList<>()).add(new double[] {minute, instances, gpus, meanTp, meanClock});
  }
}
