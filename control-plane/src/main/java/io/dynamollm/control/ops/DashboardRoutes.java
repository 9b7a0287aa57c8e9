package io.dynamollm.control.ops;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dynamollm.control.metrics.Telemetry;
import io.dynamollm.protocol.RequestType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * The dashboard a control node serves at {@code /dashboard}: one page (HTML, CSS and JavaScript in the jar's
 * {@code dashboard/} resources) drawing its charts with uPlot, which the jar carries as a WebJar — nothing is fetched
 * from elsewhere at run time. The page polls the admin API (pools, decisions, SLOs, limits) and this node's telemetry
 * history, {@code GET /api/v1/telemetry}; its forms change SLOs and limits through the admin API with the token.
 */
public final class DashboardRoutes extends AllDirectives {
  /** Where the uPlot WebJar keeps its files (the version is the pom's uplot.version). */
  public static final String UPLOT = "META-INF/resources/webjars/uplot/1.6.30/dist/";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Telemetry telemetry;

  public DashboardRoutes(Telemetry telemetry) {
    this.telemetry = telemetry;
  }

  public Route route() {
    return concat(
        pathPrefix("dashboard", () -> concat(
            pathEndOrSingleSlash(() -> get(() -> getFromResource("dashboard/index.html", ContentTypes.TEXT_HTML_UTF8))),
            path("dashboard.js", () -> get(() -> getFromResource("dashboard/dashboard.js"))),
            path("dashboard.css", () -> get(() -> getFromResource("dashboard/dashboard.css"))),
            path("uPlot.min.js", () -> get(() -> getFromResource(UPLOT + "uPlot.iife.min.js"))),
            path("uPlot.min.css", () -> get(() -> getFromResource(UPLOT + "uPlot.min.css"))))),
        path(PathMatchers.segment("api").slash("v1").slash("telemetry"), () -> get(() -> complete(
            HttpResponse.create().withStatus(200).withEntity(ContentTypes.APPLICATION_JSON, history())))));
  }

  /**
   * This node's history, oldest first: {@code {"points": [{"at": ms, "power_w", "energy_j", "served": {type: n},
   * "met": {type: n}, "pools": {pool: {"planned_rps", "observed_rps", "capacity_rps"}}}]}} (counts are cumulative).
   */
  String history() {
    ObjectNode root = JSON.createObjectNode();
    ArrayNode points = root.putArray("points");
    for (Telemetry.Point p : telemetry.history()) {
      ObjectNode o = points.addObject();
      o.put("at", p.atMillis());
      o.put("power_w", Math.round(p.powerW() * 10) / 10.0);
      o.put("energy_j", Math.round(p.energyJ()));
      ObjectNode served = o.putObject("served");
      ObjectNode met = o.putObject("met");
      for (RequestType t : RequestType.values()) {
        served.put(t.name(), p.served().getOrDefault(t, 0L));
        met.put(t.name(), p.met().getOrDefault(t, 0L));
      }
      ObjectNode pools = o.putObject("pools");
      p.pools().forEach((name, l) -> {
        ObjectNode x = pools.putObject(name);
        x.put("planned_rps", Math.round(l.plannedRps() * 1000) / 1000.0);
        x.put("observed_rps", Math.round(l.observedRps() * 1000) / 1000.0);
        x.put("capacity_rps", Math.round(l.capacityRps() * 1000) / 1000.0);
      });
    }
    return root.toString();
  }
}
