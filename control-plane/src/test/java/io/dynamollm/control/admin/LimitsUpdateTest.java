package io.dynamollm.control.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.control.cluster.ClusterLimits;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.profile.Profiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class LimitsUpdateTest {
  private final LimitsUpdate v = new LimitsUpdate(Profiles.h100());

  @ParameterizedTest(name = "{0} -> {1}..{2} MHz, budget {3}")
  @CsvSource(delimiter = '|', value = {
      "{\"min_mhz\": 1005, \"max_mhz\": 1980} | 1005 | 1980 | 0",
      "{\"min_mhz\": 1005, \"max_mhz\": 1605, \"gpu_budget\": null} | 1005 | 1605 | 0",
      "{\"min_mhz\": 1980, \"max_mhz\": 1980, \"gpu_budget\": 24} | 1980 | 1980 | 24",
      "{\"min_mhz\": 1200.0, \"max_mhz\": 1800, \"gpu_budget\": 2} | 1200 | 1800 | 2",
  })
  void acceptsWholeClocksInTheGpusRangeAndAnOptionalBudget(String body, int min, int max, int budget) {
    assertThat(v.validate(body)).isEqualTo(new LimitsUpdate.Accepted(
        new ClusterLimits(new FrequencyBounds(min, max), budget)));
  }

  @Test
  void theDefaultLimitsAsGetShowsThemArePutBackUnchanged() {
    // GET /api/v1/limits before any PUT: the GPU's whole range, no budget
    String shown = "{\"min_mhz\": " + FrequencyBounds.H100_DEFAULT.minMhz() + ", \"max_mhz\": "
        + FrequencyBounds.H100_DEFAULT.maxMhz() + ", \"gpu_budget\": null}";
    assertThat(v.validate(shown)).isEqualTo(new LimitsUpdate.Accepted(new ClusterLimits(FrequencyBounds.H100_DEFAULT,
        0)));
    assertThat(v.validate("{\"min_mhz\": 799, \"max_mhz\": 1980}")).isInstanceOf(LimitsUpdate.Rejected.class);
  }

  @ParameterizedTest(name = "{0} -> {1} W")
  @CsvSource(delimiter = '|', value = {
      "{\"min_mhz\": 1005, \"max_mhz\": 1980, \"power_budget_w\": null} | 0",
      "{\"min_mhz\": 1005, \"max_mhz\": 1980, \"power_budget_w\": 9000} | 9000",
      "{\"min_mhz\": 1005, \"max_mhz\": 1980, \"power_budget_w\": 12500.5} | 12500.5",
  })
  void acceptsAnOptionalWattBudget(String body, double watts) {
    assertThat(v.validate(body)).isEqualTo(new LimitsUpdate.Accepted(
        new ClusterLimits(new FrequencyBounds(1005, 1980), 0, watts)));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "{\"min_mhz\": 1005, \"max_mhz\": 1980, \"power_budget_w\": \"9 kW\"} | must be a number of watts",
      "{\"min_mhz\": 1005, \"max_mhz\": 1980, \"power_budget_w\": 0} | within 100–100000000 W",
      "{\"min_mhz\": 1005, \"max_mhz\": 1980, \"power_budget_w\": -5} | within 100–100000000 W",
      "{\"min_mhz\": 1005, \"max_mhz\": 1980, \"power_budget_w\": 1e300} | within 100–100000000 W",
      "{\"min_mhz\": 1005, \"max_mhz\": 1980, \"power_budget_w\": true} | must be a number of watts",
  })
  void rejectsAWattBudgetThatIsNoSensibleNumberOfWatts(String body, String message) {
    assertThat(v.validate(body)).isInstanceOfSatisfying(LimitsUpdate.Rejected.class, r -> {
      assertThat(r.status()).isEqualTo(422);
      assertThat(r.message()).contains("'power_budget_w'").contains(message);
    });
  }

  @Test
  void everyGpuIsTheDefaultBudgetAndCapsNothing() {
    ClusterLimits all = new ClusterLimits(FrequencyBounds.H100_DEFAULT, 0);
    assertThat(all.usableGpus(16)).isEqualTo(16);
    assertThat(new ClusterLimits(FrequencyBounds.H100_DEFAULT, 6).usableGpus(16)).isEqualTo(6);
    assertThat(new ClusterLimits(FrequencyBounds.H100_DEFAULT, 24).usableGpus(16)).isEqualTo(16);
  }
}
