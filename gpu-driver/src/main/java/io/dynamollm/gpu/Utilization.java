package io.dynamollm.gpu;

/**
 * NVML's utilization rates over its last sample period.
 *
 * @param gpuPercent percent of time a kernel was running
 * @param memoryPercent percent of time device memory was being read or written
 */
public record Utilization(int gpuPercent, int memoryPercent) {}
