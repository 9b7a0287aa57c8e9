package io.dynamollm.gpu;

import io.dynamollm.gpu.nvml.NvmlGpuDevices;
import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.protocol.profile.Profile;
import java.util.List;
import java.util.Optional;
import java.util.function.LongSupplier;

/** Picks the devices a host drives according to {@link GpuSettings}. */
public final class GpuBackends {
  private GpuBackends() {}

  /**
   * The GPUs of this host.
   *
   * @param settings which backend
   * @param hostName this host's node name (seeds simulated UUIDs)
   * @param profile the power model of simulated GPUs
   * @param nanoTime the clock simulated GPUs integrate energy over
   * @param cudaVisibleDevices CUDA_VISIBLE_DEVICES, empty when unset
   * @return the inventory, with an {@link AutoCloseable} that releases NVML
   */
  public static Opened open(
      GpuSettings settings, String hostName, Profile profile, LongSupplier nanoTime, Optional<String> cudaVisibleDevices) {
    if (settings.backend() != GpuSettings.Backend.SIMULATED) {
      NvmlGpuDevices nvml = NvmlGpuDevices.open(settings.nvmlLibrary(), cudaVisibleDevices);
      if (nvml.inventory() instanceof GpuInventory.Available || settings.backend() == GpuSettings.Backend.NVML) {
        return new Opened(nvml.inventory(), nvml::close);
      }
    }
    List<GpuDevice> sims = List.copyOf(SimulatedGpuDevice.host(hostName, settings.simulatedCount(), profile, nanoTime));
    return new Opened(new GpuInventory.Available("simulated", "simulated", sims), () -> {});
  }

  /** An inventory and how to release it. */
  public record Opened(GpuInventory inventory, AutoCloseable closer) implements AutoCloseable {
    @Override
    public void close() throws Exception {
      closer.close();
    }
  }
}
