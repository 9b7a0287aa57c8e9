package io.dynamollm.protocol.profile;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/** The profiles this build knows, by the name used in configuration ({@code dynamollm.profile.name}). */
public final class Profiles {
  private static final Map<String, Supplier<Profile>> KNOWN = Map.of("llama2-70b-dgx-h100", Llama2H100Profile::new);

  private Profiles() {}

  /** Names accepted by {@link #named}. */
  public static List<String> names() {
    return KNOWN.keySet().stream().sorted().toList();
  }

  /**
   * The profile called {@code name}.
   *
   * @throws IllegalArgumentException listing the known names when there is none by that name
   */
  public static Profile named(String name) {
    Supplier<Profile> p = KNOWN.get(name == null ? "" : name.trim().toLowerCase(Locale.ROOT));
    if (p == null) {
      throw new IllegalArgumentException("unknown profile '" + name + "': known profiles are " + String.join(", ", names()));
    }
    return p.get();
  }
}
