package io.dynamollm.protocol;

/** Length class of a prompt or of an output: short, medium or long. */
public enum SizeClass {
  S,
  M,
  L;

  /** The one-letter code used in request-type names (S, M, L). */
  public char letter() {
    return name().charAt(0);
  }
}
