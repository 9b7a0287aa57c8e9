package io.dynamollm.decision.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.decision.DecisionSettings;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class CapacityCorrectionTest {
  private static final CapacityCorrection.Settings S = DecisionSettings.defaults().correction();

  @ParameterizedTest(name = "x{0} after {2} of {1} missed -> x{3}")
  @CsvSource({
      // too few requests say nothing
      "1.0, 49, 49, 1.0",
      // 2 % missed: x(1 + 10 * 0.02) = x1.2
      "1.0, 100, 2, 1.2",
      // 3 % from x1.1: x1.1 * 1.3 = 1.43
      "1.1, 100, 3, 1.43",
      // 20 % missed: the step is capped at +50 %
      "1.0, 100, 20, 1.5",
      // capped at x1.5
      "1.4, 100, 20, 1.5",
      // between 0.3 % and 1 %: unchanged
      "1.5, 1000, 5, 1.5",
      // below 0.3 %: relax by 3 %
      "1.5, 1000, 2, 1.455",
      // never below 1
      "1.01, 1000, 0, 1.0",
  })
  void followsTheMissRate(double factor, long completed, long missed, double expected) {
    assertThat(new CapacityCorrection(factor).next(completed, missed, S).factor()).isCloseTo(expected, within(1e-9));
  }

  @Test
  void plansForTheCorrectedLoad() {
    assertThat(new CapacityCorrection(1.25).apply(8)).isEqualTo(10.0);
    assertThat(new CapacityCorrection(1.25)).hasToString("x1.25");
  }

  @Test
  void refusesFactorsBelowOneOrNotFinite() {
    assertThatThrownBy(() -> new CapacityCorrection(0.9)).hasMessageContaining(">= 1, got 0.9");
    assertThatThrownBy(() -> new CapacityCorrection(Double.NaN)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new CapacityCorrection(Double.POSITIVE_INFINITY))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
