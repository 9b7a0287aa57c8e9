package io.dynamollm.decision;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import io.dynamollm.decision.cluster.LoadForecaster;
import io.dynamollm.decision.cluster.PoolBudgeter;
import io.dynamollm.decision.cluster.ShapeLearner;
import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.decision.pool.CapacityCorrection;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.SparePolicy;
import io.dynamollm.decision.routing.RoutingPolicy;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * Every tuning constant of the decisions, read once from HOCON ({@code dynamollm.decisions}, whose defaults and
 * explanations are in this module's {@code reference.conf}). The live node and the simulator both build their steps
 * from one of these, so a tuning change reaches both.
 *
 * @param clusterEpochMs how often the cluster budgets pools
 * @param poolEpochMs how often each pool plans
 * @param instanceEpochMs how often each instance's governor runs
 * @param poolKeepAliveMs how often each pool re-sends its instances' bounds and SLO, publishes its routes and reports
 *     its telemetry to the cluster
 * @param rebudgetDelayMs an operator or host change is budgeted within this delay; later changes do not postpone it
 * @param ladderIntervalMs how often each instance climbs the emergency ladder
 * @param spares how long pools keep instances their plans no longer need as warm spares
 * @param power how the operator's watt budget is held: the degradation order and the power governor's pace
 */
public record DecisionSettings(
    long clusterEpochMs,
    long poolEpochMs,
    long instanceEpochMs,
    long poolKeepAliveMs,
    long rebudgetDelayMs,
    LoadForecaster.Settings forecaster,
    ShapeLearner.Settings shapes,
    PoolBudgeter.Settings budgeter,
    PoolPlanner.Settings planner,
    CapacityCorrection.Settings correction,
    FrequencyGovernor.Settings governor,
    long ladderIntervalMs,
    RoutingPolicy.Settings routing,
    SparePolicy spares,
    io.dynamollm.decision.cluster.PowerCap.Settings power) {

  /** The section of the configuration this record is read from. */
  public static final String PATH = "dynamollm.decisions";

  public DecisionSettings {
    Objects.requireNonNull(forecaster, "forecaster");
    Objects.requireNonNull(shapes, "shapes");
    Objects.requireNonNull(budgeter, "budgeter");
    Objects.requireNonNull(planner, "planner");
    Objects.requireNonNull(correction, "correction");
    Objects.requireNonNull(governor, "governor");
    Objects.requireNonNull(routing, "routing");
    Objects.requireNonNull(spares, "spares");
    Objects.requireNonNull(power, "power");
    positive(clusterEpochMs, "cluster-epoch");
    positive(poolEpochMs, "pool-epoch");
    positive(instanceEpochMs, "instance-epoch");
    positive(poolKeepAliveMs, "pool-keep-alive");
    positive(ladderIntervalMs, "ladder.interval");
    if (rebudgetDelayMs < 0) {
      throw new IllegalArgumentException(PATH + ".rebudget-delay must be >= 0, got " + rebudgetDelayMs + " ms");
    }
    if (poolEpochMs > clusterEpochMs) {
      throw new IllegalArgumentException(PATH + ".pool-epoch (" + poolEpochMs + " ms) must not be longer than "
          + "cluster-epoch (" + clusterEpochMs + " ms)");
    }
  }

  /** The defaults: this module's reference.conf. */
  public static DecisionSettings defaults() {
    return fromConfig(ConfigFactory.defaultReference(DecisionSettings.class.getClassLoader()));
  }

  /**
   * Reads {@value #PATH} from a resolved configuration.
   *
   * @throws IllegalArgumentException naming the key when a value is missing, mistyped or out of range
   */
  public static DecisionSettings fromConfig(Config root) {
    Config c = section(root, PATH, Function.identity());
    return new DecisionSettings(
        ms(c, "cluster-epoch"),
        ms(c, "pool-epoch"),
        ms(c, "instance-epoch"),
        ms(c, "pool-keep-alive"),
        ms(c, "rebudget-delay"),
        section(c, "forecaster", f -> new LoadForecaster.Settings(ms(f, "bucket"), f.getInt("smoothing-buckets"),
            ms(f, "recent-window"), ms(f, "min-history"), ms(f, "trend-window"), ms(f, "short-bucket"),
            ms(f, "burst-window"), f.getDouble("burst-quantile"), f.getDouble("headroom"))),
        section(c, "shapes", l -> new ShapeLearner.Settings(l.getDouble("prior-requests"), ms(l, "half-life"),
            l.getDouble("publish-change"))),
        section(c, "budgeter", b -> new PoolBudgeter.Settings(b.getDouble("fill-share"), b.getDouble("headroom"),
            b.getDouble("layout-hysteresis"), b.getDouble("bootstrap-share"), b.getDouble("handover-slack"))),
        section(c, "planner", p -> new PoolPlanner.Settings(ms(p, "time-limit"), p.getInt("max-groups"),
            doubles(p.getDoubleList("load-levels")), p.getDouble("slo-margin"), p.getDouble("switch-threshold"),
            p.getDouble("min-relative-saving"), p.getDouble("max-offline-share"), p.getDouble("miss-budget"))),
        section(c, "correction", k -> new CapacityCorrection.Settings(k.getLong("min-requests"),
            k.getDouble("miss-threshold"), k.getDouble("gain"), k.getDouble("max-step"), k.getDouble("max"),
            k.getDouble("relax-below"), k.getDouble("relax"))),
        section(c, "governor", g -> new FrequencyGovernor.Settings(g.getDouble("profile-margin"), g.getDouble("miss-budget"),
            g.getDouble("guard-enter"), g.getDouble("guard-exit"), g.getDouble("guard-step"),
            g.getInt("min-completions"), ms(g, "window"), ms(g, "min-change-interval"), g.getInt("step-down-after"))),
        section(c, "ladder", l -> ms(l, "interval")),
        section(c, "routing", r -> new RoutingPolicy.Settings(r.getDouble("overflow-score"),
            r.getDouble("overflow-ratio"), ms(r, "hold-timeout"), r.getInt("max-held"),
            r.getInt("max-outstanding"))),
        section(c, "spares", s -> s.getString("keep").trim().equals(SparePolicy.BREAK_EVEN)
            ? new SparePolicy(true, 0) : new SparePolicy(false, ms(s, "keep"))),
        section(c, "power", w -> new io.dynamollm.decision.cluster.PowerCap.Settings(w.getStringList("degrade-order")
            .stream().map(DecisionSettings::requestType).toList(), w.getDouble("tolerance"),
            w.getDouble("relax-below"), ms(w, "act-every"))));
  }

  /** With other epochs (tests and demos compress time). */
  public DecisionSettings withEpochs(long clusterMs, long poolMs, long instanceMs) {
    return new DecisionSettings(clusterMs, poolMs, instanceMs, poolKeepAliveMs, rebudgetDelayMs, forecaster, shapes,
        budgeter, planner, correction, governor, ladderIntervalMs, routing, spares, power);
  }

  /** With another planner tuning. */
  public DecisionSettings withPlanner(PoolPlanner.Settings p) {
    return new DecisionSettings(clusterEpochMs, poolEpochMs, instanceEpochMs, poolKeepAliveMs, rebudgetDelayMs,
        forecaster, shapes, budgeter, p, correction, governor, ladderIntervalMs, routing, spares, power);
  }

  private static io.dynamollm.protocol.RequestType requestType(String name) {
    try {
      return io.dynamollm.protocol.RequestType.valueOf(name.trim().toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("degrade-order: '" + name + "' is no request type (one of "
          + java.util.Arrays.toString(io.dynamollm.protocol.RequestType.values()) + ")");
    }
  }

  /**
   * Reads the sub-section {@code name} of {@code c} with {@code read}; any problem becomes one message naming the
   * full key ({@code dynamollm.decisions.governor: …}).
   */
  private static <T> T section(Config c, String name, Function<Config, T> read) {
    String path = name.equals(PATH) ? PATH : PATH + "." + name;
    try {
      return read.apply(name.equals(PATH) ? c.getConfig(PATH) : c.getConfig(name));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("configuration: " + path + ": " + e.getMessage(), e);
    } catch (IllegalArgumentException e) {
      if (e.getMessage() != null && e.getMessage().startsWith("configuration: ")) {
        throw e;
      }
      throw new IllegalArgumentException("configuration: " + path + ": " + e.getMessage(), e);
    }
  }

  private static long ms(Config c, String key) {
    return c.getDuration(key).toMillis();
  }

  private static double[] doubles(List<Double> values) {
    return values.stream().mapToDouble(Double::doubleValue).toArray();
  }

  private static void positive(long ms, String key) {
    if (ms <= 0) {
      throw new IllegalArgumentException(PATH + "." + key + " must be positive, got " + ms + " ms");
    }
  }
}
