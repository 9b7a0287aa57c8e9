package io.dynamollm.sim;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;

/**
 * A seeded workload generated from a rate over time and a length model: Poisson arrivals at a rate that may change at
 * any moment (drawn by thinning: candidates at the highest rate, each kept with probability rate(t) / highest), so
 * bursts of a few seconds come out exactly. Deterministic for a seed; iterable more than once.
 */
final class GeneratedWorkload implements Workload {

  /** Request rate (req/s) at a time; {@link #maxRps} bounds it. */
  interface Rate {
    double rps(double tMs);

    double maxRps();
  }

  /** Draws a request's prompt and output lengths at a time. */
  interface Lengths {
    /** {prompt, output} tokens. */
    int[] draw(double tMs, SplittableRandom random);
  }

  private final String name;
  private final double durationMs;
  private final long seed;
  private final Rate rate;
  private final Lengths lengths;

  GeneratedWorkload(String name, double durationMs, long seed, Rate rate, Lengths lengths) {
    if (!(rate.maxRps() > 0) || Double.isInfinite(rate.maxRps())) {
      throw new WorkloadException("a generated workload needs a positive, finite peak rate, got " + rate.maxRps());
    }
    this.name = name;
    this.durationMs = durationMs;
    this.seed = seed;
    this.rate = rate;
    this.lengths = lengths;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public boolean synthetic() {
    return true;
  }

  @Override
  public double durationMs() {
    return durationMs;
  }

  @Override
  public Iterator<TraceRequest> iterator() {
    return new Iterator<>() {
      final SplittableRandom arrivals = new SplittableRandom(seed);
      final SplittableRandom sizes = new SplittableRandom(seed ^ 0x9E3779B97F4A7C15L);
      final double maxPerMs = rate.maxRps() / 1000.0;
      double t;
      long id;
      TraceRequest next = advance();

      private TraceRequest advance() {
        while (true) {
          t += -Math.log(1 - arrivals.nextDouble()) / maxPerMs;
          if (t >= durationMs) {
            return null;
          }
          if (arrivals.nextDouble() * rate.maxRps() < rate.rps(t)) {
            int[] l = lengths.draw(t, sizes);
            return new TraceRequest(id++, t, l[0], l[1]);
          }
        }
      }

      @Override
      public boolean hasNext() {
        return next != null;
      }

      @Override
      public TraceRequest next() {
        if (next == null) {
          throw new NoSuchElementException();
        }
        TraceRequest r = next;
        next = advance();
        return r;
      }
    };
  }

  // ------------------------------------------------------------------ building blocks

  /** A log-normal length around {@code median}, clamped to [min, max]. */
  static int lognormal(SplittableRandom random, double median, double sigma, int min, int max) {
    double z = random.nextGaussian();
    return (int) Math.max(min, Math.min(max, Math.round(median * Math.exp(sigma * z))));
  }

  /**
   * A two-state Markov-modulated rate (on/off bursts): the off state at {@code offRps}, the on state at
   * {@code onRps}; each state lasts an exponential time of its mean. The switching times are drawn once from the seed,
   * so every pass over the workload sees the same bursts.
   */
  static final class OnOff implements Rate {
    private final double offRps;
    private final double onRps;
    private final double[] switches; // times at which the state flips, starting in the off state

    OnOff(double offRps, double onRps, double meanOffMs, double meanOnMs, double durationMs, long seed) {
      this.offRps = offRps;
      this.onRps = onRps;
      SplittableRandom r = new SplittableRandom(seed * 0x2545F4914F6CDD1DL + 17);
      java.util.ArrayList<Double> s = new java.util.ArrayList<>();
      double t = 0;
      boolean on = false;
      while (t < durationMs) {
        t += -Math.log(1 - r.nextDouble()) * (on ? meanOnMs : meanOffMs);
        s.add(t);
        on = !on;
      }
      switches = s.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** Whether the workload is in a burst at {@code tMs}. */
    boolean on(double tMs) {
      int i = java.util.Arrays.binarySearch(switches, tMs);
      int flipsBefore = i >= 0 ? i + 1 : -i - 1;
      return flipsBefore % 2 == 1;
    }

    @Override
    public double rps(double tMs) {
      return on(tMs) ? onRps : offRps;
    }

    @Override
    public double maxRps() {
      return Math.max(onRps, offRps);
    }
  }
}
