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
    Core c = core(p, s, Outputs.of(s), tp, clockMhz, rps);
    return c == null ? LoadPoint.unstable(rps) : c.point;
  }

  /**
   * A mix as one stream of its parts' mixture lengths ({@link Mix#aggregate}): the same batch, power, stability and TBT.
   * TTFT is judged per part: a request waits for the iteration in progress when it arrives — a prefill (with
   * probability rho; the longer prefills of the mix are more likely to be the one in progress, and the prompts arriving
   * meanwhile join the request's own prefill) or a decode step — and then for its own prefill. The mix meets its SLOs
   * when the TBT p99 is within every part's TBT SLO and the parts' TTFT misses, weighted by their shares, stay within
   * the mix's miss budget (1 %): the SLOs are p99s over all requests, so a small part may miss more often than a large one (a short prompt that
   * arrives during a long one's prefill waits for it), not counting those that miss even alone on the widest, fastest
   * instance (no plan helps them).
   */
  static MixPoint estimateMix(Profile p, Mix mix, TensorParallelism tp, int clockMhz, double rps) {
    Core c = core(p, mix.aggregate(), Outputs.of(mix), tp, clockMhz, rps);
    if (c == null) {
      return MixPoint.unstable(rps);
    }
    int n = mix.parts().size();
    boolean tbtOk = true;
    for (int i = 0; i < n; i++) {
      tbtOk &= c.point.tbtP99Ms() <= mix.parts().get(i).slo().tbtP99Ms();
    }
    PrefillTail tail = new PrefillTail(p, mix, tp, clockMhz, c, rps);
    double missed = 0;
    double unavoidable = 0;
    for (int i = 0; i < n; i++) {
      Mix.Part part = mix.parts().get(i);
      missed += part.share() * tail.exceeds(i, part.slo().ttftP99Ms());
      unavoidable += part.share() * aloneMiss(p, part);
    }
    // requests that miss even alone on the widest, fastest instance miss whatever the plan: the budget is for the rest
    return new MixPoint(c.point, missed, tbtOk && missed - unavoidable <= mix.missBudget());
  }

  /**
   * The share of a part's requests whose prompt alone takes longer than its TTFT SLO to prefill on the profile's
   * widest TP at its highest clock (no configuration meets those), from 8 quantiles of its prompt lengths.
   */
  static double aloneMiss(Profile p, Mix.Part part) {
    TensorParallelism widest = p.tensorParallelisms().get(p.tensorParallelisms().size() - 1);
    TypeShape s = part.shape();
    double sd = (s.p99InputTokens() - s.meanInputTokens()) / Z99;
    int over = 0;
    for (double z : PrefillTail.Q8) {
      int tokens = Core.tokens(s.meanInputTokens() + z * sd);
      if (p.prefillMs(widest, tokens, p.maxClockMhz()) > part.slo().ttftP99Ms()) {
        over++;
      }
    }
    return over / (double) PrefillTail.Q8.length;
  }

  /**
   * The TTFT distribution of each part of a mix. A request finds (Poisson arrivals see time averages) a prefill
   * iteration in progress with probability rho, a decode step with probability (1 - rho) · decode-busy, else nothing.
   * The residual R of a prefill in progress follows the equilibrium residual of the prefill iteration time — each part's
   * prompts as a normal in tokens, at the local slope of prefill time per token, so long prompts weigh in proportion to
   * their time; the prompts that arrive during R join the request's own prefill, which then takes R · slope · lambda ·
   * mean prompt longer. A decode step's residual is uniform. The request's own prompt is one of 8 quantiles of its
   * part's normal.
   */
  private static final class PrefillTail {
    static final double[] Q8 = new double[8];

    static {
      for (int i = 0; i < Q8.length; i++) {
        Q8[i] = inverseNormal((i + 0.5) / Q8.length);
      }
    }

    private final double rho;
    private final double decodeOnly;
    private final double stepMs;
    private final double growth;
    private final double[] w;
    private final double[] sMean;
    private final double[] sSd;
    private final double meanS;
    /** [part][quantile] own prefill time. */
    private final double[][] own;

    PrefillTail(Profile p, Mix mix, TensorParallelism tp, int clockMhz, Core c, double rps) {
      int n = mix.parts().size();
      rho = c.rho;
      decodeOnly = (1 - c.rho) * c.decodeBusy;
      stepMs = c.stepMs;
      double others = Math.max(0, (c.k - 1) * c.meanPrompt);
      int base = Core.tokens(others + c.meanPrompt);
      double slope = (p.prefillMs(tp, Core.tokens(base + 1024), clockMhz) - p.prefillMs(tp, base, clockMhz)) / 1024;
      growth = 1 + slope * rps / 1000.0 * c.meanPrompt;
      w = new double[n];
      sMean = new double[n];
      sSd = new double[n];
      own = new double[n][Q8.length];
      double norm = 0;
      for (int i = 0; i < n; i++) {
        TypeShape s = mix.parts().get(i).shape();
        w[i] = mix.parts().get(i).share();
        sMean[i] = p.prefillMs(tp, Core.tokens(others + s.meanInputTokens()), clockMhz);
        double sd = (s.p99InputTokens() - s.meanInputTokens()) / Z99;
        sSd[i] = slope * sd;
        for (int q = 0; q < Q8.length; q++) {
          own[i][q] = p.prefillMs(tp, Core.tokens(s.meanInputTokens() + Q8[q] * sd), clockMhz);
        }
        norm += w[i] * sMean[i];
      }
      meanS = norm;
    }

    /** P(TTFT of part i > x). */
    double exceeds(int i, double x) {
      double total = 0;
      for (double pf : own[i]) {
        double left = x - pf;
        double p = 0;
        if (left < 0) {
          p = 1;
        } else {
          p += rho * residualExceeds(left / growth);
          p += decodeOnly * Math.max(0, 1 - left / stepMs);
        }
        total += Math.min(1, p);
      }
      return total / own[i].length;
    }

    /** P(R > y) for the residual R of the prefill iteration in progress. */
    private double residualExceeds(double y) {
      double tail = 0;
      for (int j = 0; j < w.length; j++) {
        double m = sMean[j];
        double sd = sSd[j];
        if (sd <= 1e-9) {
          tail += w[j] * Math.max(0, m - y);
        } else {
          double d = (m - y) / sd;
          tail += w[j] * (sd * normalPdf(d) + (m - y) * Mix.normalCdf(d));
        }
      }
      return Math.min(1, Math.max(0, tail / meanS));
    }

    private static double normalPdf(double z) {
      return Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
    }
  }

  /** What the load model works out at one load. */
  private record Core(LoadPoint point, double rho, double stepMs, double decodeBusy, double k, int meanPrompt) {
    static int tokens(double t) {
      return (int) Math.max(1, Math.min(MAX_PREFILL_BATCH_TOKENS, Math.round(t)));
    }
  }

  /** The load model at one load; null when the instance cannot keep up. */
  private static Core core(Profile p, TypeShape s, Outputs outputs, TensorParallelism tp, int clockMhz, double rps) {
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
        return null;
      }
      stepMs = p.decodeStepMs(tp, Math.min(Math.max(batch, 1), maxBatch), context, clockMhz);
      double nextBatch = lambdaPerMs * s.meanOutputTokens() * stepMs / (1 - rhoPrefill);
      if (nextBatch > batchLimit) {
        return null;
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
      return null;
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
    double tbtP99 = Math.max(tbtMean, step99 + stallPerToken99(outputs, busyRatePerMs * tbtMean,
        busyRatePerMs * prefillIterMs, busyMean, busySecond));
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
    return new Core(new LoadPoint(rps, true, ttftP99, tbtP99, power, energyWh, batch, rhoPrefill), rhoPrefill, stepMs,
        decodeBusy, k, n);
  }

  /**
   * The highest load (req/s) at which {@code meets} holds, to 0.2 %: brackets by doubling or halving from 1 req/s,
   * then bisects; 0 when even 0.001 req/s fails. {@code meets} must hold below a threshold and fail above it.
   */
  static double capacity(java.util.function.DoublePredicate meets) {
    double lo;
    double hi;
    if (meets.test(1)) {
      lo = 1;
      hi = 2;
      while (meets.test(hi)) {
        lo = hi;
        hi *= 2;
        if (hi > 1e6) {
          throw new IllegalStateException("a capacity above 10^6 req/s does not converge");
        }
      }
    } else {
      hi = 1;
      lo = 0.5;
      while (!meets.test(lo)) {
        hi = lo;
        lo /= 2;
        if (lo < 1e-3) {
          return 0;
        }
      }
    }
    while (hi - lo > 2e-3 * lo) {
      double mid = 0.5 * (lo + hi);
      if (meets.test(mid)) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  /**
   * Output lengths standing for a stream: for each of its types, equal-weight quantiles of a log-normal fitted to the
   * type's mean and p99 output (from the 1st to the 99th percentile), weighted by the type's share — 16 points in all,
   * shared by the types in proportion to their share. A mix's outputs are its parts', not one normal over all of them: that would put
   * one-token outputs into a mix of short and long ones and make every stall look huge per token.
   */
  record Outputs(double[] tokens, double[] weights) {
    static Outputs of(TypeShape s) {
      return build(java.util.List.of(s), new double[] {1});
    }

    static Outputs of(Mix mix) {
      double[] w = new double[mix.parts().size()];
      java.util.List<TypeShape> shapes = new java.util.ArrayList<>();
      for (int i = 0; i < w.length; i++) {
        w[i] = mix.parts().get(i).share();
        shapes.add(mix.parts().get(i).shape());
      }
      return build(shapes, w);
    }

    private static Outputs build(java.util.List<TypeShape> shapes, double[] w) {
      // 16 points in all, shared by the types in proportion to their weight (at least 2 each): the short outputs of a
      // large part decide the tail
      int[] per = new int[shapes.size()];
      int total = 0;
      for (int k = 0; k < per.length; k++) {
        per[k] = Math.max(2, (int) Math.round(16 * w[k]));
        total += per[k];
      }
      double[] tokens = new double[total];
      double[] weights = new double[total];
      int at = 0;
      for (int k = 0; k < shapes.size(); k++) {
        TypeShape s = shapes.get(k);
        // log-normal through the mean and p99: output lengths are skewed, and a normal fit would put many outputs of
        // one or two tokens into a type whose outputs are short but rarely that short
        double ratio = Math.min(15, (double) s.p99OutputTokens() / s.meanOutputTokens());
        double sigma = Z99 - Math.sqrt(Math.max(0, Z99 * Z99 - 2 * Math.log(ratio)));
        double mu = Math.log(s.meanOutputTokens()) - sigma * sigma / 2;
        for (int i = 0; i < per[k]; i++) {
          double z = inverseNormal(0.01 + 0.98 * (i + 0.5) / per[k]);
          tokens[at] = Math.max(1, Math.exp(mu + sigma * z));
          weights[at++] = w[k] / per[k];
        }
      }
      return new Outputs(tokens, weights);
    }
  }

  /**
   * The 99th percentile over requests of stall time per output token, where a request of o tokens sees busy periods
   * at {@code periodsPerToken}·o + {@code firstGapPeriods}, each of mean {@code busyMean} and second moment
   * {@code busySecond}. The second term: prompts that arrive during the request's own prefill are prefilled before its
   * first decode step (prefill first), a stall every request risks whatever its length — for outputs of a few tokens
   * the one that decides their TBT.
   */
  static double stallPerToken99(Outputs outputs, double periodsPerToken, double firstGapPeriods, double busyMean,
      double busySecond) {
    if (periodsPerToken <= 0 || busyMean <= 0) {
      return 0;
    }
    double[] tokens = outputs.tokens();
    double[] weights = outputs.weights();
    int n = tokens.length;
    // each point's stall is a gamma of fixed shape and scale; only the threshold moves in the bisection below
    double[] shape = new double[n];
    double[] scale = new double[n];
    double[] logGamma = new double[n];
    double hi = 0;
    for (int i = 0; i < n; i++) {
      double m = periodsPerToken * tokens[i] + firstGapPeriods;
      double mean = m * busyMean;
      double var = m * busySecond;
      shape[i] = var > 0 ? mean * mean / var : 0;
      scale[i] = mean > 0 ? var / mean : 0;
      logGamma[i] = shape[i] > 0 ? GammaTail.logGamma(shape[i]) : 0;
      hi = Math.max(hi, (mean + 12 * Math.sqrt(var) + busyMean) / tokens[i]);
    }
    double lo = 0;
    for (int it = 0; it < 50 && hi - lo > 1e-4 * hi; it++) {
      double x = 0.5 * (lo + hi);
      double tail = 0;
      for (int i = 0; i < n; i++) {
        double t = x * tokens[i];
        tail += weights[i] * (shape[i] <= 0 ? (t < 0 ? 1 : 0) : GammaTail.regularizedUpper(shape[i], t / scale[i],
            logGamma[i]));
      }
      if (tail > 0.01) {
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
