package io.dynamollm.protocol;

/**
 * How instances are named: {@code host:port~pool-…}, the cluster address of the GPU host that holds them first. The
 * instance shards are placed by that host part, and a host's loss is found by it.
 */
public final class InstanceIds {
  /** What separates an instance id's host from the rest. */
  public static final char HOST_SEPARATOR = '~';

  private InstanceIds() {}

  /** The host part of an instance id (the whole id when it has none). */
  public static String hostOf(String instanceId) {
    int i = instanceId.indexOf(HOST_SEPARATOR);
    return i > 0 ? instanceId.substring(0, i) : instanceId;
  }

  /** Whether the instance lives on {@code host} ({@code host:port}). */
  public static boolean onHost(String instanceId, String host) {
    return instanceId.length() > host.length() && instanceId.startsWith(host)
        && instanceId.charAt(host.length()) == HOST_SEPARATOR;
  }
}
