package io.dynamollm.decision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

class DecisionSettingsTest {

  @Test
  void theReferenceConfigurationHoldsThePapersTimeScalesButAShorterClusterEpoch() {
    DecisionSettings d = DecisionSettings.defaults();
    // 10 minutes, not the paper's 30: the forecaster looks a start-up ahead and releases slowly (docs/results.md)
    assertThat(d.clusterEpochMs()).isEqualTo(10 * 60_000);
    assertThat(d.poolEpochMs()).isEqualTo(5 * 60_000);
    assertThat(d.instanceEpochMs()).isEqualTo(5_000);
    assertThat(d.planner().loadLevels()).endsWith(1.0);
    assertThat(d.governor().stepDownAfter()).isEqualTo(3);
  }

  @Test
  void aUserFileOverridesKeysOfItsChoice() {
    var c = ConfigFactory.parseString("dynamollm.decisions { pool-epoch = 2m, governor.guard-enter = 0.9 }")
        .withFallback(ConfigFactory.defaultReference()).resolve();
    DecisionSettings d = DecisionSettings.fromConfig(c);
    assertThat(d.poolEpochMs()).isEqualTo(120_000);
    assertThat(d.governor().guardEnter()).isEqualTo(0.9);
    assertThat(d.clusterEpochMs()).isEqualTo(10 * 60_000);
  }

  @Test
  void aWrongValueFailsWithTheKeysName() {
    assertThatThrownBy(() -> DecisionSettings.fromConfig(ConfigFactory.parseString(
        "dynamollm.decisions.governor.window = soon").withFallback(ConfigFactory.defaultReference()).resolve()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("dynamollm.decisions.governor").hasMessageContaining("window");
    assertThatThrownBy(() -> DecisionSettings.fromConfig(ConfigFactory.parseString(
        "dynamollm.decisions.governor.guard-exit = 0.95").withFallback(ConfigFactory.defaultReference()).resolve()))
        .hasMessageContaining("dynamollm.decisions.governor").hasMessageContaining("guard-exit");
    assertThatThrownBy(() -> DecisionSettings.fromConfig(ConfigFactory.parseString(
        "dynamollm.decisions.pool-epoch = 1h").withFallback(ConfigFactory.defaultReference()).resolve()))
        .hasMessageContaining("pool-epoch").hasMessageContaining("cluster-epoch");
  }
}
