package io.dynamollm.decision.instance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dynamollm.protocol.FrequencyBounds;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClockGuardTest {
  /** A few of the H100's clocks, highest first as NVML lists them. */
  private static final List<Integer> SUPPORTED = List.of(1980, 1965, 1605, 1200, 810, 345);
  private final ClockGuard guard = new ClockGuard(new FrequencyBounds(800, 1980), 5_000);

  @Test
  void onlySupportedClocksInsideTheBounds() {
    assertThat(guard.snap(1700, SUPPORTED)).isEqualTo(1605); // the supported clock below
    assertThat(guard.snap(5000, SUPPORTED)).isEqualTo(1980);
    assertThat(guard.snap(400, SUPPORTED)).isEqualTo(810); // 345 is supported but below the bounds
    assertThat(guard.max(SUPPORTED)).isEqualTo(1980);
    assertThatThrownBy(() -> new ClockGuard(new FrequencyBounds(100, 300), 0).snap(200, SUPPORTED))
        .hasMessageContaining("no clock inside 100-300 MHz");
  }

  @Test
  void changesAreRateLimitedExceptTheFirstAndEmergencyRaises() {
    assertThat(guard.decide(1200, -1, 0, 1_000, SUPPORTED, false)).isEqualTo(new ClockGuard.Apply(1200));
    assertThat(guard.decide(1605, 1200, 1_000, 3_000, SUPPORTED, false)).isEqualTo(new ClockGuard.Defer(1605, 6_000));
    assertThat(guard.decide(1605, 1200, 1_000, 6_000, SUPPORTED, false)).isEqualTo(new ClockGuard.Apply(1605));
    // an emergency may always go up, never down early
    assertThat(guard.decide(1980, 1200, 1_000, 1_500, SUPPORTED, true)).isEqualTo(new ClockGuard.Apply(1980));
    assertThat(guard.decide(810, 1200, 1_000, 1_500, SUPPORTED, true)).isEqualTo(new ClockGuard.Defer(810, 6_000));
    // a request that resolves to the applied clock is no change
    assertThat(guard.decide(1700, 1605, 1_000, 1_100, SUPPORTED, false)).isEqualTo(new ClockGuard.Keep(1605));
  }
}
