package io.dynamollm.sim;

import java.util.Iterator;
import java.util.NoSuchElementException;

/** The requests of a workload within [fromMs, fromMs + lengthMs), re-timed to start at 0. */
final class WindowedWorkload implements Workload {
  private final Workload inner;
  private final double fromMs;
  private final double lengthMs;

  WindowedWorkload(Workload inner, double fromMs, double lengthMs) {
    this.inner = inner;
    this.fromMs = fromMs;
    this.lengthMs = lengthMs;
  }

  @Override
  public String name() {
    return inner.name() + String.format(java.util.Locale.ROOT, " [%.0f-%.0f min]", fromMs / 60_000, (fromMs + lengthMs) / 60_000);
  }

  @Override
  public boolean synthetic() {
    return inner.synthetic();
  }

  @Override
  public double durationMs() {
    return lengthMs;
  }

  @Override
  public Iterator<TraceRequest> iterator() {
    Iterator<TraceRequest> it = inner.iterator();
    return new Iterator<>() {
      TraceRequest next = advance();

      private TraceRequest advance() {
        while (it.hasNext()) {
          TraceRequest r = it.next();
          if (r.arrivalMs() >= fromMs + lengthMs) {
            return null;
          }
          if (r.arrivalMs() >= fromMs) {
            return new TraceRequest(r.id(), r.arrivalMs() - fromMs, r.promptTokens(), r.outputTokens());
          }
        }
        return null;
      }

      @Override
      public boolean hasNext() {
        return next != null;
      }

      @Override
      public TraceRequest next() {
        if (next == null) {
          throw new NoSuchElementException();
        }
        TraceRequest r = next;
        next = advance();
        return r;
      }
    };
  }
}
