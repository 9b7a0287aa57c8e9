package io.dynamollm.control.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.Profiles;

/**
 * The {@code dynamollm.profile} section: which energy-performance profile planners, simulated GPUs and engines use.
 * A profile file ({@code file}, docs/profile.md) wins over a bundled one ({@code name}).
 */
public final class ProfileSettings {
  private ProfileSettings() {}

  /**
   * The configured profile; an unknown name, or a file that is missing or malformed, fails with a message naming the
   * key (and, for a file, the field).
   */
  public static Profile profile(Config root) {
    String file;
    String name;
    try {
      file = root.getString("dynamollm.profile.file").trim();
      name = root.getString("dynamollm.profile.name");
    } catch (ConfigException e) {
      throw new IllegalArgumentException("invalid configuration: " + e.getMessage(), e);
    }
    if (!file.isEmpty()) {
      try {
        return Profiles.load(java.nio.file.Path.of(file));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("dynamollm.profile.file: " + e.getMessage(), e);
      }
    }
    try {
      return Profiles.named(name);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("dynamollm.profile.name: " + e.getMessage(), e);
    }
  }
}
