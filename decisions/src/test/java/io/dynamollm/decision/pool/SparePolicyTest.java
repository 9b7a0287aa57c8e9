package io.dynamollm.decision.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import io.dynamollm.decision.DecisionSettings;
import org.junit.jupiter.api.Test;

class SparePolicyTest {
  /** A 7-minute start-up at 230 W a GPU. */
  private static final PoolPlanner.Transitions SEVEN_MIN = new PoolPlanner.Transitions(ReshardCost.restart(420_000),
      420_000, 230);

  private static SparePolicy read(String keep) {
    return DecisionSettings.fromConfig(ConfigFactory.parseString("dynamollm.decisions.spares.keep = " + keep)
        .withFallback(ConfigFactory.defaultReference())).spares();
  }

  @Test
  void breakEvenKeepsASpareAsLongAsItsIdlePowerTakesToSpendOneStartUp() {
    // 420 s x 230 W / 77.7 W = 1,243.2 s: 20.7 min
    assertThat(DecisionSettings.defaults().spares().keepMs(SEVEN_MIN, 77.7)).isEqualTo(1_243_243);
    // half the idle power: twice as long
    assertThat(read("break-even").keepMs(SEVEN_MIN, 38.85)).isEqualTo(2_486_486);
    // instant start-ups never pay for a spare
    assertThat(read("break-even").keepMs(new PoolPlanner.Transitions(ReshardCost.restart(0), 0, 230), 77.7))
        .isZero();
  }

  @Test
  void aDurationOverridesItAndZeroKeepsNone() {
    assertThat(read("5m").keepMs(SEVEN_MIN, 77.7)).isEqualTo(300_000);
    assertThat(read("0s").keepMs(SEVEN_MIN, 77.7)).isZero();
  }

  @Test
  void aWordThatIsNeitherIsRejectedNamingTheKey() {
    assertThatThrownBy(() -> read("forever")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("dynamollm.decisions.spares").hasMessageContaining("keep");
    assertThatThrownBy(() -> read("-1m")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("dynamollm.decisions.spares");
  }
}
