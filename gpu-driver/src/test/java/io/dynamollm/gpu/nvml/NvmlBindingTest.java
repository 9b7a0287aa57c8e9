package io.dynamollm.gpu.nvml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.GpuDriverNotLoadedException;
import io.dynamollm.gpu.GpuException;
import io.dynamollm.gpu.GpuInventory;
import io.dynamollm.gpu.GpuLostException;
import io.dynamollm.gpu.GpuNoPermissionException;
import io.dynamollm.gpu.NvmlCodes;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The JNA binding for real, against the C stand-in for libnvidia-ml.so.1 built by the test build. */
class NvmlBindingTest {
  final FakeNvml fake = FakeNvml.load(FakeNvml.path());
  NvmlGpuDevices nvml;

  @BeforeEach
  void reset() {
    fake.fake_nvml_reset(2);
  }

  @AfterEach
  void close() {
    if (nvml != null) {
      nvml.close();
    }
  }

  private List<GpuDevice> open(Optional<String> cudaVisibleDevices) {
    nvml = NvmlGpuDevices.open(Optional.of(FakeNvml.path()), cudaVisibleDevices);
    assertThat(nvml.inventory()).isInstanceOf(GpuInventory.Available.class);
    return ((GpuInventory.Available) nvml.inventory()).devices();
  }

  @Test
  void enumeratesDevicesAndReadsEverySensorInNvmlUnits() {
    fake.fake_nvml_set(1, "power_mw", 412_345);
    fake.fake_nvml_set(1, "sm_clock", 1980);
    fake.fake_nvml_set(1, "energy_mj", 123_456_789_012L);
    fake.fake_nvml_set(1, "util_gpu", 97);
    fake.fake_nvml_set(1, "util_mem", 41);
    fake.fake_nvml_set(1, "reasons", 0x4 | 0x2);
    List<GpuDevice> gpus = open(Optional.empty());

    assertThat(((GpuInventory.Available) nvml.inventory()).driverVersion()).isEqualTo("999.99-fake");
    assertThat(gpus).extracting(GpuDevice::index).containsExactly(0, 1);
    GpuDevice g = gpus.get(1);
    assertThat(g.simulated()).isFalse();
    assertThat(g.uuid()).isEqualTo("GPU-fa4e0000-0000-4000-8000-000000000001");
    assertThat(g.name()).isEqualTo("NVIDIA H100 80GB HBM3");
    assertThat(g.powerUsageMw()).isEqualTo(412_345);
    assertThat(g.totalEnergyMj()).isEqualTo(123_456_789_012L);
    assertThat(g.smClockMhz()).isEqualTo(1980);
    assertThat(g.utilization().gpuPercent()).isEqualTo(97);
    assertThat(g.utilization().memoryPercent()).isEqualTo(41);
    assertThat(g.memory().totalBytes()).isEqualTo(85_520_809_984L);
    assertThat(g.memory().usedBytes()).isEqualTo(553_648_128L);
    assertThat(g.temperatureC()).isEqualTo(32);
    assertThat(g.clockEventReasons().names()).containsExactly("applications_clocks_setting", "sw_power_cap");
    assertThat(g.powerLimitConstraints().minMw()).isEqualTo(200_000);
    assertThat(g.powerLimitConstraints().maxMw()).isEqualTo(700_000);
    assertThat(g.capabilities().lockedClocks()).isTrue();
    assertThat(g.capabilities().energyCounter()).isTrue();
  }

  @Test
  void supportedClocksAreTheH100ListHighestFirst() {
    List<Integer> clocks = open(Optional.empty()).get(0).supportedGraphicsClocksMhz();
    assertThat(clocks).hasSize(110).startsWith(1980, 1965).endsWith(360, 345);
    assertThat(open(Optional.empty()).get(0).nearestSupportedClockMhz(1000)).isEqualTo(1005);
  }

  @Test
  void setsAndResetsLockedClocksAndPowerLimits() {
    GpuDevice g = open(Optional.empty()).get(1);
    g.setLockedGpuClocks(1200, 1200);
    assertThat(fake.fake_nvml_get(1, "locked_min")).isEqualTo(1200);
    assertThat(fake.fake_nvml_get(1, "locked_max")).isEqualTo(1200);
    g.resetLockedGpuClocks();
    assertThat(fake.fake_nvml_get(1, "locked_max")).isEqualTo(-1);
    g.setPowerLimitMw(450_000);
    assertThat(g.powerLimitMw()).isEqualTo(450_000);
    g.resetPowerLimit();
    assertThat(fake.fake_nvml_get(1, "limit_mw")).isEqualTo(700_000);
    assertThat(fake.fake_nvml_calls()).contains(
        "nvmlDeviceSetGpuLockedClocks(1,1200,1200)\nnvmlDeviceResetGpuLockedClocks(1)\n"
            + "nvmlDeviceSetPowerManagementLimit(1,450000)\nnvmlDeviceSetPowerManagementLimit(1,700000)\n");
  }

  @Test
  void eachNvmlErrorClassBecomesItsOwnExceptionWithCodeAndMessage() {
    GpuDevice g = open(Optional.empty()).get(0);
    assertThatThrownBy(() -> g.setLockedGpuClocks(1500, 1000))
        .isInstanceOf(GpuException.InvalidArgument.class)
        .hasMessageContaining("nvmlDeviceSetGpuLockedClocks(GPU 0, 1500, 1000)")
        .hasMessageContaining("Invalid Argument")
        .satisfies(e -> assertThat(((GpuException) e).nvmlCode()).isEqualTo(NvmlCodes.ERROR_INVALID_ARGUMENT));
    fake.fake_nvml_fail("nvmlDeviceSetGpuLockedClocks", NvmlCodes.ERROR_NO_PERMISSION);
    assertThatThrownBy(() -> g.setLockedGpuClocks(1200, 1200))
        .isInstanceOf(GpuNoPermissionException.class)
        .hasMessageContaining("Insufficient Permissions");
    fake.fake_nvml_fail("nvmlDeviceGetPowerUsage", NvmlCodes.ERROR_GPU_IS_LOST);
    assertThatThrownBy(g::powerUsageMw).isInstanceOf(GpuLostException.class).hasMessageContaining("GPU is lost");
    fake.fake_nvml_fail("nvmlDeviceGetTemperature", NvmlCodes.ERROR_NOT_SUPPORTED);
    assertThatThrownBy(g::temperatureC).isInstanceOf(GpuException.NotSupported.class);
    fake.fake_nvml_fail("nvmlDeviceGetMemoryInfo", 777);
    assertThatThrownBy(g::memory).isInstanceOf(GpuException.Unknown.class)
        .satisfies(e -> assertThat(((GpuException) e).nvmlCode()).isEqualTo(777));
    assertThatThrownBy(() -> g.setPowerLimitMw(900_000)).isInstanceOf(GpuException.InvalidArgument.class);
  }

  @Test
  void capabilityQueriesReportWhatTheDriverDoesNotSupport() {
    fake.fake_nvml_fail("nvmlDeviceGetTotalEnergyConsumption", NvmlCodes.ERROR_NOT_SUPPORTED);
    fake.fake_nvml_fail("nvmlDeviceGetSupportedMemoryClocks", NvmlCodes.ERROR_NOT_SUPPORTED);
    GpuDevice g = open(Optional.empty()).get(0);
    assertThat(g.capabilities().energyCounter()).isFalse();
    assertThat(g.capabilities().lockedClocks()).isFalse();
    assertThat(g.supportedGraphicsClocksMhz()).isEmpty();
    assertThat(g.capabilities().powerLimit()).isTrue();
  }

  @Test
  void honoursCudaVisibleDevicesByIndexAndByUuid() {
    fake.fake_nvml_reset(4);
    assertThat(open(Optional.of("2,0"))).extracting(GpuDevice::index).containsExactly(2, 0);
    nvml.close();
    assertThat(open(Optional.of("GPU-fa4e0000-0000-4000-8000-000000000003"))).extracting(GpuDevice::index).containsExactly(3);
    nvml.close();
    nvml = NvmlGpuDevices.open(Optional.of(FakeNvml.path()), Optional.of(""));
    assertThat(nvml.inventory()).isInstanceOfSatisfying(GpuInventory.Unavailable.class,
        u -> assertThat(u.reason()).contains("hides all 4 GPUs"));
  }

  @Test
  void noDriverIsAValueNotACrash() {
    fake.fake_nvml_fail("nvmlInit_v2", NvmlCodes.ERROR_DRIVER_NOT_LOADED);
    nvml = NvmlGpuDevices.open(Optional.of(FakeNvml.path()), Optional.empty());
    assertThat(nvml.inventory()).isInstanceOfSatisfying(GpuInventory.Unavailable.class,
        u -> assertThat(u.reason()).contains("nvmlInit_v2 returned 9").contains("Driver Not Loaded"));
    NvmlGpuDevices missing = NvmlGpuDevices.open(Optional.of("/nonexistent/libnvidia-ml.so.1"), Optional.empty());
    assertThat(missing.inventory()).isInstanceOfSatisfying(GpuInventory.Unavailable.class,
        u -> assertThat(u.reason()).contains("NVML is not available here").contains("/nonexistent/libnvidia-ml.so.1"));
    assertThat(GpuException.of("x", NvmlCodes.ERROR_DRIVER_NOT_LOADED, "Driver Not Loaded"))
        .isInstanceOf(GpuDriverNotLoadedException.class);
  }

  @Test
  void closeShutsNvmlDown() {
    open(Optional.empty());
    assertThat(fake.fake_nvml_get(0, "initialized")).isEqualTo(1);
    nvml.close();
    nvml.close();
    assertThat(fake.fake_nvml_get(0, "initialized")).isEqualTo(0);
    assertThat(fake.fake_nvml_calls()).containsOnlyOnce("nvmlShutdown()");
  }

  @Test
  void olderDriversWithoutClockEventReasonsFallBackToThrottleReasons() {
    FakeNvml old = FakeNvml.load(FakeNvml.oldDriverPath());
    old.fake_nvml_reset(1);
    old.fake_nvml_set(0, "reasons", 0x20);
    try (NvmlGpuDevices oldNvml = NvmlGpuDevices.open(Optional.of(FakeNvml.oldDriverPath()), Optional.empty())) {
      GpuDevice g = ((GpuInventory.Available) oldNvml.inventory()).devices().get(0);
      assertThat(g.clockEventReasons().names()).containsExactly("sw_thermal_slowdown");
      assertThat(old.fake_nvml_calls()).contains("nvmlDeviceGetCurrentClocksThrottleReasons(0)");
    }
  }
}
