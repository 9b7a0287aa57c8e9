package io.dynamollm.control.admin;

import com.fasterxml.jackson.databind.JsonNode;
import io.dynamollm.control.cluster.ClusterLimits;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;

/**
 * The body of {@code POST /api/v1/plan/preview}: proposed SLOs and/or limits, each checked exactly as its PUT
 * checks it ({@link SloUpdate}, {@link LimitsUpdate}) —
 * {@code {"slos": {"LS": {"ttft_p99_ms": 500, "tbt_p99_ms": 60}}, "limits": {"min_mhz": 1200, "max_mhz": 1980}}}.
 * Types left out keep their SLOs; limits left out stay as they are; an empty object previews the settings in force.
 */
final class PreviewRequest {
  static final String EXAMPLE = "{\"slos\": {\"LS\": {\"ttft_p99_ms\": 500, \"tbt_p99_ms\": 60}}, \"limits\": {\""
      + LimitsUpdate.MIN + "\": 1200, \"" + LimitsUpdate.MAX + "\": 1980}}";

  /** The proposal, or why it is refused. */
  sealed interface Result permits Proposal, Rejected {}

  record Proposal(Map<RequestType, Slo> slos, Optional<ClusterLimits> limits) implements Result {
    /** The SLOs in force with the proposed ones over them. */
    SloTable over(SloTable current) {
      SloTable t = current;
      for (var e : slos.entrySet()) {
        t = t.with(e.getKey(), e.getValue());
      }
      return t;
    }
  }

  record Rejected(int status, String message) implements Result {}

  private final SloUpdate slos;
  private final LimitsUpdate limits;

  PreviewRequest(SloUpdate slos, LimitsUpdate limits) {
    this.slos = slos;
    this.limits = limits;
  }

  Result validate(String body) {
    if (body == null || body.isBlank()) {
      return new Proposal(Map.of(), Optional.empty()); // no body: the settings in force
    }
    var parsed = JsonBodies.object(body, EXAMPLE);
    if (parsed instanceof JsonBodies.Parsed.Bad bad) {
      return new Rejected(400, bad.message());
    }
    JsonNode root = ((JsonBodies.Parsed.Ok) parsed).object();
    for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!f.equals("slos") && !f.equals("limits")) {
        return new Rejected(422, "unknown field '" + f + "': a preview takes 'slos' and 'limits', e.g. " + EXAMPLE);
      }
    }
    Map<RequestType, Slo> proposed = new EnumMap<>(RequestType.class);
    JsonNode s = root.get("slos");
    if (s != null && !s.isNull()) {
      if (!s.isObject()) {
        return new Rejected(422, "field 'slos' must be an object of request types, e.g. " + EXAMPLE);
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = s.fields(); it.hasNext(); ) {
        var e = it.next();
        SloUpdate.Result r = slos.validate(e.getKey(), e.getValue().toString());
        if (r instanceof SloUpdate.Rejected rej) {
          return new Rejected(rej.status() == 404 ? 422 : rej.status(), "slos." + e.getKey() + ": " + rej.message());
        }
        SloUpdate.Accepted ok = (SloUpdate.Accepted) r;
        proposed.put(ok.type(), ok.slo());
      }
    }
    Optional<ClusterLimits> l = Optional.empty();
    JsonNode lim = root.get("limits");
    if (lim != null && !lim.isNull()) {
      LimitsUpdate.Result r = limits.validate(lim.toString());
      if (r instanceof LimitsUpdate.Rejected rej) {
        return new Rejected(rej.status(), "limits: " + rej.message());
      }
      l = Optional.of(((LimitsUpdate.Accepted) r).limits());
    }
    return new Proposal(proposed, l);
  }
}
