package io.dynamollm.control.http;

import com.typesafe.config.ConfigFactory;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.event.LoggingAdapter;
import org.apache.pekko.http.ParsingErrorHandler;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.settings.ServerSettings;
import org.apache.pekko.http.scaladsl.model.ErrorInfo;
import org.apache.pekko.http.scaladsl.model.StatusCode;

/**
 * Answers the requests Pekko HTTP refuses before any route sees them — a URI too long (414), headers too large (431),
 * an unknown method (501), a malformed request line (400) — with a JSON body in the server's own error format instead
 * of Pekko's plain text. Each server binds with {@link #serverSettings} naming its subclass (Pekko instantiates it by
 * name: a public class with a public no-argument constructor).
 */
public abstract class JsonParsingErrors extends ParsingErrorHandler {

  /** The server's error body for {@code status} and {@code message}. */
  protected abstract byte[] json(int status, String message);

  @Override
  public HttpResponse handle(StatusCode status, ErrorInfo error, LoggingAdapter log,
      org.apache.pekko.http.scaladsl.settings.ServerSettings settings) {
    String message = error.detail().isEmpty() ? error.summary() : error.summary() + ": " + error.detail();
    log.debug("HTTP request refused before routing ({}): {}", status.intValue(), message);
    return HttpResponse.create().withStatus(status.intValue())
        .withEntity(ContentTypes.APPLICATION_JSON, json(status.intValue(), message));
  }

  /**
   * The settings dynamollm's servers bind with: the system's, with {@code handler} answering parse errors and HEAD
   * answered as GET without the body (Pekko's default leaves HEAD to the routes, which know only GET and PUT).
   */
  public static ServerSettings serverSettings(ActorSystem<?> system, Class<? extends JsonParsingErrors> handler) {
    return ServerSettings.create(ConfigFactory.parseString("pekko.http.server.parsing.error-handler = \""
        + handler.getName() + "\"\npekko.http.server.transparent-head-requests = on")
        .withFallback(system.settings().config()));
  }
}
