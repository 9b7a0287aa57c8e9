package io.dynamollm.control.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigValue;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Loads the configuration: an optional file given by the user over system properties, application.conf and every
 * reference.conf. Every key the user sets under {@code dynamollm} must be one a reference.conf declares: a misspelled
 * key (say {@code dynamollm.node.admin.tokn}, whose token would silently not be used) is an error naming it, where it
 * was set and the key it most likely meant.
 */
public final class ConfigFiles {
  /** Sections whose keys are the user's own (request types), checked where they are read. */
  static final List<String> OPEN_SECTIONS = List.of("dynamollm.slo.overrides");

  private ConfigFiles() {}

  /**
   * The resolved configuration.
   *
   * @throws IllegalArgumentException naming the file and the problem when the file is missing or malformed, or
   *     naming an unknown key
   */
  public static Config load(Optional<Path> file) {
    ConfigFactory.invalidateCaches();
    Config user = ConfigFactory.defaultApplication();
    if (file.isPresent()) {
      Path p = file.get();
      if (!Files.isRegularFile(p)) {
        throw new IllegalArgumentException("config file " + p + " does not exist or is not a file");
      }
      try {
        user = ConfigFactory.parseFile(p.toFile(), ConfigParseOptions.defaults().setAllowMissing(false))
            .withFallback(user);
      } catch (ConfigException e) {
        throw new IllegalArgumentException("cannot read config file " + p + ": " + e.getMessage(), e);
      }
    }
    user = ConfigFactory.systemProperties().withFallback(user);
    Config reference = ConfigFactory.defaultReference();
    try {
      Config all = user.withFallback(reference).resolve();
      checkKnown(user.resolveWith(all), reference);
      return all;
    } catch (ConfigException e) {
      throw new IllegalArgumentException("invalid configuration: " + e.getMessage(), e);
    }
  }

  /**
   * Fails on the first key under {@code dynamollm} of {@code user} that {@code reference} does not declare.
   *
   * @throws IllegalArgumentException naming the key, where it was set and the nearest known key
   */
  public static void checkKnown(Config user, Config reference) {
    if (!user.hasPath("dynamollm")) {
      return;
    }
    Config known = reference.hasPath("dynamollm") ? reference.getConfig("dynamollm") : ConfigFactory.empty();
    for (Map.Entry<String, ConfigValue> e : user.getConfig("dynamollm").entrySet()) {
      String path = "dynamollm." + e.getKey();
      if (known.hasPathOrNull(e.getKey()) || OPEN_SECTIONS.stream().anyMatch(o -> path.startsWith(o + "."))) {
        continue;
      }
      String where = e.getValue().origin() == null ? "" : " (set in " + e.getValue().origin().description() + ")";
      String hint = nearest(path, known).map(k -> "; did you mean " + k + "?").orElse("");
      throw new IllegalArgumentException("unknown configuration key " + path + where + hint);
    }
  }

  /**
   * The known key {@code path} most likely meant: one with the same last name (a key that moved to another section),
   * else the closest by edit distance (at most a third of its length), if any.
   */
  private static Optional<String> nearest(String path, Config known) {
    List<String> keys = new ArrayList<>();
    known.entrySet().forEach(e -> keys.add("dynamollm." + e.getKey()));
    String last = path.substring(path.lastIndexOf('.') + 1);
    List<String> moved = keys.stream().filter(k -> k.endsWith("." + last)).toList();
    if (!moved.isEmpty()) {
      keys.retainAll(moved);
    }
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String k : keys) {
      int d = distance(path, k);
      if (d < bestDistance) {
        bestDistance = d;
        best = k;
      }
    }
    return !moved.isEmpty() || bestDistance <= Math.max(2, path.length() / 3) ? Optional.ofNullable(best)
        : Optional.empty();
  }

  private static int distance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }
}
