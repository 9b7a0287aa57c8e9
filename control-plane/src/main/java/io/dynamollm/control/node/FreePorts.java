package io.dynamollm.control.node;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

/**
 * Checks, before a node starts anything, that the ports it will listen on are free, so that a second node started
 * on the same ports (a common mistake on one machine) is told which port and which setting, in one line, instead of
 * failing inside the actor system's transport with a stack trace. A port taken between the check and the bind still
 * fails the start, with the transport's own message.
 */
final class FreePorts {
  private FreePorts() {}

  /**
   * Throws an {@link IllegalArgumentException} naming {@code what} (the port's role and how to choose another) when
   * {@code host:port} cannot be bound; port 0 (any free port) always can.
   */
  static void require(String host, int port, String what) {
    if (port == 0) {
      return;
    }
    try (ServerSocket s = new ServerSocket()) {
      s.setReuseAddress(true); // a port in TIME_WAIT after a node stopped is free to the transports too
      s.bind(new InetSocketAddress(host, port));
    } catch (IOException e) {
      throw new IllegalArgumentException(host + ":" + port + " (" + what + ") cannot be listened on: "
          + e.getMessage() + "; is another node running with the same ports? Give this one other ports");
    }
  }
}
