package io.dynamollm.control.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** Loads the configuration: an optional file given by the user over application.conf and every reference.conf. */
public final class ConfigFiles {
  private ConfigFiles() {}

  /**
   * The resolved configuration.
   *
   * @throws IllegalArgumentException naming the file and the problem when the file is missing or malformed
   */
  public static Config load(Optional<Path> file) {
    ConfigFactory.invalidateCaches();
    Config base = ConfigFactory.load();
    if (file.isEmpty()) {
      return base;
    }
    Path p = file.get();
    if (!Files.isRegularFile(p)) {
      throw new IllegalArgumentException("config file " + p + " does not exist or is not a file");
    }
    try {
      Config user = ConfigFactory.parseFile(p.toFile(), ConfigParseOptions.defaults().setAllowMissing(false));
      return ConfigFactory.systemProperties().withFallback(user).withFallback(base).resolve();
    } catch (ConfigException e) {
      throw new IllegalArgumentException("cannot read config file " + p + ": " + e.getMessage(), e);
    }
  }
}
