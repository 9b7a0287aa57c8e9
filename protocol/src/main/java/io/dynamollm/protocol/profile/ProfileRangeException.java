package io.dynamollm.protocol.profile;

/**
 * A profile was asked about a point outside what it covers (a batch larger than measured, a prompt longer than the
 * maximum context, a clock outside the modeled range). Profiles never extrapolate silently.
 */
public final class ProfileRangeException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  public ProfileRangeException(String message) {
    super(message);
  }
}
