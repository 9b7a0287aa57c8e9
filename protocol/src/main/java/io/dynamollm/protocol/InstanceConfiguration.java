package io.dynamollm.protocol;

import java.util.List;
import java.util.Objects;

/**
 * How one inference-engine instance runs: its tensor parallelism, the GPUs it holds (one per shard, all on one host)
 * and the clock of those GPUs.
 *
 * @param tp tensor-parallel degree
 * @param gpus the GPUs, exactly {@code tp.degree()} of them, distinct, on one host
 * @param clock graphics clock applied to all of them
 */
public record InstanceConfiguration(TensorParallelism tp, List<GpuRef> gpus, GpuClock clock)
    implements CborSerializable {

  public InstanceConfiguration {
    Objects.requireNonNull(tp, "tp");
    Objects.requireNonNull(clock, "clock");
    gpus = List.copyOf(gpus);
    if (gpus.size() != tp.degree()) {
      throw new IllegalArgumentException(tp + " needs " + tp.degree() + " GPUs, got " + gpus.size() + ": " + gpus);
    }
    if (gpus.stream().distinct().count() != gpus.size()) {
      throw new IllegalArgumentException("an instance cannot hold the same GPU twice: " + gpus);
    }
    if (gpus.stream().map(GpuRef::host).distinct().count() > 1) {
      throw new IllegalArgumentException("an instance's GPUs must be on one host (NVLink domain): " + gpus);
    }
  }

  /** The host of this instance's GPUs. */
  public String host() {
    return gpus.get(0).host();
  }

  public InstanceConfiguration withClock(GpuClock newClock) {
    return new InstanceConfiguration(tp, gpus, newClock);
  }
}
