package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.profile.ProfileJson.ProfileFormatException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The profiles this build bundles, by the name used in configuration ({@code dynamollm.profile.name}), and profile
 * files ({@code dynamollm.profile.file}, {@code --profile FILE}). Both are the same format (docs/profile.md): a
 * bundled profile is a file inside the jar.
 */
public final class Profiles {
  /** The bundled Llama2-70B on DGX H100 profile's name, the default. */
  public static final String H100 = "llama2-70b-dgx-h100";
  /** The bundled Llama2-70B on DGX H200 profile's name (measured on a real H200, docs/profile.md). */
  public static final String H200 = "llama2-70b-dgx-h200";

  private static final List<String> BUNDLED = List.of(H100, H200);
  private static final Map<String, TableProfile> LOADED = new ConcurrentHashMap<>();

  private Profiles() {}

  /** Names accepted by {@link #named}. */
  public static List<String> names() {
    return BUNDLED;
  }

  /** The bundled Llama2-70B / DGX H100 profile (the default). */
  public static TableProfile h100() {
    return named(H100);
  }

  /** The bundled Llama2-70B / DGX H200 profile, from a shard probe on a real H200. */
  public static TableProfile h200() {
    return named(H200);
  }

  /**
   * The bundled profile called {@code name}.
   *
   * @throws IllegalArgumentException listing the known names when there is none by that name
   */
  public static TableProfile named(String name) {
    String key = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
    if (!BUNDLED.contains(key)) {
      throw new IllegalArgumentException("unknown profile '" + name + "': known profiles are " + String.join(", ", names()));
    }
    return LOADED.computeIfAbsent(key, Profiles::bundled);
  }

  /** The text of the bundled profile file {@code name} (what {@code profile export} writes). */
  public static String bundledText(String name) {
    String resource = name + ".json";
    try (InputStream in = Profiles.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("the bundled profile " + resource + " is missing from the build");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the bundled profile " + resource, e);
    }
  }

  private static TableProfile bundled(String name) {
    return new TableProfile(ProfileJson.read("bundled profile " + name, bundledText(name)));
  }

  /**
   * The profile in {@code file}.
   *
   * @throws ProfileFormatException naming the file and the field when it is not a valid profile, or saying why it
   *     cannot be read
   */
  public static TableProfile load(Path file) {
    String text;
    try {
      if (!Files.isRegularFile(file)) {
        throw new ProfileFormatException("profile file " + file + " does not exist or is not a file");
      }
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ProfileFormatException("cannot read profile file " + file + ": " + e.getMessage());
    }
    ProfileDocument doc = ProfileJson.read("profile file " + file, text);
    try {
      return new TableProfile(doc);
    } catch (ProfileFormatException e) {
      throw new ProfileFormatException("profile file " + file + ": " + e.getMessage());
    }
  }
}
