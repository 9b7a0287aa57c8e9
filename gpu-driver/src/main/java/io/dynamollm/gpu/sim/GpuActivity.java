package io.dynamollm.gpu.sim;

import io.dynamollm.protocol.TensorParallelism;

/** What the engine on a simulated GPU is doing; sets the GPU's power through the profile. */
public sealed interface GpuActivity {

  /** Holding weights (or nothing), no kernels running. */
  record Idle() implements GpuActivity {}

  /** Prefilling {@code tokens} prompt tokens as one shard of a TP instance. */
  record Prefill(TensorParallelism tp, int tokens) implements GpuActivity {}

  /** Running a decode step of {@code batch} sequences as one shard of a TP instance. */
  record Decode(TensorParallelism tp, double batch) implements GpuActivity {}

  /** Loading weights or re-sharding: no model kernels, the profile's loading power. */
  record Loading() implements GpuActivity {}

  GpuActivity IDLE = new Idle();
  GpuActivity LOADING = new Loading();
}
