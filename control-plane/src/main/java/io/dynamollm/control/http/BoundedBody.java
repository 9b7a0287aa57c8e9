package io.dynamollm.control.http;

import java.time.Duration;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.http.javadsl.model.HttpEntity;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.apache.pekko.stream.Materializer;

/**
 * Reads a request body whole, within a size and a time limit, for the admin API and the front door alike: a body
 * over the size (streamed past it, or declared larger by its {@code Content-Length}) and one that does not arrive in
 * time (a {@code Content-Length} larger than the body sent) are outcomes of their own, which each server answers in
 * its own error format (413, 408) instead of Pekko HTTP's plain-text defaults or a 60-s hang.
 */
public final class BoundedBody {
  /** What reading the body came to. */
  public sealed interface Outcome permits Read, TooLarge, TimedOut, Unreadable {}

  /** The body, as UTF-8 text. */
  public record Read(String text) implements Outcome {}

  /** Larger than {@code maxBytes}. */
  public record TooLarge(long maxBytes) implements Outcome {}

  /** Not all there within {@code timeout}. */
  public record TimedOut(Duration timeout) implements Outcome {}

  /** The stream failed otherwise (the client went away, a broken chunked encoding). */
  public record Unreadable(String why) implements Outcome {}

  /** How long a body may take to arrive, on every server of the node. */
  public static final Duration TIMEOUT = Duration.ofSeconds(10);

  private BoundedBody() {}

  public static CompletionStage<Outcome> read(HttpEntity entity, long maxBytes, Duration timeout,
      Materializer materializer) {
    return entity.toStrict(timeout.toMillis(), maxBytes, materializer).handle((strict, failure) -> {
      if (failure == null) {
        return new Read(strict.getData().utf8String());
      }
      Throwable e = failure;
      while (e.getCause() != null && !tooLarge(e)) {
        e = e.getCause();
      }
      if (tooLarge(e)) {
        return new TooLarge(maxBytes);
      }
      if (e instanceof java.util.concurrent.TimeoutException) {
        return new TimedOut(timeout);
      }
      return new Unreadable(String.valueOf(e.getMessage()));
    });
  }

  /** A body over the limit: streamed past it, or declared larger by its Content-Length. */
  private static boolean tooLarge(Throwable e) {
    return e instanceof EntityStreamSizeException
        || e instanceof org.apache.pekko.http.scaladsl.model.EntityStreamException ese
            && ese.info().summary().startsWith("Request too large");
  }
}
