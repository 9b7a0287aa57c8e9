package io.dynamollm.control.ops;

import io.dynamollm.control.metrics.NodeMetrics;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.management.javadsl.PekkoManagement;

/**
 * The ops endpoint every node serves ({@code dynamollm.node.ops}): {@code GET /metrics} in the Prometheus text
 * format, and Pekko Management's routes — {@code /ready}, {@code /alive}, {@code /startup} (health checks) and the
 * read-only cluster endpoints ({@code /cluster/members}, …). Control nodes serve {@code /metrics} on the admin API's
 * port too.
 */
public final class OpsEndpoint extends AllDirectives {
  private static final ContentType METRICS_TYPE = ContentTypes.TEXT_PLAIN_UTF8; // the text format, 0.0.4

  private final NodeMetrics metrics;

  public OpsEndpoint(NodeMetrics metrics) {
    this.metrics = metrics;
  }

  /** {@code GET /metrics}. */
  public Route metricsRoute() {
    return path("metrics", () -> get(() -> complete(HttpResponse.create().withStatus(200)
        .withEntity(HttpEntities.create(METRICS_TYPE, metrics.scrape())))));
  }

  /** The whole ops endpoint: metrics, health checks and cluster management. */
  public Route route(org.apache.pekko.actor.ActorSystem system) {
    return concat(metricsRoute(), PekkoManagement.get(system).getRoutes());
  }
}
