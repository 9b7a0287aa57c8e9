package io.dynamollm.control.profiler;

import java.io.IOException;

/**
 * Reads the GPUs of the engine being profiled; never changes them. Implementations: {@link DeviceMeter} (the GPU
 * driver: NVML on the host, or simulated devices in the same process) and {@link ExporterMeter} (a DCGM exporter's
 * metrics, or {@code engine-sim}'s, which shows its simulated GPUs the same way).
 */
interface GpuMeter extends AutoCloseable {

  /**
   * One reading of all the engine's GPUs.
   *
   * @param nanoTime when it was taken ({@link System#nanoTime})
   * @param energyJ the GPUs' energy counters summed, J (monotone)
   * @param powerW the GPUs' mean power now, W
   * @param smMhz the GPUs' median SM clock now, MHz
   */
  record Reading(long nanoTime, double energyJ, double powerW, double smMhz) {}

  /** Reads the GPUs now. */
  Reading read() throws IOException;

  /** How many GPUs the readings cover. */
  int gpus();

  /** What is read, for the profile's provenance, e.g. "NVML (GPUs 0,1,2,3)". */
  String describe();

  @Override
  default void close() {}
}
