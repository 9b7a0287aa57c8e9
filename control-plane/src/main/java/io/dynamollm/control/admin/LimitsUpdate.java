package io.dynamollm.control.admin;

import com.fasterxml.jackson.databind.JsonNode;
import io.dynamollm.control.cluster.ClusterLimits;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.profile.Profile;
import java.util.List;
import java.util.Objects;

/**
 * Validates the body of {@code PUT /api/v1/limits}:
 * {@code {"min_mhz": …, "max_mhz": …, "gpu_budget": …, "power_budget_w": …}}. Pure:
 * the body and the profile in, limits or an error with its HTTP status out.
 *
 * <ul>
 *   <li>a body that is not JSON, or not a JSON object → 400;
 *   <li>{@code min_mhz} or {@code max_mhz} missing, not a whole number, outside the GPU's clock range, in the wrong
 *       order, or a range holding none of the clocks the profile knows → 422 naming the field;
 *   <li>{@code gpu_budget} absent or {@code null} means every GPU of the cluster; otherwise a whole number ≥ 2 (the
 *       smallest instance is TP2), else 422;
 *   <li>{@code power_budget_w} absent or {@code null} means no watt budget; otherwise a number of watts from
 *       {@value #MIN_POWER_W} (one GPU's idle draw: below it nothing can be met) to {@value #MAX_POWER_W} (100 MW, far
 *       beyond any one cluster: a larger number is a typo), else 422.
 * </ul>
 */
public final class LimitsUpdate {
  static final String MIN = "min_mhz";
  static final String MAX = "max_mhz";
  static final String GPUS = "gpu_budget";
  static final String POWER = "power_budget_w";
  static final double MIN_POWER_W = 100;
  static final double MAX_POWER_W = 1e8;
  static final String EXAMPLE = "{\"" + MIN + "\": 1005, \"" + MAX + "\": 1980, \"" + GPUS + "\": 16, \"" + POWER
      + "\": 9000}";

  public sealed interface Result permits Accepted, Rejected {}

  public record Accepted(ClusterLimits limits) implements Result {}

  public record Rejected(int status, String message) implements Result {}

  private final List<Integer> clocks;

  public LimitsUpdate(Profile profile) {
    this.clocks = List.copyOf(Objects.requireNonNull(profile, "profile").clockLevelsMhz());
  }

  public Result validate(String body) {
    var parsed = JsonBodies.object(body, EXAMPLE);
    if (parsed instanceof JsonBodies.Parsed.Bad bad) {
      return new Rejected(400, bad.message());
    }
    JsonNode root = ((JsonBodies.Parsed.Ok) parsed).object();
    // the GPU's range, which the default limits are (GET /limits answers them until a PUT): what GET shows, PUT takes
    int lowest = Math.min(FrequencyBounds.H100_DEFAULT.minMhz(), clocks.stream().min(Integer::compare).orElseThrow());
    int highest = Math.max(FrequencyBounds.H100_DEFAULT.maxMhz(), clocks.stream().max(Integer::compare).orElseThrow());
    Object min = whole(root, MIN, true);
    if (min instanceof Rejected r) {
      return r;
    }
    Object max = whole(root, MAX, true);
    if (max instanceof Rejected r) {
      return r;
    }
    int lo = (Integer) min;
    int hi = (Integer) max;
    for (var f : List.of(new Object[] {MIN, lo}, new Object[] {MAX, hi})) {
      int v = (Integer) f[1];
      if (v < lowest || v > highest) {
        return new Rejected(422, "field '" + f[0] + "' must be within the GPU's clock range " + lowest + "–" + highest
            + " MHz, got " + v);
      }
    }
    if (lo > hi) {
      return new Rejected(422, "field '" + MIN + "' (" + lo + " MHz) must not exceed '" + MAX + "' (" + hi + " MHz)");
    }
    if (clocks.stream().noneMatch(c -> c >= lo && c <= hi)) {
      return new Rejected(422, "no clock the planner knows lies within " + lo + "–" + hi + " MHz: widen the range to"
          + " include one of " + clocks);
    }
    Object gpus = whole(root, GPUS, false);
    if (gpus instanceof Rejected r) {
      return r;
    }
    int budget = gpus == null ? 0 : (Integer) gpus;
    if (gpus != null && budget < 2) {
      return new Rejected(422, "field '" + GPUS + "' must be at least 2 (the smallest instance is TP2), or null for"
          + " every GPU, got " + budget);
    }
    JsonNode w = root.get(POWER);
    double watts = 0;
    if (w != null && !w.isNull()) {
      if (!w.isNumber()) {
        return new Rejected(422, "field '" + POWER + "' must be a number of watts, or null for no watt budget, got "
            + w);
      }
      watts = w.asDouble();
      if (!(watts >= MIN_POWER_W && watts <= MAX_POWER_W)) {
        return new Rejected(422, String.format(java.util.Locale.ROOT, "field '%s' must be within %.0f–%.0f W (one"
            + " GPU's idle draw to 100 MW), or null for no watt budget, got %s", POWER, MIN_POWER_W, MAX_POWER_W, w));
      }
    }
    return new Accepted(new ClusterLimits(new FrequencyBounds(lo, hi), budget, watts));
  }

  /** The field as a whole number, null when optional and absent, or a rejection. */
  private static Object whole(JsonNode root, String name, boolean required) {
    JsonNode n = root.get(name);
    if (n == null || n.isNull()) {
      return required ? new Rejected(422, "missing field '" + name + "' (a whole number)") : null;
    }
    if (!n.isIntegralNumber() && !(n.isNumber() && n.asDouble() == Math.rint(n.asDouble()))) {
      return new Rejected(422, "field '" + name + "' must be a whole number, got " + n);
    }
    if (!n.canConvertToInt()) {
      return new Rejected(422, "field '" + name + "' is out of range: " + n);
    }
    return n.asInt();
  }
}
