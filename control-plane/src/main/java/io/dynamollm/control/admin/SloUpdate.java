package io.dynamollm.control.admin;

import com.fasterxml.jackson.databind.JsonNode;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.LoadPoint;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.ProfileRangeException;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * Validates the body of {@code PUT /api/v1/slos/{type}}: {@code {"ttft_p99_ms": …, "tbt_p99_ms": …}}. Pure: the body
 * and the profile in, an SLO or an error with its HTTP status out.
 *
 * <ul>
 *   <li>unknown type → 404;
 *   <li>a body that is not JSON, or not a JSON object → 400;
 *   <li>a missing field, a value that is not a number, not positive or not finite → 422 naming the field;
 *   <li>a target no configuration of the profile reaches even when lightly loaded → 422 saying what is reachable.
 * </ul>
 */
public final class SloUpdate {
  static final String TTFT = "ttft_p99_ms";
  static final String TBT = "tbt_p99_ms";
  /** The load at which "reachable" is judged: light enough that queueing plays no part. */
  static final double PROBE_RPS = 0.01;

  /** The outcome: an accepted SLO, or a rejection. */
  public sealed interface Result permits Accepted, Rejected {}

  /** The body is valid for {@code type}. */
  public record Accepted(RequestType type, Slo slo) implements Result {}

  /** The body is rejected with {@code status} and a message for a person. */
  public record Rejected(int status, String message) implements Result, Field {}

  private final Profile profile;

  public SloUpdate(Profile profile) {
    this.profile = Objects.requireNonNull(profile, "profile");
  }

  /** Parses the path's type name (as in {@code SS}, case-insensitive). */
  public static Optional<RequestType> type(String name) {
    for (RequestType t : RequestType.values()) {
      if (t.name().equalsIgnoreCase(name)) {
        return Optional.of(t);
      }
    }
    return Optional.empty();
  }

  public Result validate(String typeName, String body) {
    Optional<RequestType> type = type(typeName);
    if (type.isEmpty()) {
      return new Rejected(404, "unknown request type '" + typeName + "': expected one of SS, SM, SL, MS, MM, ML, LS, LM, LL");
    }
    var parsed = JsonBodies.object(body, "{\"" + TTFT + "\": 500, \"" + TBT + "\": 50}");
    if (parsed instanceof JsonBodies.Parsed.Bad bad) {
      return new Rejected(400, bad.message());
    }
    JsonNode root = ((JsonBodies.Parsed.Ok) parsed).object();
    var ttft = field(root, TTFT);
    if (ttft instanceof Rejected r) {
      return r;
    }
    var tbt = field(root, TBT);
    if (tbt instanceof Rejected r) {
      return r;
    }
    Slo slo = new Slo(((Value) ttft).v(), ((Value) tbt).v());
    return reachable(type.get(), slo);
  }

  /** The longest objective taken: one hour (a larger one is a unit mistake, not an SLO). */
  static final double MAX_MS = 3_600_000;

  sealed interface Field permits Value, Rejected {}

  record Value(double v) implements Field {}

  private static Field field(JsonNode root, String name) {
    JsonNode n = root.get(name);
    if (n == null || n.isNull()) {
      return new Rejected(422, "missing field '" + name + "' (milliseconds, a positive number)");
    }
    if (!n.isNumber()) {
      return new Rejected(422, "field '" + name + "' must be a number of milliseconds, got " + n);
    }
    double v = n.asDouble();
    if (!Double.isFinite(v) || v <= 0) {
      return new Rejected(422, "field '" + name + "' must be a positive, finite number of milliseconds, got " + n);
    }
    if (v > MAX_MS) {
      return new Rejected(422, "field '" + name + "' must be at most one hour (" + (long) MAX_MS
          + " ms), got " + n);
    }
    return new Value(v);
  }

  /** Rejects a target below the best the profile reaches for {@code type} at a light load. */
  private Result reachable(RequestType type, Slo slo) {
    double bestTtft = Double.POSITIVE_INFINITY;
    double bestTbt = Double.POSITIVE_INFINITY;
    String bestTtftAt = "";
    String bestTbtAt = "";
    boolean both = false;
    for (TensorParallelism tp : profile.tensorParallelisms()) {
      for (int mhz : profile.clockLevelsMhz()) {
        LoadPoint p;
        try {
          p = profile.estimate(type, tp, mhz, PROBE_RPS);
        } catch (ProfileRangeException e) {
          continue;
        }
        if (!p.stable()) {
          continue;
        }
        if (p.ttftP99Ms() < bestTtft) {
          bestTtft = p.ttftP99Ms();
          bestTtftAt = tp + " at " + mhz + " MHz";
        }
        if (p.tbtP99Ms() < bestTbt) {
          bestTbt = p.tbtP99Ms();
          bestTbtAt = tp + " at " + mhz + " MHz";
        }
        both |= slo.isMetBy(p.ttftP99Ms(), p.tbtP99Ms());
      }
    }
    if (slo.ttftP99Ms() < bestTtft) {
      return new Rejected(422, String.format(Locale.ROOT,
          "%s %.1f ms is below what any configuration reaches for %s: the best is %.1f ms (%s, lightly loaded)", TTFT,
          slo.ttftP99Ms(), type, bestTtft, bestTtftAt));
    }
    if (slo.tbtP99Ms() < bestTbt) {
      return new Rejected(422, String.format(Locale.ROOT,
          "%s %.1f ms is below what any configuration reaches for %s: the best is %.1f ms (%s, lightly loaded)", TBT,
          slo.tbtP99Ms(), type, bestTbt, bestTbtAt));
    }
    if (!both) {
      return new Rejected(422, String.format(Locale.ROOT,
          "no configuration reaches both %s %.1f ms and %s %.1f ms for %s, even lightly loaded", TTFT, slo.ttftP99Ms(),
          TBT, slo.tbtP99Ms(), type));
    }
    return new Accepted(type, slo);
  }
}
