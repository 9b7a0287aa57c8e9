package io.dynamollm.control.node;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Settings of one node, from {@code dynamollm.node} and the environment (DYNAMOLLM_SEEDS, DYNAMOLLM_ROLES; host,
 * port, data dir and admin token come through the configuration's own {@code ${?…}} overrides). Every mistake fails
 * with a message naming the key.
 *
 * @param seeds "host:port" of the nodes to join; empty: start a cluster of its own
 * @param adminToken bearer token for mutating admin calls; empty: one is generated at start
 */
public record NodeSettings(
    String clusterName, String host, int port, List<String> seeds, Set<String> roles, Path dataDir,
    Duration majorityTimeout, String adminInterface, int adminPort, Optional<String> adminToken, Duration askTimeout,
    String opsInterface, int opsPort) {

  public static final String CONTROL = "control";
  public static final String GPU_HOST = "gpu-host";
  static final Set<String> KNOWN_ROLES = Set.of(CONTROL, GPU_HOST);

  public NodeSettings {
    seeds = List.copyOf(seeds);
    roles = Set.copyOf(new LinkedHashSet<>(roles));
    requirePort("dynamollm.node.port", port);
    requirePort("dynamollm.node.admin.port", adminPort);
    requirePort("dynamollm.node.ops.port", opsPort);
    if (roles.isEmpty()) {
      throw new IllegalArgumentException("dynamollm.node.roles: a node needs at least one role (control, gpu-host)");
    }
    for (String r : roles) {
      if (!KNOWN_ROLES.contains(r)) {
        throw new IllegalArgumentException("dynamollm.node.roles: unknown role '" + r + "': expected control or gpu-host");
      }
    }
    for (String s : seeds) {
      parseSeed(s);
    }
    if (adminToken.isPresent() && adminToken.get().isBlank()) {
      adminToken = Optional.empty();
    }
  }

  /** Reads {@code dynamollm.node} from {@code root}, with DYNAMOLLM_SEEDS and DYNAMOLLM_ROLES from {@code env}. */
  public static NodeSettings fromConfig(Config root, Map<String, String> env) {
    String base = "dynamollm.node";
    try {
      Config c = root.getConfig(base);
      List<String> seeds = c.getStringList("seeds");
      if (env.get("DYNAMOLLM_SEEDS") != null && !env.get("DYNAMOLLM_SEEDS").isBlank()) {
        seeds = splitList(env.get("DYNAMOLLM_SEEDS"));
      }
      List<String> roles = c.getStringList("roles");
      if (env.get("DYNAMOLLM_ROLES") != null && !env.get("DYNAMOLLM_ROLES").isBlank()) {
        roles = splitList(env.get("DYNAMOLLM_ROLES"));
      }
      String token = c.getString("admin.token");
      return new NodeSettings(c.getString("cluster-name"), c.getString("host"), c.getInt("port"), seeds,
          new LinkedHashSet<>(roles), Path.of(c.getString("data-dir")), c.getDuration("majority-timeout"),
          c.getString("admin.interface"), c.getInt("admin.port"),
          token.isBlank() ? Optional.empty() : Optional.of(token), c.getDuration("admin.ask-timeout"),
          c.getString("ops.interface"), c.getInt("ops.port"));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("configuration: " + e.getMessage(), e);
    }
  }

  /** Splits "a, b,c" into [a, b, c]. */
  public static List<String> splitList(String s) {
    return Arrays.stream(s.split(",")).map(String::trim).filter(x -> !x.isEmpty()).toList();
  }

  public NodeSettings withHost(String h) {
    return new NodeSettings(clusterName, h, port, seeds, roles, dataDir, majorityTimeout, adminInterface, adminPort,
        adminToken, askTimeout, opsInterface, opsPort);
  }

  public NodeSettings withPort(int p) {
    return new NodeSettings(clusterName, host, p, seeds, roles, dataDir, majorityTimeout, adminInterface, adminPort,
        adminToken, askTimeout, opsInterface, opsPort);
  }

  public NodeSettings withSeeds(List<String> s) {
    return new NodeSettings(clusterName, host, port, s, roles, dataDir, majorityTimeout, adminInterface, adminPort,
        adminToken, askTimeout, opsInterface, opsPort);
  }

  public NodeSettings withRoles(Set<String> r) {
    return new NodeSettings(clusterName, host, port, seeds, r, dataDir, majorityTimeout, adminInterface, adminPort,
        adminToken, askTimeout, opsInterface, opsPort);
  }

  public NodeSettings withDataDir(Path d) {
    return new NodeSettings(clusterName, host, port, seeds, roles, d, majorityTimeout, adminInterface, adminPort,
        adminToken, askTimeout, opsInterface, opsPort);
  }

  public NodeSettings withAdminPort(int p) {
    return new NodeSettings(clusterName, host, port, seeds, roles, dataDir, majorityTimeout, adminInterface, p,
        adminToken, askTimeout, opsInterface, opsPort);
  }

  public NodeSettings withOpsPort(int p) {
    return new NodeSettings(clusterName, host, port, seeds, roles, dataDir, majorityTimeout, adminInterface, adminPort,
        adminToken, askTimeout, opsInterface, p);
  }

  public NodeSettings withAdminToken(String t) {
    return new NodeSettings(clusterName, host, port, seeds, roles, dataDir, majorityTimeout, adminInterface, adminPort,
        Optional.ofNullable(t), askTimeout, opsInterface, opsPort);
  }

  public boolean isControl() {
    return roles.contains(CONTROL);
  }

  /**
   * The actor system's configuration: this node's address, roles and durable-data folder over node.conf (cluster,
   * distributed data, logging) over {@code root}.
   */
  public Config pekkoConfig(Config root) {
    List<String> seedUris = new ArrayList<>();
    for (String s : seeds) {
      String[] hp = parseSeed(s);
      seedUris.add("pekko://" + clusterName + "@" + hp[0] + ":" + hp[1]);
    }
    Path lmdb = dataDir.resolve("ddata-" + host.replaceAll("[^A-Za-z0-9.-]", "_") + "-" + port);
    return ConfigFactory.empty()
        .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(host))
        .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(port))
        .withValue("pekko.cluster.roles", ConfigValueFactory.fromIterable(new ArrayList<>(roles)))
        .withValue("pekko.cluster.seed-nodes", ConfigValueFactory.fromIterable(seedUris))
        .withValue("pekko.remote.artery.advanced.test-mode",
            ConfigValueFactory.fromAnyRef(testEndpoints(root)))
        .withValue("pekko.cluster.distributed-data.durable.lmdb.dir",
            ConfigValueFactory.fromAnyRef(lmdb.toAbsolutePath().toString()))
        .withFallback(ConfigFactory.parseResources("node.conf"))
        .withFallback(root)
        .resolve();
  }

  /** Whether the failure tests' endpoints are on ({@code dynamollm.node.test-endpoints}). */
  public static boolean testEndpoints(Config root) {
    return root.hasPath("dynamollm.node.test-endpoints") && root.getBoolean("dynamollm.node.test-endpoints");
  }

  private static void requirePort(String key, int p) {
    if (p < 0 || p > 65535) {
      throw new IllegalArgumentException(key + " must be a port number 0-65535, got " + p);
    }
  }

  private static String[] parseSeed(String s) {
    int colon = s.lastIndexOf(':');
    if (colon <= 0 || colon == s.length() - 1) {
      throw new IllegalArgumentException("seed '" + s + "' must look like host:port");
    }
    try {
      int p = Integer.parseInt(s.substring(colon + 1));
      if (p < 1 || p > 65535) {
        throw new NumberFormatException();
      }
      return new String[] {s.substring(0, colon), Integer.toString(p)};
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("seed '" + s + "' must look like host:port with a port 1-65535");
    }
  }
}
