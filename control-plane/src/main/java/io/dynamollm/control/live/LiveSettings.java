package io.dynamollm.control.live;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import java.time.Duration;

/**
 * Time scales of the live control plane ({@code dynamollm.live}), in model time: with {@code speedup} above 1 the
 * simulated engines and every controller's epochs run that many times faster than the wall clock together.
 */
public record LiveSettings(double speedup, Duration clusterEpoch, Duration poolEpoch, Duration instanceEpoch,
    Duration poolSilence, Duration keepAlive, Duration engineStartup, Duration warmup, Duration reportEvery) {

  public LiveSettings {
    if (!(speedup >= 1) || Double.isInfinite(speedup)) {
      throw new IllegalArgumentException("dynamollm.live.speedup must be a finite number >= 1, got " + speedup);
    }
    for (Duration d : new Duration[] {clusterEpoch, poolEpoch, instanceEpoch, poolSilence, keepAlive, reportEvery}) {
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException("dynamollm.live: every epoch and interval must be positive, got " + d);
      }
    }
    if (keepAlive.compareTo(poolSilence) >= 0) {
      throw new IllegalArgumentException("dynamollm.live.keep-alive (" + keepAlive + ") must be shorter than "
          + "pool-silence (" + poolSilence + "), or every instance would fall back to the maximum clock");
    }
  }

  public static LiveSettings fromConfig(Config root) {
    try {
      Config c = root.getConfig("dynamollm.live");
      return new LiveSettings(c.getDouble("speedup"), c.getDuration("cluster-epoch"), c.getDuration("pool-epoch"),
          c.getDuration("instance-epoch"), c.getDuration("pool-silence"), c.getDuration("keep-alive"),
          c.getDuration("engine-startup"), c.getDuration("warmup"), c.getDuration("report-every"));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("configuration: " + e.getMessage(), e);
    }
  }

  public LiveSettings withSpeedup(double s) {
    return new LiveSettings(s, clusterEpoch, poolEpoch, instanceEpoch, poolSilence, keepAlive, engineStartup, warmup,
        reportEvery);
  }
}
