package io.dynamollm.control.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.Profiles;

/** The {@code dynamollm.profile} section: which energy-performance profile planners and simulated GPUs use. */
public final class ProfileSettings {
  private ProfileSettings() {}

  /** The configured profile; an unknown name fails with a message naming the key and the known profiles. */
  public static Profile profile(Config root) {
    try {
      return Profiles.named(root.getString("dynamollm.profile.name"));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("invalid configuration: " + e.getMessage(), e);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("dynamollm.profile.name: " + e.getMessage(), e);
    }
  }
}
