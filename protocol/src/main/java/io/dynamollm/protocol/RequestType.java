package io.dynamollm.protocol;

import java.util.Locale;

/**
 * One of the nine request types: input length class × output length class, input letter first (the paper's SS … LL).
 * Pools are formed per request type.
 */
public enum RequestType {
  SS(SizeClass.S, SizeClass.S),
  SM(SizeClass.S, SizeClass.M),
  SL(SizeClass.S, SizeClass.L),
  MS(SizeClass.M, SizeClass.S),
  MM(SizeClass.M, SizeClass.M),
  ML(SizeClass.M, SizeClass.L),
  LS(SizeClass.L, SizeClass.S),
  LM(SizeClass.L, SizeClass.M),
  LL(SizeClass.L, SizeClass.L);

  private final SizeClass input;
  private final SizeClass output;

  RequestType(SizeClass input, SizeClass output) {
    this.input = input;
    this.output = output;
  }

  /** Class of the prompt length. */
  public SizeClass input() {
    return input;
  }

  /** Class of the (predicted) output length. */
  public SizeClass output() {
    return output;
  }

  /** The type with the given input and output classes. */
  public static RequestType of(SizeClass input, SizeClass output) {
    return values()[input.ordinal() * 3 + output.ordinal()];
  }

  /**
   * Whether this type is at least as large as {@code other} in both input and output class — the rule by which a
   * small type may be merged into a larger type's pool.
   */
  public boolean covers(RequestType other) {
    return input.compareTo(other.input) >= 0 && output.compareTo(other.output) >= 0;
  }

  /**
   * Parses "SS", "ml", … ; the message of the exception lists the valid names, so it can be shown to a user as is.
   */
  public static RequestType parse(String text) {
    if (text != null) {
      String t = text.trim().toUpperCase(Locale.ROOT);
      for (RequestType type : values()) {
        if (type.name().equals(t)) {
          return type;
        }
      }
    }
    throw new IllegalArgumentException(
        "unknown request type '" + text + "': expected one of SS, SM, SL, MS, MM, ML, LS, LM, LL");
  }
}
