package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * The requests one instance (or a pool's instances alike) serves: request types in shares of the arrivals, each with
 * the lengths that stand for it and its own SLO. The profile's load model takes a mix as one stream of requests whose
 * lengths are the parts' mixture (throughput, queueing, decode batch) and judges each part against its own SLO: a
 * short prompt waits behind the mix's long prefills but is prefilled itself in its own time. That is the cost of
 * mixing types in one pool, and the one capacity model the budgeter, the planner and the governor share.
 *
 * <p>Shares are rounded to {@value #SHARE_STEP} so that mixes measured a moment apart are the same mix (the profile
 * memoizes its answers per mix); a part whose share rounds to zero is left out.
 */
public final class Mix {
  /** Shares are multiples of this. */
  public static final double SHARE_STEP = 0.005;

  /**
   * One type of the mix.
   *
   * @param type the request type
   * @param shape its lengths
   * @param share its fraction of the mix's arrivals (the parts' shares add up to 1)
   * @param slo the SLO its requests are judged against
   */
  public record Part(RequestType type, TypeShape shape, double share, Slo slo) {
    public Part {
      Objects.requireNonNull(type, "type");
      Objects.requireNonNull(shape, "shape");
      Objects.requireNonNull(slo, "slo");
      if (!(share > 0 && share <= 1)) {
        throw new IllegalArgumentException("a part's share is within (0, 1], got " + share);
      }
    }
  }

  /** The share of a mix's requests that may miss their TTFT SLO unless said otherwise (the SLOs are p99s). */
  public static final double DEFAULT_MISS_BUDGET = 0.01;

  private final List<Part> parts;
  private final TypeShape aggregate;
  private final double missBudget;
  private final int hash;

  private Mix(List<Part> parts, double missBudget) {
    if (parts.isEmpty()) {
      throw new IllegalArgumentException("a mix needs at least one part");
    }
    if (!(missBudget > 0 && missBudget < 0.5)) {
      throw new IllegalArgumentException("a miss budget is within (0, 0.5), got " + missBudget);
    }
    this.parts = Collections.unmodifiableList(parts);
    this.aggregate = aggregate(parts);
    this.missBudget = missBudget;
    this.hash = parts.hashCode() * 31 + Double.hashCode(missBudget);
  }

  private Mix(List<Part> parts) {
    this(parts, DEFAULT_MISS_BUDGET);
  }

  /**
   * The share of the mix's requests its estimates allow to miss their TTFT SLO (its parts' misses weighted by share;
   * a mix of one part is judged by its p99 instead).
   */
  public double missBudget() {
    return missBudget;
  }

  /** The same mix with another miss budget (a planner that keeps a margin below the SLOs' 1 %). */
  public Mix withMissBudget(double budget) {
    return budget == missBudget ? this : new Mix(new ArrayList<>(parts), budget);
  }

  /** One type alone. */
  public static Mix single(RequestType type, TypeShape shape, Slo slo) {
    return new Mix(List.of(new Part(type, shape, 1.0, slo)));
  }

  /**
   * The mix of {@code rates} (requests per second per type; types without a rate or at 0 are left out). When no type
   * has a rate, every type of {@code rates} counts alike (a pool with no forecast yet is still sized for its types).
   *
   * @param shapes each type's lengths
   * @param slos each type's SLO
   */
  public static Mix of(Map<RequestType, Double> rates, Function<RequestType, TypeShape> shapes,
      Function<RequestType, Slo> slos) {
    double total = 0;
    for (double r : rates.values()) {
      if (!(r >= 0) || Double.isInfinite(r)) {
        throw new IllegalArgumentException("rates must be finite and >= 0, got " + rates);
      }
      total += r;
    }
    List<RequestType> types = new ArrayList<>(rates.keySet());
    Collections.sort(types);
    if (types.isEmpty()) {
      throw new IllegalArgumentException("a mix needs at least one type");
    }
    double[] raw = new double[types.size()];
    for (int i = 0; i < raw.length; i++) {
      raw[i] = total > 0 ? rates.get(types.get(i)) / total : 1.0 / raw.length;
    }
    // round to the share step, keeping the largest part so that something is always left
    int largest = 0;
    for (int i = 1; i < raw.length; i++) {
      if (raw[i] > raw[largest]) {
        largest = i;
      }
    }
    double kept = 0;
    double[] rounded = new double[raw.length];
    for (int i = 0; i < raw.length; i++) {
      rounded[i] = Math.round(raw[i] / SHARE_STEP) * SHARE_STEP;
      if (i == largest && rounded[i] == 0) {
        rounded[i] = SHARE_STEP;
      }
      kept += rounded[i];
    }
    List<Part> parts = new ArrayList<>();
    for (int i = 0; i < raw.length; i++) {
      if (rounded[i] > 0) {
        RequestType t = types.get(i);
        double share = Math.round(rounded[i] / kept / 1e-6) * 1e-6;
        parts.add(new Part(t, shapes.apply(t), Math.min(1, share), slos.apply(t)));
      }
    }
    return new Mix(parts);
  }

  public List<Part> parts() {
    return parts;
  }

  /** The lengths of the mix as one stream: mean and p99 of the parts' mixture (normal parts, see {@link TypeShape}). */
  public TypeShape aggregate() {
    return aggregate;
  }

  /** The same mix judged against {@code factor} × each SLO. */
  public Mix withSloScaled(double factor) {
    return withSloScaled(factor, factor);
  }

  /**
   * The same mix judged against {@code ttftFactor} × each TTFT SLO and {@code tbtFactor} × each TBT SLO (planners keep
   * a margin below the SLOs where the model may err: the TBT's p99; the TTFT's tail is held by the miss budget).
   */
  public Mix withSloScaled(double ttftFactor, double tbtFactor) {
    if (!(ttftFactor > 0) || Double.isInfinite(ttftFactor) || !(tbtFactor > 0) || Double.isInfinite(tbtFactor)) {
      throw new IllegalArgumentException("SLO factors are positive, finite numbers, got " + ttftFactor + ", "
          + tbtFactor);
    }
    if (ttftFactor == 1 && tbtFactor == 1) {
      return this;
    }
    List<Part> scaled = new ArrayList<>(parts.size());
    for (Part p : parts) {
      scaled.add(new Part(p.type(), p.shape(), p.share(), new Slo(p.slo().ttftP99Ms() * ttftFactor,
          p.slo().tbtP99Ms() * tbtFactor)));
    }
    return new Mix(scaled, missBudget);
  }

  /** The same shares and SLOs with other lengths per type (learned ones). */
  public Mix withShapes(Function<RequestType, TypeShape> shapes) {
    List<Part> out = new ArrayList<>(parts.size());
    for (Part p : parts) {
      out.add(new Part(p.type(), shapes.apply(p.type()), p.share(), p.slo()));
    }
    return new Mix(out, missBudget);
  }

  /** The largest type of the mix (in input, then output class). */
  public RequestType largestType() {
    RequestType best = parts.get(0).type();
    for (Part p : parts) {
      if (p.type().compareTo(best) > 0) {
        best = p.type();
      }
    }
    return best;
  }

  @Override
  public boolean equals(Object o) {
    return o == this || (o instanceof Mix m && m.hash == hash && m.missBudget == missBudget && m.parts.equals(parts));
  }

  @Override
  public int hashCode() {
    return hash;
  }

  @Override
  public String toString() {
    StringBuilder b = new StringBuilder();
    for (Part p : parts) {
      if (b.length() > 0) {
        b.append(' ');
      }
      b.append(p.type()).append(String.format(java.util.Locale.ROOT, " %.0f%%", 100 * p.share()));
    }
    return b.toString();
  }

  // ------------------------------------------------------------------ the mixture's lengths

  private static TypeShape aggregate(List<Part> parts) {
    if (parts.size() == 1) {
      return parts.get(0).shape();
    }
    double[] w = new double[parts.size()];
    double[] inMean = new double[w.length];
    double[] inSd = new double[w.length];
    double[] outMean = new double[w.length];
    double[] outSd = new double[w.length];
    for (int i = 0; i < w.length; i++) {
      TypeShape s = parts.get(i).shape();
      w[i] = parts.get(i).share();
      inMean[i] = s.meanInputTokens();
      inSd[i] = (s.p99InputTokens() - s.meanInputTokens()) / LoadModel.Z99;
      outMean[i] = s.meanOutputTokens();
      outSd[i] = (s.p99OutputTokens() - s.meanOutputTokens()) / LoadModel.Z99;
    }
    int meanIn = (int) Math.max(1, Math.round(dot(w, inMean)));
    int meanOut = (int) Math.max(1, Math.round(dot(w, outMean)));
    int p99In = (int) Math.max(meanIn, Math.round(quantile99(w, inMean, inSd)));
    int p99Out = (int) Math.max(meanOut, Math.round(quantile99(w, outMean, outSd)));
    return new TypeShape(meanIn, p99In, meanOut, p99Out);
  }

  private static double dot(double[] a, double[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += a[i] * b[i];
    }
    return s;
  }

  /** The 99th percentile of a mixture of normals (a zero spread is a point), by bisection. */
  static double quantile99(double[] w, double[] mean, double[] sd) {
    double lo = Double.POSITIVE_INFINITY;
    double hi = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < w.length; i++) {
      lo = Math.min(lo, mean[i] - 4 * sd[i]);
      hi = Math.max(hi, mean[i] + 4 * sd[i]);
    }
    for (int it = 0; it < 60; it++) {
      double x = 0.5 * (lo + hi);
      double below = 0;
      for (int i = 0; i < w.length; i++) {
        below += w[i] * (sd[i] > 0 ? normalCdf((x - mean[i]) / sd[i]) : x >= mean[i] ? 1 : 0);
      }
      if (below < 0.99) {
        lo = x;
      } else {
        hi = x;
      }
    }
    return hi;
  }

  /** Standard normal CDF (Abramowitz–Stegun 7.1.26 on erf, absolute error below 1.5e-7). */
  static double normalCdf(double z) {
    double x = Math.abs(z) / Math.sqrt(2);
    double t = 1 / (1 + 0.3275911 * x);
    double erf = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
        * Math.exp(-x * x);
    return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
  }
}
