package io.dynamollm.protocol.profile;

import java.util.Arrays;

/**
 * Linear interpolation through measured points, refusing to extrapolate: asking outside [first x, last x] throws
 * {@link ProfileRangeException} naming the quantity and the covered range.
 */
final class PiecewiseLinear {
  private final String quantity;
  private final double[] xs;
  private final double[] ys;

  PiecewiseLinear(String quantity, double[] xs, double[] ys) {
    if (xs.length != ys.length || xs.length < 2) {
      throw new IllegalArgumentException(quantity + ": need at least two points with matching x and y");
    }
    for (int i = 1; i < xs.length; i++) {
      if (!(xs[i] > xs[i - 1])) {
        throw new IllegalArgumentException(quantity + ": x values must increase strictly");
      }
    }
    this.quantity = quantity;
    this.xs = xs.clone();
    this.ys = ys.clone();
  }

  double at(double x) {
    if (x < xs[0] || x > xs[xs.length - 1] || Double.isNaN(x)) {
      throw new ProfileRangeException(
          quantity + " is known for " + fmt(xs[0]) + " to " + fmt(xs[xs.length - 1]) + ", asked for " + fmt(x));
    }
    int i = Arrays.binarySearch(xs, x);
    if (i >= 0) {
      return ys[i];
    }
    int hi = -i - 1;
    int lo = hi - 1;
    double w = (x - xs[lo]) / (xs[hi] - xs[lo]);
    return ys[lo] + w * (ys[hi] - ys[lo]);
  }


  private static String fmt(double v) {
    return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
  }
}
