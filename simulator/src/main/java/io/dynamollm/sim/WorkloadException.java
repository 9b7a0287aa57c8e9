package io.dynamollm.sim;

/** A workload file or setting is wrong; the message names the file and line and says what is wrong. */
public final class WorkloadException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  public WorkloadException(String message) {
    super(message);
  }
}
