package io.dynamollm.protocol;

import java.util.Objects;

/**
 * One GPU of the cluster: the host that owns it and its NVML index there. The UUID, when known, guards against a
 * host whose GPUs were renumbered.
 *
 * @param host the gpu-host node's name
 * @param index NVML index on that host
 * @param uuid NVML UUID ("GPU-…"), or empty when not known yet
 */
public record GpuRef(String host, int index, String uuid) implements CborSerializable {

  public GpuRef {
    Objects.requireNonNull(host, "host");
    Objects.requireNonNull(uuid, "uuid");
    if (host.isBlank()) {
      throw new IllegalArgumentException("GPU host name must not be blank");
    }
    if (index < 0) {
      throw new IllegalArgumentException("GPU index must not be negative, got " + index);
    }
  }

  public static GpuRef of(String host, int index) {
    return new GpuRef(host, index, "");
  }

  @Override
  public String toString() {
    return host + "/" + index;
  }
}
