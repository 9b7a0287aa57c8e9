package io.dynamollm.control.live;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import io.dynamollm.decision.DecisionSettings;
import java.time.Duration;
import java.util.Objects;

/**
 * The live control plane's settings ({@code dynamollm.live}) and the decisions' ({@code dynamollm.decisions}, the
 * simulator's too), in model time: with {@code speedup} above 1 the simulated engines and every controller's epochs
 * run that many times faster than the wall clock together.
 *
 * @param poolSilence an instance that hears nothing from its pool manager this long returns to the maximum clock
 * @param engineStartup a simulated engine loads its weights this long before it serves (and the planner weighs a new
 *     instance or a TP change by it)
 * @param reportEvery how often routers report arrivals and outcomes
 * @param decisions the decisions' tuning and epochs
 */
public record LiveSettings(double speedup, Duration poolSilence, Duration engineStartup, Duration reportEvery,
    DecisionSettings decisions) {

  public LiveSettings {
    Objects.requireNonNull(decisions, "decisions");
    if (!(speedup >= 1) || Double.isInfinite(speedup)) {
      throw new IllegalArgumentException("dynamollm.live.speedup must be a finite number >= 1, got " + speedup);
    }
    for (Duration d : new Duration[] {poolSilence, reportEvery}) {
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException("dynamollm.live: pool-silence and report-every must be positive, got " + d);
      }
    }
    if (engineStartup.isNegative()) {
      throw new IllegalArgumentException("dynamollm.live.engine-startup must be >= 0, got " + engineStartup);
    }
    if (decisions.poolKeepAliveMs() >= poolSilence.toMillis()) {
      throw new IllegalArgumentException("dynamollm.decisions.pool-keep-alive (" + decisions.poolKeepAliveMs()
          + " ms) must be shorter than dynamollm.live.pool-silence (" + poolSilence.toMillis() + " ms), or every "
          + "instance would fall back to the maximum clock");
    }
  }

  public static LiveSettings fromConfig(Config root) {
    DecisionSettings decisions = DecisionSettings.fromConfig(root);
    try {
      Config c = root.getConfig("dynamollm.live");
      return new LiveSettings(c.getDouble("speedup"), c.getDuration("pool-silence"), c.getDuration("engine-startup"),
          c.getDuration("report-every"), decisions);
    } catch (ConfigException e) {
      throw new IllegalArgumentException("configuration: " + e.getMessage(), e);
    }
  }

  public LiveSettings withSpeedup(double s) {
    return new LiveSettings(s, poolSilence, engineStartup, reportEvery, decisions);
  }
}
