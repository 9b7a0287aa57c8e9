package io.dynamollm.control.sim;

import java.util.Iterator;

/** A stream of requests in arrival order; iterable more than once (the oracle looks ahead). */
public interface Workload extends Iterable<TraceRequest> {

  /** What it is, e.g. "Azure LLM inference trace 2023 (conversation), 1 h". */
  String name();

  /** Whether it was generated rather than recorded. */
  boolean synthetic();

  /** Length of the workload, ms. */
  double durationMs();

  /** Requests dropped while reading (with their reasons), reported next to the results. */
  default long skipped() {
    return 0;
  }

  @Override
  Iterator<TraceRequest> iterator();
}
