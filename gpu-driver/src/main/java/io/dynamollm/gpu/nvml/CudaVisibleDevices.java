package io.dynamollm.gpu.nvml;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Reads {@code CUDA_VISIBLE_DEVICES} the way the CUDA runtime does: a comma-separated list of device indices or UUID
 * prefixes ("GPU-8a7f"), in the order given; enumeration stops at the first entry that names no device; an empty value
 * hides every GPU; unset shows them all. Indices are taken in NVML (PCI bus) order, as with
 * {@code CUDA_DEVICE_ORDER=PCI_BUS_ID}; UUIDs are unambiguous either way.
 */
public final class CudaVisibleDevices {

  /** A GPU as NVML enumerates it. */
  public record NvmlGpu(int index, String uuid) {}

  private CudaVisibleDevices() {}

  /**
   * The NVML indices visible, in CUDA order.
   *
   * @param value the variable's value; empty Optional when it is unset
   * @param all every GPU NVML enumerates
   */
  public static List<Integer> visible(Optional<String> value, List<NvmlGpu> all) {
    if (value.isEmpty()) {
      return all.stream().map(NvmlGpu::index).toList();
    }
    List<Integer> out = new ArrayList<>();
    String v = value.get().trim();
    if (v.isEmpty()) {
      return out;
    }
    for (String raw : v.split(",")) {
      String entry = raw.trim();
      Optional<Integer> match = resolve(entry, all);
      if (match.isEmpty() || out.contains(match.get())) {
        break; // CUDA ignores an invalid entry and everything after it
      }
      out.add(match.get());
    }
    return out;
  }

  private static Optional<Integer> resolve(String entry, List<NvmlGpu> all) {
    if (entry.matches("\\d+")) {
      int idx;
      try {
        idx = Integer.parseInt(entry);
      } catch (NumberFormatException e) {
        return Optional.empty();
      }
      return all.stream().filter(g -> g.index() == idx).map(NvmlGpu::index).findFirst();
    }
    if (entry.startsWith("GPU-") && entry.length() > 4) {
      List<NvmlGpu> matches = all.stream().filter(g -> g.uuid().startsWith(entry)).toList();
      return matches.size() == 1 ? Optional.of(matches.get(0).index()) : Optional.empty();
    }
    return Optional.empty();
  }
}
