package io.dynamollm.gpu.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.gpu.ClockEventReasons;
import io.dynamollm.gpu.GpuException;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.Profile;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class SimulatedGpuDeviceTest {
  static final Profile PROFILE = Profiles.h100();
  static final long SECOND = 1_000_000_000L;
  final AtomicLong now = new AtomicLong();
  final SimulatedGpuDevice gpu = new SimulatedGpuDevice(0, "GPU-sim-0", PROFILE, now::get);

  @Test
  void energyCounterIntegratesThePowerOfWhatTheEngineDoes() {
    now.addAndGet(10 * SECOND); // idle 10 s
    gpu.setActivity(new GpuActivity.Decode(TensorParallelism.TP8, 64));
    double decodeW = PROFILE.decodePowerW(TensorParallelism.TP8, 64, 1980);
    assertThat(gpu.powerUsageMw()).isEqualTo((int) Math.round(decodeW * 1000));
    now.addAndGet(2 * SECOND);
    gpu.setActivity(GpuActivity.IDLE);
    double expectedMj = (10 * PROFILE.idlePowerW() + 2 * decodeW) * 1000;
    assertThat((double) gpu.totalEnergyMj()).isCloseTo(expectedMj, within(1.0));
    // counter is monotone and keeps integrating idle power
    now.addAndGet(SECOND);
    assertThat((double) gpu.totalEnergyMj()).isCloseTo(expectedMj + PROFILE.idlePowerW() * 1000, within(1.0));
  }

  @Test
  void lowerLockedClockDrawsLessForTheSameWork() {
    gpu.setActivity(new GpuActivity.Prefill(TensorParallelism.TP4, 2048));
    int atMax = gpu.powerUsageMw();
    gpu.setLockedGpuClocks(1200, 1200);
    assertThat(gpu.appliedClockMhz()).isEqualTo(1200);
    assertThat(gpu.smClockMhz()).isEqualTo(1200);
    assertThat(gpu.powerUsageMw()).isLessThan(atMax);
    assertThat(gpu.clockEventReasons().has(ClockEventReasons.APPLICATIONS_CLOCKS_SETTING)).isTrue();
    gpu.resetLockedGpuClocks();
    assertThat(gpu.powerUsageMw()).isEqualTo(atMax);
  }

  @Test
  void clocksSnapToSupportedStepsAndOutOfRangeFailsAsNvmlWould() {
    assertThat(gpu.supportedGraphicsClocksMhz()).startsWith(1980, 1965).endsWith(810);
    gpu.setLockedGpuClocks(1000, 1000);
    assertThat(gpu.appliedClockMhz()).isEqualTo(990); // the highest supported clock within the range
    gpu.setLockedGpuClocks(800, 1199);
    assertThat(gpu.appliedClockMhz()).isEqualTo(1185);
    assertThatThrownBy(() -> gpu.setLockedGpuClocks(1500, 1000))
        .isInstanceOf(GpuException.InvalidArgument.class).hasMessageContaining("Invalid Argument");
    assertThatThrownBy(() -> gpu.setLockedGpuClocks(2100, 2500)).isInstanceOf(GpuException.InvalidArgument.class);
    assertThatThrownBy(() -> gpu.setLockedGpuClocks(100, 300)).isInstanceOf(GpuException.InvalidArgument.class);
    assertThat(gpu.nearestSupportedClockMhz(1000)).isEqualTo(1005);
  }

  @Test
  void powerLimitCapsTheDrawAndIsValidated() {
    gpu.setActivity(new GpuActivity.Prefill(TensorParallelism.TP8, 2048));
    gpu.setPowerLimitMw(300_000);
    assertThat(gpu.powerUsageMw()).isEqualTo(300_000);
    assertThat(gpu.clockEventReasons().has(ClockEventReasons.SW_POWER_CAP)).isTrue();
    assertThatThrownBy(() -> gpu.setPowerLimitMw(150_000)).isInstanceOf(GpuException.InvalidArgument.class);
    gpu.resetPowerLimit();
    assertThat(gpu.powerLimitMw()).isEqualTo(700_000);
  }

  @Test
  void idleGpuLooksIdle() {
    assertThat(gpu.powerUsageMw()).isEqualTo(77_700);
    assertThat(gpu.smClockMhz()).isEqualTo(345);
    assertThat(gpu.utilization().gpuPercent()).isZero();
    assertThat(gpu.clockEventReasons().names()).containsExactly("gpu_idle");
    assertThat(SimulatedGpuDevice.host("host-a", 8, PROFILE, now::get))
        .extracting(SimulatedGpuDevice::uuid).doesNotHaveDuplicates().hasSize(8);
  }
}
