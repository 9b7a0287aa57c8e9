package io.dynamollm.protocol.profile;

/**
 * Upper tail of a gamma distribution, used to approximate compound-Poisson sums (the time prefills stall a decoding
 * request) by matching their mean and variance: unlike a normal, it keeps the right skew of a sum of a few events.
 */
final class GammaTail {
  /** Relative precision of the series and continued fraction (tail probabilities near 1 % need far less). */
  private static final double EPS = 1e-9;
  private static final double[] LANCZOS = {
    676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7
  };

  private GammaTail() {}

  /**
   * P(X > x) for X with the given mean and variance, fitted as a gamma distribution (shape mean²/var, scale
   * var/mean); 0 mean means X is 0.
   */
  static double exceeds(double mean, double variance, double x) {
    if (mean <= 0) {
      return x < 0 ? 1 : 0;
    }
    if (variance <= 0) {
      return x < mean ? 1 : 0;
    }
    double shape = mean * mean / variance;
    double scale = variance / mean;
    return x <= 0 ? 1 : regularizedUpper(shape, x / scale);
  }

  /** Q(a, x) = Γ(a, x) / Γ(a): series below a + 1, Lentz's continued fraction above. */
  static double regularizedUpper(double a, double x) {
    return regularizedUpper(a, x, logGamma(a));
  }

  /** {@link #regularizedUpper(double, double)} with ln Γ(a) already known (callers that vary only x). */
  static double regularizedUpper(double a, double x, double logGammaA) {
    if (x <= 0) {
      return 1;
    }
    double logPrefix = -x + a * Math.log(x) - logGammaA;
    if (x < a + 1) {
      double term = 1 / a;
      double sum = term;
      for (int n = 1; n < 1000; n++) {
        term *= x / (a + n);
        sum += term;
        if (Math.abs(term) < Math.abs(sum) * EPS) {
          break;
        }
      }
      return Math.max(0, 1 - sum * Math.exp(logPrefix));
    }
    double b = x + 1 - a;
    double c = 1 / 1e-300;
    double d = 1 / b;
    double h = d;
    for (int i = 1; i < 1000; i++) {
      double an = -i * (i - a);
      b += 2;
      d = an * d + b;
      d = Math.abs(d) < 1e-300 ? 1e-300 : d;
      c = b + an / c;
      c = Math.abs(c) < 1e-300 ? 1e-300 : c;
      d = 1 / d;
      double delta = d * c;
      h *= delta;
      if (Math.abs(delta - 1) < EPS) {
        break;
      }
    }
    return Math.min(1, Math.exp(logPrefix) * h);
  }

  /** ln Γ(a), Lanczos (g = 7), a > 0. */
  static double logGamma(double a) {
    if (a < 0.5) {
      return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * a))) - logGamma(1 - a);
    }
    double z = a - 1;
    double sum = 0.99999999999980993;
    for (int i = 0; i < LANCZOS.length; i++) {
      sum += LANCZOS[i] / (z + i + 1);
    }
    double t = z + LANCZOS.length - 0.5;
    return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
  }
}
