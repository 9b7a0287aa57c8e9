package io.dynamollm.protocol;

import java.util.List;
import java.util.Objects;

/**
 * Instance manager → pool manager, every telemetry period (default 1 s), and at once when its state changes.
 *
 * @param instanceId the instance
 * @param pool its pool
 * @param atMillis when measured
 * @param state lifecycle state
 * @param queued requests waiting for prefill
 * @param running requests in the running batch
 * @param tokensPerSecond output tokens generated per second over the last period
 * @param ttftP99Ms windowed p99 time to first token (0 when no request completed in the window)
 * @param tbtP99Ms windowed p99 time between tokens (0 when no request completed in the window)
 * @param powerW sum of the instance's GPUs' power
 * @param energyJ the instance's GPUs' energy counter, summed, since the instance started
 * @param clockMhz the graphics clock applied to its GPUs
 * @param gpus UUIDs of the GPUs the instance holds (empty before it has them)
 * @param ladder how often each rung of the emergency ladder was taken since the instance started
 * @param profileFactors what the instance learned of its engine against the profile: observed over predicted decode
 *     step time and GPU power, per (TP, clock) it ran at (empty until it has observed enough)
 */
public record InstanceTelemetry(
    String instanceId,
    String pool,
    long atMillis,
    InstanceState state,
    int queued,
    int running,
    double tokensPerSecond,
    double ttftP99Ms,
    double tbtP99Ms,
    double powerW,
    double energyJ,
    int clockMhz,
    List<String> gpus,
    Ladder ladder,
    List<ProfileFactor> profileFactors)
    implements CborSerializable {

  /**
   * Observed over predicted, at one (TP, clock): the decode step's time and the GPUs' power while decoding, and the
   * prefill's time (a prompt's time to first token on an engine that held nothing else).
   *
   * @param samples how many decode intervals {@code decodeTime} and {@code power} stand on (0: not observed, both 1)
   * @param prefillSamples how many prefills {@code prefillTime} stands on (0: not observed, 1)
   */
  public record ProfileFactor(int tp, int clockMhz, double decodeTime, double power, long samples, double prefillTime,
      long prefillSamples) implements CborSerializable {

    /** Decode only: the prefill not observed. */
    public ProfileFactor(int tp, int clockMhz, double decodeTime, double power, long samples) {
      this(tp, clockMhz, decodeTime, power, samples, 1, 0);
    }
  }

  /** Without profile factors. */
  public InstanceTelemetry(String instanceId, String pool, long atMillis, InstanceState state, int queued, int running,
      double tokensPerSecond, double ttftP99Ms, double tbtP99Ms, double powerW, double energyJ, int clockMhz,
      List<String> gpus, Ladder ladder) {
    this(instanceId, pool, atMillis, state, queued, running, tokensPerSecond, ttftP99Ms, tbtP99Ms, powerW, energyJ,
        clockMhz, gpus, ladder, List.of());
  }

  /**
   * The emergency ladder's rungs taken: waiting queues reordered by deadline, raises to the maximum clock, requests
   * re-routed before they started, requests rejected past their deadline.
   */
  public record Ladder(long reordered, long maxClockRaises, long rerouted, long rejected) implements CborSerializable {
    public static final Ladder NONE = new Ladder(0, 0, 0, 0);
  }

  public InstanceTelemetry {
    Objects.requireNonNull(instanceId, "instanceId");
    Objects.requireNonNull(pool, "pool");
    Objects.requireNonNull(state, "state");
    gpus = gpus == null ? List.of() : List.copyOf(gpus);
    ladder = ladder == null ? Ladder.NONE : ladder;
    profileFactors = profileFactors == null ? List.of() : List.copyOf(profileFactors);
  }

  /** The same telemetry in another state. */
  public InstanceTelemetry withState(InstanceState s) {
    return new InstanceTelemetry(instanceId, pool, atMillis, s, queued, running, tokensPerSecond, ttftP99Ms, tbtP99Ms,
        powerW, energyJ, clockMhz, gpus, ladder, profileFactors);
  }
}
