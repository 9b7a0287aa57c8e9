package io.dynamollm.decision.cluster;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.profile.TypeShape;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * Learns each request type's lengths — mean and p99 of prompt and output — from the requests that completed, with the
 * profile's bundled lengths as a prior that fades as requests are seen. Requests count by the type they were routed
 * as: a pool sees its predicted type's requests, mispredicted ones included, and it is those lengths its instances
 * serve. Old requests fade with a half-life, so a service whose requests change is followed. The shapes handed out
 * change only when one of their four numbers moved by more than {@code publishChange}: plans are made of stable mixes
 * (and the profile's answers are remembered per mix).
 *
 * <p>Pure: the caller passes each completion and the time.
 */
public final class ShapeLearner {

  /**
   * @param priorRequests how many requests the bundled lengths weigh as (the observed ones take over beyond)
   * @param halfLifeMs a request's weight halves after this long
   * @param publishChange a shape is handed out anew only when a number moved by more than this share
   */
  public record Settings(double priorRequests, long halfLifeMs, double publishChange) {
    public Settings {
      if (!(priorRequests >= 0) || Double.isInfinite(priorRequests)) {
        throw new IllegalArgumentException("prior-requests must be a finite number >= 0, got " + priorRequests);
      }
      if (halfLifeMs < 1000) {
        throw new IllegalArgumentException("half-life must be at least 1 s, got " + halfLifeMs + " ms");
      }
      if (!(publishChange >= 0 && publishChange < 1)) {
        throw new IllegalArgumentException("publish-change must be within [0, 1), got " + publishChange);
      }
    }
  }

  /** Lengths binned on a log scale: 8 bins an octave from 1 to 16,384 tokens. */
  static final class Histogram {
    static final int PER_OCTAVE = 8;
    static final int BINS = 14 * PER_OCTAVE + 1;
    final double[] weight = new double[BINS];
    double total;
    double sum;

    static int bin(int tokens) {
      double octaves = Math.log(Math.max(1, tokens)) / Math.log(2);
      return (int) Math.min(BINS - 1, Math.floor(octaves * PER_OCTAVE));
    }

    void add(int tokens, double w) {
      weight[bin(tokens)] += w;
      total += w;
      sum += w * tokens;
    }

    void scale(double f) {
      for (int i = 0; i < BINS; i++) {
        weight[i] *= f;
      }
      total *= f;
      sum *= f;
    }

    double mean() {
      return total > 0 ? sum / total : Double.NaN;
    }

    /** The q-quantile, interpolated geometrically within its bin. */
    double quantile(double q) {
      double target = q * total;
      double acc = 0;
      for (int i = 0; i < BINS; i++) {
        if (acc + weight[i] >= target && weight[i] > 0) {
          double within = (target - acc) / weight[i];
          return Math.pow(2, (i + within) / PER_OCTAVE);
        }
        acc += weight[i];
      }
      return Math.pow(2, (double) BINS / PER_OCTAVE);
    }
  }

  private final class Learned {
    final Histogram input = new Histogram();
    final Histogram output = new Histogram();
    double lastMs = Double.NaN;
    TypeShape published;

    void decayTo(double nowMs) {
      if (!Double.isNaN(lastMs) && nowMs > lastMs) {
        double f = Math.pow(0.5, (nowMs - lastMs) / settings.halfLifeMs());
        input.scale(f);
        output.scale(f);
      }
      lastMs = Double.isNaN(lastMs) ? nowMs : Math.max(lastMs, nowMs);
    }
  }

  private final Settings settings;
  private final Function<RequestType, TypeShape> prior;
  private final Map<RequestType, Learned> learned = new EnumMap<>(RequestType.class);

  /** @param prior the bundled lengths of each type (the profile's) */
  public ShapeLearner(Settings settings, Function<RequestType, TypeShape> prior) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.prior = Objects.requireNonNull(prior, "prior");
    for (RequestType t : RequestType.values()) {
      Learned l = new Learned();
      l.published = prior.apply(t);
      learned.put(t, l);
    }
  }

  /** A request routed as {@code type} completed with these lengths. */
  public void observe(RequestType type, int promptTokens, int outputTokens, double nowMs) {
    Learned l = learned.get(type);
    l.decayTo(nowMs);
    l.input.add(Math.max(1, promptTokens), 1);
    l.output.add(Math.max(1, outputTokens), 1);
  }

  /** The shapes to plan with now (changed only where they moved by more than the publish threshold). */
  public Map<RequestType, TypeShape> shapes(double nowMs) {
    Map<RequestType, TypeShape> out = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      Learned l = learned.get(t);
      l.decayTo(nowMs);
      TypeShape now = blend(prior.apply(t), l);
      if (moved(l.published, now)) {
        l.published = now;
      }
      out.put(t, l.published);
    }
    return out;
  }

  /** How many requests (decayed) the shape of {@code type} has seen. */
  public double observed(RequestType type, double nowMs) {
    Learned l = learned.get(type);
    l.decayTo(nowMs);
    return l.input.total;
  }

  private TypeShape blend(TypeShape p, Learned l) {
    double n = l.input.total;
    if (n <= 0) {
      return p;
    }
    double w0 = settings.priorRequests();
    double meanIn = (w0 * p.meanInputTokens() + n * l.input.mean()) / (w0 + n);
    double p99In = (w0 * p.p99InputTokens() + n * l.input.quantile(0.99)) / (w0 + n);
    double meanOut = (w0 * p.meanOutputTokens() + n * l.output.mean()) / (w0 + n);
    double p99Out = (w0 * p.p99OutputTokens() + n * l.output.quantile(0.99)) / (w0 + n);
    int mi = (int) Math.max(1, Math.round(meanIn));
    int mo = (int) Math.max(1, Math.round(meanOut));
    return new TypeShape(mi, (int) Math.max(mi, Math.round(p99In)), mo, (int) Math.max(mo, Math.round(p99Out)));
  }

  private boolean moved(TypeShape a, TypeShape b) {
    return far(a.meanInputTokens(), b.meanInputTokens()) || far(a.p99InputTokens(), b.p99InputTokens())
        || far(a.meanOutputTokens(), b.meanOutputTokens()) || far(a.p99OutputTokens(), b.p99OutputTokens());
  }

  private boolean far(int a, int b) {
    return Math.abs(a - b) > settings.publishChange() * Math.max(a, b) && Math.abs(a - b) > 1;
  }

  @Override
  public String toString() {
    StringBuilder s = new StringBuilder();
    learned.forEach((t, l) -> s.append(String.format(Locale.ROOT, "%s %s; ", t, l.published)));
    return s.toString();
  }
}
