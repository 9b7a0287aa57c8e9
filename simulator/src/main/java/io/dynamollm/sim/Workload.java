package io.dynamollm.sim;

import java.util.Iterator;
import java.util.List;

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

  /** Exactly these requests (in arrival order), {@code durationMs} long. */
  static Workload of(String name, List<TraceRequest> requests, double durationMs) {
    List<TraceRequest> copy = List.copyOf(requests);
    return new Workload() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public boolean synthetic() {
        return true;
      }

      @Override
      public double durationMs() {
        return durationMs;
      }

      @Override
      public Iterator<TraceRequest> iterator() {
        return copy.iterator();
      }
    };
  }
}
