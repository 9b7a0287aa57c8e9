package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.TensorParallelism;

/**
 * Turns iteration times into steady-state latency, power and energy of one instance serving one request type:
 * continuous batching with prefill-first scheduling as in vLLM without chunked prefill (the prompts waiting are
 * prefilled together before the next decode step), Poisson arrivals. The approximations are stated in
 * docs/profile.md, "From iterations to a load point".
 */
final class LoadModel {
  /** z-score of the 99th percentile of a normal distribution. */
  static final double Z99 = 2.326;
  /** vLLM's max_num_batched_tokens without chunked prefill: the most prompt tokens one prefill iteration takes. */
  static final int MAX_PREFILL_BATCH_TOKENS = 8192;

  private LoadModel() {}

  static LoadPoint estimate(Profile p, TypeShape s, TensorParallelism tp, int clockMhz, double rps) {
    double lambdaPerMs = rps / 1000.0;
    int n = s.meanInputTokens();
    double context = s.meanDecodeContext();
    int maxBatch = p.maxBatch(tp);
    double kvBatchLimit = p.kvCacheTokens(tp) / (s.meanInputTokens() + (double) s.meanOutputTokens());
    double batchLimit = Math.min(maxBatch, kvBatchLimit);
    int maxPrompts = Math.max(1, MAX_PREFILL_BATCH_TOKENS / n);

    // Fixed point over (prompts per prefill iteration k, decode batch B):
    //  - a prefill iteration takes every prompt that arrived during the previous cycle (one prefill iteration and
    //    one decode step): k = max(1, λ · cycle), at most MAX_PREFILL_BATCH_TOKENS tokens;
    //  - Little's law on decode: B = λ · output tokens · time per token, where decode steps only run in the share
    //    of time prefill leaves free.
    double k = 1;
    double batch = 1;
    double stepMs = 0;
    double prefillIterMs = 0;
    double rhoPrefill = 0;
    boolean converged = false;
    for (int it = 0; it < 500; it++) {
      prefillIterMs = p.prefillMs(tp, (int) Math.min(MAX_PREFILL_BATCH_TOKENS, Math.round(k * n)), clockMhz);
      rhoPrefill = lambdaPerMs * prefillIterMs / k;
      if (rhoPrefill >= 1) {
        return LoadPoint.unstable(rps);
      }
      stepMs = p.decodeStepMs(tp, Math.min(Math.max(batch, 1), maxBatch), context, clockMhz);
      double nextBatch = lambdaPerMs * s.meanOutputTokens() * stepMs / (1 - rhoPrefill);
      if (nextBatch > batchLimit) {
        return LoadPoint.unstable(rps);
      }
      double decodeBusy = 1 - Math.exp(-nextBatch);
      double nextK = Math.min(maxPrompts, Math.max(1, lambdaPerMs * (prefillIterMs + decodeBusy * stepMs)));
      boolean settled = Math.abs(nextBatch - batch) < 1e-6 * Math.max(1, batch) && Math.abs(nextK - k) < 1e-6 * k;
      batch = 0.5 * (batch + nextBatch);
      k = 0.5 * (k + nextK);
      if (settled) {
        converged = true;
        break;
      }
    }
    if (!converged) {
      return LoadPoint.unstable(rps);
    }
    double decodeBusy = 1 - Math.exp(-batch);
    double tbtMean = stepMs / (1 - rhoPrefill);

    // TBT p99 (of a request's mean time per token): the batch fluctuates (Poisson, batch + z·√batch), and prefills
    // stall the request's decode. With prefill first, a stall lasts a whole busy period of the prefill server (prompts
    // arriving during a prefill are prefilled next): busy periods start at rate λ(1 − ρ) per unit of time, with mean
    // S/(1 − ρ) and second moment E[S²]/(1 − ρ)³ (M/G/1), S being a prefill iteration whose spread follows the type's
    // prompt lengths. The total stall over a request's decode is a compound Poisson sum, fitted by a gamma
    // distribution (it is skewed when a decode sees only a few busy periods), and spread over the request's own
    // output tokens: short outputs see fewer stalls but each weighs more per token, so the p99 is taken over the
    // type's output lengths (normal from mean and p99, cut at the 1st percentile).
    double batch99 = Math.min(maxBatch, batch + Z99 * Math.sqrt(batch));
    double step99 = p.decodeStepMs(tp, Math.max(1, batch99), context, clockMhz);
    double slope = s.p99InputTokens() > n
        ? (p.prefillMs(tp, s.p99InputTokens(), clockMhz) - p.prefillMs(tp, n, clockMhz)) / (s.p99InputTokens() - n) : 0;
    double sdIteration = slope * (s.p99InputTokens() - n) / Z99 * Math.sqrt(k);
    double secondMoment = prefillIterMs * prefillIterMs + sdIteration * sdIteration;
    double busyMean = prefillIterMs / (1 - rhoPrefill);
    double busySecond = secondMoment / Math.pow(1 - rhoPrefill, 3);
    double busyRatePerMs = lambdaPerMs / k * (1 - rhoPrefill);
    double tbtP99 = Math.max(tbtMean, step99 + stallPerToken99(s, busyRatePerMs * tbtMean, busyMean, busySecond));
    // TTFT p99 = wait for the prefill server + rest of the decode step in flight on arrival + the prefill iteration
    // that carries the prompt. Wait: M/G/1 (Pollaczek–Khinchine mean with per-prompt service prefillIter / k;
    // P(wait > 0) = ρ with an exponential tail). Residual step: uniform on [0, step] while anything decodes. Prefill:
    // a p99-length prompt beside k − 1 mean ones. The three are independent; their p99s do not add up, so the p99 of
    // the sum is taken as the sum of means plus the root-sum-square of each part's excess of p99 over mean.
    double service = prefillIterMs / k;
    double waitMean = lambdaPerMs * service * service * (1 + s.inputCv2()) / (2 * (1 - rhoPrefill));
    double wait99 = rhoPrefill > 0.01 ? waitMean / rhoPrefill * Math.log(rhoPrefill / 0.01) : 0;
    double residualMean = decodeBusy * stepMs / 2;
    double residual99 = decodeBusy > 0.01 ? 0.99 * stepMs : 0;
    int p99IterTokens = (int) Math.min(MAX_PREFILL_BATCH_TOKENS, Math.round((k - 1) * n) + s.p99InputTokens());
    double prefill99 = p.prefillMs(tp, p99IterTokens, clockMhz);
    double ttftP99 = waitMean + residualMean + prefillIterMs
        + Math.sqrt(square(wait99 - waitMean) + square(residual99 - residualMean) + square(prefill99 - prefillIterMs));

    // Power: prefill share at prefill power; the rest decoding while anything is in the batch (Poisson occupancy),
    // idle otherwise.
    double decodeShare = (1 - rhoPrefill) * decodeBusy;
    double idleShare = (1 - rhoPrefill) * (1 - decodeBusy);
    int prefillTokens = (int) Math.min(MAX_PREFILL_BATCH_TOKENS, Math.round(k * n));
    double power = rhoPrefill * p.prefillPowerW(tp, prefillTokens, clockMhz)
        + decodeShare * p.decodePowerW(tp, Math.max(1, batch), clockMhz)
        + idleShare * p.idlePowerW();
    double energyWh = tp.degree() * power / rps / 3600.0;
    return new LoadPoint(rps, true, ttftP99, tbtP99, power, energyWh, batch, rhoPrefill);
  }

  /** Output lengths standing for a type: 16 equal-weight quantiles of a normal fitted to mean and p99. */
  private static final double[] OUTPUT_QUANTILE_Z = new double[16];

  static {
    for (int i = 0; i < OUTPUT_QUANTILE_Z.length; i++) {
      OUTPUT_QUANTILE_Z[i] = inverseNormal(0.01 + 0.98 * (i + 0.5) / OUTPUT_QUANTILE_Z.length);
    }
  }

  /**
   * The 99th percentile over requests of stall time per output token, where a request of o tokens sees busy periods
   * at {@code periodsPerToken}·o, each of mean {@code busyMean} and second moment {@code busySecond}.
   */
  static double stallPerToken99(TypeShape s, double periodsPerToken, double busyMean, double busySecond) {
    if (periodsPerToken <= 0 || busyMean <= 0) {
      return 0;
    }
    double sd = (s.p99OutputTokens() - s.meanOutputTokens()) / Z99;
    double[] tokens = new double[OUTPUT_QUANTILE_Z.length];
    double hi = 0;
    for (int i = 0; i < tokens.length; i++) {
      tokens[i] = Math.max(1, s.meanOutputTokens() + OUTPUT_QUANTILE_Z[i] * sd);
      double m = periodsPerToken * tokens[i];
      hi = Math.max(hi, (m * busyMean + 12 * Math.sqrt(m * busySecond) + busyMean) / tokens[i]);
    }
    double lo = 0;
    for (int it = 0; it < 50; it++) {
      double x = 0.5 * (lo + hi);
      double tail = 0;
      for (double o : tokens) {
        double m = periodsPerToken * o;
        tail += GammaTail.exceeds(m * busyMean, m * busySecond, x * o);
      }
      if (tail / tokens.length > 0.01) {
        lo = x;
      } else {
        hi = x;
      }
    }
    return hi;
  }

  /** Quantile of the standard normal (Acklam's rational approximation, relative error below 1.2e-9). */
  static double inverseNormal(double p) {
    double[] a = {-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716,
        2.506628277459239};
    double[] b = {-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572};
    double[] c = {-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
        4.374664141464968, 2.938163982698783};
    double[] d = {0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416};
    double q;
    if (p < 0.02425) {
      q = Math.sqrt(-2 * Math.log(p));
      return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
          / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - 0.02425) {
      return -inverseNormal(1 - p);
    }
    q = p - 0.5;
    double r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }

  private static double square(double x) {
    return x * x;
  }

}
