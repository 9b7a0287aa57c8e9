package io.dynamollm.instance;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which instance holds each GPU of a host: a GPU belongs to at most one instance at a time. Pure and immutable: every
 * change returns a new ledger (the HostAgent keeps the current one).
 */
public final class GpuLedger {
  private final List<String> gpus; // UUIDs in index order
  private final Map<String, String> holder; // GPU UUID -> instance id

  private GpuLedger(List<String> gpus, Map<String, String> holder) {
    this.gpus = List.copyOf(gpus);
    this.holder = Map.copyOf(holder);
  }

  /** An empty ledger over the host's GPUs (UUIDs in index order). */
  public static GpuLedger of(List<String> gpuUuids) {
    if (new TreeSet<>(gpuUuids).size() != gpuUuids.size()) {
      throw new IllegalArgumentException("GPU UUIDs must be distinct: " + gpuUuids);
    }
    return new GpuLedger(gpuUuids, Map.of());
  }

  /** The outcome of a reservation. */
  public sealed interface Result permits Granted, Refused {}

  /** {@code instance} now holds {@code gpus} (UUIDs in index order). */
  public record Granted(GpuLedger ledger, String instance, List<String> gpus) implements Result {}

  /** Nothing changed; {@code reason} says why. */
  public record Refused(String reason) implements Result {}

  /**
   * Gives {@code instance} {@code count} free GPUs: the lowest indices of a block of consecutive free GPUs if there is
   * one (NVLink islands of a DGX are symmetric, but consecutive indices keep layouts readable), else the lowest free.
   * An instance holds one set at a time.
   */
  public Result reserve(String instance, int count) {
    if (count < 1) {
      return new Refused("an instance needs at least one GPU, asked for " + count);
    }
    if (holder.containsValue(instance)) {
      return new Refused("instance " + instance + " already holds " + held(instance));
    }
    List<String> free = free();
    if (free.size() < count) {
      return new Refused("instance " + instance + " needs " + count + " GPUs, " + free.size() + " of " + gpus.size()
          + " are free");
    }
    List<String> pick = consecutiveFree(count).orElse(free.subList(0, count));
    return grant(instance, pick);
  }

  /** Gives {@code instance} exactly these GPUs, if all are on this host and free. */
  public Result reserve(String instance, Collection<String> uuids) {
    if (uuids.isEmpty()) {
      return new Refused("an instance needs at least one GPU");
    }
    if (holder.containsValue(instance)) {
      return new Refused("instance " + instance + " already holds " + held(instance));
    }
    for (String u : uuids) {
      if (!gpus.contains(u)) {
        return new Refused("GPU " + u + " is not on this host");
      }
      if (holder.containsKey(u)) {
        return new Refused("GPU " + u + " is held by instance " + holder.get(u));
      }
    }
    List<String> ordered = gpus.stream().filter(uuids::contains).toList();
    return grant(instance, ordered);
  }

  /** Frees whatever {@code instance} holds; the GPUs it held, in index order (empty if none). */
  public GpuLedger release(String instance) {
    Map<String, String> h = new LinkedHashMap<>(holder);
    h.values().removeIf(instance::equals);
    return new GpuLedger(gpus, h);
  }

  /** GPUs {@code instance} holds, in index order. */
  public List<String> held(String instance) {
    return gpus.stream().filter(u -> instance.equals(holder.get(u))).toList();
  }

  public Optional<String> holderOf(String uuid) {
    return Optional.ofNullable(holder.get(uuid));
  }

  public List<String> free() {
    return gpus.stream().filter(u -> !holder.containsKey(u)).toList();
  }

  public List<String> gpus() {
    return gpus;
  }

  public Set<String> instances() {
    return new TreeSet<>(holder.values());
  }

  private Optional<List<String>> consecutiveFree(int count) {
    for (int start = 0; start + count <= gpus.size(); start += count) {
      List<String> block = gpus.subList(start, start + count);
      if (block.stream().noneMatch(holder::containsKey)) {
        return Optional.of(block);
      }
    }
    return Optional.empty();
  }

  private Granted grant(String instance, List<String> pick) {
    Map<String, String> h = new LinkedHashMap<>(holder);
    for (String u : pick) {
      h.put(u, instance);
    }
    return new Granted(new GpuLedger(gpus, h), instance, new ArrayList<>(pick));
  }
}
