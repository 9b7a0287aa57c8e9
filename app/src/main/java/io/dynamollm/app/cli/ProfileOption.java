package io.dynamollm.app.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.TableProfile;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --profile FILE|NAME}, shared by every command that uses a profile: it sets {@code dynamollm.profile}. */
final class ProfileOption {
  @Option(names = "--profile", paramLabel = "FILE|NAME",
      description = "Profile to use: a profile file (docs/profile.md) or a bundled profile's name"
          + " (llama2-70b-dgx-h100, the default). Sets dynamollm.profile.file or dynamollm.profile.name.")
  String profile;

  /** A bundled name, unless a file of that name exists. */
  static boolean isBundledName(String fileOrName) {
    return Profiles.names().contains(fileOrName) && !Files.exists(Path.of(fileOrName));
  }

  /** The profile a {@code FILE|NAME} argument names. */
  static TableProfile resolve(String fileOrName) {
    return isBundledName(fileOrName) ? Profiles.named(fileOrName) : Profiles.load(Path.of(fileOrName));
  }

  /** {@code cfg} with the option applied (unchanged without it). */
  Config apply(Config cfg) {
    if (profile == null) {
      return cfg;
    }
    if (isBundledName(profile)) {
      return cfg.withValue("dynamollm.profile.name", ConfigValueFactory.fromAnyRef(profile))
          .withValue("dynamollm.profile.file", ConfigValueFactory.fromAnyRef(""));
    }
    return ConfigFactory.empty().withValue("dynamollm.profile.file", ConfigValueFactory.fromAnyRef(profile))
        .withFallback(cfg);
  }
}
