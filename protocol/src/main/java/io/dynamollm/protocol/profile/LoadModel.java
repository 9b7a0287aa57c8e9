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
    // prompt lengths. The total stall over a request's decode is a compound Poisson sum; its p99 is mean + z·sd.
    double batch99 = Math.min(maxBatch, batch + Z99 * Math.sqrt(batch));
    double step99 = p.decodeStepMs(tp, Math.max(1, batch99), context, clockMhz);
    double decodeMs = s.meanOutputTokens() * tbtMean;
    double busyPeriods = lambdaPerMs / k * (1 - rhoPrefill) * decodeMs;
    double slope = s.p99InputTokens() > n
        ? (p.prefillMs(tp, s.p99InputTokens(), clockMhz) - p.prefillMs(tp, n, clockMhz)) / (s.p99InputTokens() - n) : 0;
    double sdIteration = slope * (s.p99InputTokens() - n) / Z99 * Math.sqrt(k);
    double secondMoment = prefillIterMs * prefillIterMs + sdIteration * sdIteration;
    double stallMean = busyPeriods * prefillIterMs / (1 - rhoPrefill);
    double stallVar = busyPeriods * secondMoment / Math.pow(1 - rhoPrefill, 3);
    double stall99 = stallMean + Z99 * Math.sqrt(stallVar);
    double tbtP99 = Math.max(tbtMean, step99 + stall99 / s.meanOutputTokens());

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

  private static double square(double x) {
    return x * x;
  }

}
