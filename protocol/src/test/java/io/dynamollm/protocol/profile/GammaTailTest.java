package io.dynamollm.protocol.profile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class GammaTailTest {
  @Test
  void upperTailMatchesClosedFormsForIntegerShapes() {
    for (double x : new double[] {0.1, 0.5, 1, 2, 5, 20}) {
      assertThat(GammaTail.regularizedUpper(1, x)).isCloseTo(Math.exp(-x), within(1e-10));
      assertThat(GammaTail.regularizedUpper(2, x)).isCloseTo((1 + x) * Math.exp(-x), within(1e-10));
      assertThat(GammaTail.regularizedUpper(3, x)).isCloseTo((1 + x + x * x / 2) * Math.exp(-x), within(1e-10));
    }
    assertThat(GammaTail.logGamma(5)).isCloseTo(Math.log(24), within(1e-10));
    assertThat(GammaTail.logGamma(0.5)).isCloseTo(0.5 * Math.log(Math.PI), within(1e-10));
  }

  @Test
  void fitKeepsMeanAndVarianceAndIsSkewed() {
    // shape 1 (mean 10, variance 100) is the exponential of mean 10: P(X > 46.05) = 1 %
    assertThat(GammaTail.exceeds(10, 100, 10 * Math.log(100))).isCloseTo(0.01, within(1e-9));
    // a normal with the same mean and variance would put its 1 % point at 10 + 2.326 * 10 = 33.3: the gamma is heavier
    assertThat(GammaTail.exceeds(10, 100, 33.3)).isGreaterThan(0.03);
    assertThat(GammaTail.exceeds(0, 0, 1)).isZero();
    assertThat(GammaTail.exceeds(5, 0, 4.9)).isEqualTo(1.0);
  }

  @Test
  void inverseNormalQuantiles() {
    assertThat(LoadModel.inverseNormal(0.975)).isCloseTo(1.959964, within(1e-6));
    assertThat(LoadModel.inverseNormal(0.99)).isCloseTo(2.326348, within(1e-6));
    assertThat(LoadModel.inverseNormal(0.01)).isCloseTo(-2.326348, within(1e-6));
    assertThat(LoadModel.inverseNormal(0.5)).isCloseTo(0, within(1e-12));
  }

  @Test
  void shortOutputsWeighMoreInTheStallTail() {
    // same mean output, one type with widely spread outputs: its p99 stall per token is higher
    TypeShape narrow = new TypeShape(3000, 5000, 60, 62);
    TypeShape wide = new TypeShape(3000, 5000, 60, 99);
    double n = LoadModel.stallPerToken99(LoadModel.Outputs.of(narrow), 0.05, 0, 200, 200 * 200 * 1.2);
    double w = LoadModel.stallPerToken99(LoadModel.Outputs.of(wide), 0.05, 0, 200, 200 * 200 * 1.2);
    assertThat(w).isGreaterThan(n);
    // with no stalls there is nothing to add
    assertThat(LoadModel.stallPerToken99(LoadModel.Outputs.of(narrow), 0, 0, 200, 1)).isZero();
  }
}
