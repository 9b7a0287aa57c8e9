package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.InstanceTelemetry.ProfileFactor;
import io.dynamollm.protocol.TensorParallelism;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToDoubleFunction;
import java.util.function.ToLongFunction;

/**
 * How a running engine compares with its profile, per (TP, clock): observed over predicted decode-step time, GPU
 * power and prefill time ({@link ProfileFactor}). Where a (TP, clock) has not been observed enough, the degree's other
 * clocks stand in (the sample-weighted mean of their factors); where the degree has not been observed at all, 1.
 * Immutable.
 *
 * @param byKey the factors by (TP, clock), each on at least {@code minSamples} observations
 */
public record ProfileFactors(Map<Key, ProfileFactor> byKey) {
  /** A (TP, clock). */
  public record Key(int tp, int clockMhz) implements Comparable<Key> {
    @Override
    public int compareTo(Key o) {
      return tp != o.tp ? Integer.compare(tp, o.tp) : Integer.compare(clockMhz, o.clockMhz);
    }
  }

  public static final ProfileFactors NONE = new ProfileFactors(Map.of());

  public ProfileFactors {
    byKey = Map.copyOf(byKey);
  }

  /**
   * The factors in {@code factors} that stand on at least {@code minSamples} observations: a decode or a prefill
   * factor on fewer is taken as not observed (1, 0 samples); a (TP, clock) with neither is left out.
   */
  public static ProfileFactors of(Collection<ProfileFactor> factors, long minSamples) {
    Map<Key, ProfileFactor> out = new TreeMap<>();
    for (ProfileFactor f : factors) {
      boolean decode = f.samples() >= minSamples && f.samples() > 0;
      boolean prefill = f.prefillSamples() >= minSamples && f.prefillSamples() > 0;
      if (decode || prefill) {
        out.put(new Key(f.tp(), f.clockMhz()), new ProfileFactor(f.tp(), f.clockMhz(), decode ? f.decodeTime() : 1,
            decode ? f.power() : 1, decode ? f.samples() : 0, prefill ? f.prefillTime() : 1,
            prefill ? f.prefillSamples() : 0));
      }
    }
    return new ProfileFactors(out);
  }

  /** Several instances' factors as one: per (TP, clock), each factor's sample-weighted mean. */
  public static ProfileFactors merge(Collection<List<ProfileFactor>> perInstance, long minSamples) {
    Map<Key, double[]> sums = new TreeMap<>();
    for (List<ProfileFactor> list : perInstance) {
      for (ProfileFactor f : list) {
        double[] s = sums.computeIfAbsent(new Key(f.tp(), f.clockMhz()), k -> new double[5]);
        s[0] += f.decodeTime() * f.samples();
        s[1] += f.power() * f.samples();
        s[2] += f.samples();
        s[3] += f.prefillTime() * f.prefillSamples();
        s[4] += f.prefillSamples();
      }
    }
    List<ProfileFactor> out = new ArrayList<>();
    sums.forEach((k, s) -> out.add(new ProfileFactor(k.tp(), k.clockMhz(), ratio(s[0], s[2]), ratio(s[1], s[2]),
        (long) s[2], ratio(s[3], s[4]), (long) s[4])));
    return of(out, minSamples);
  }

  private static double ratio(double weighted, double samples) {
    return samples > 0 ? weighted / samples : 1;
  }

  /** The same factors at every (TP, clock level) of {@code profile}: an engine uniformly slower or faster. */
  public static ProfileFactors uniform(Profile profile, double decodeTime, double power) {
    return uniform(profile, decodeTime, power, 1);
  }

  /** As {@link #uniform(Profile, double, double)}, its prefills {@code prefillTime} times the profile's too. */
  public static ProfileFactors uniform(Profile profile, double decodeTime, double power, double prefillTime) {
    List<ProfileFactor> out = new ArrayList<>();
    for (TensorParallelism tp : profile.tensorParallelisms()) {
      for (int mhz : profile.clockLevelsMhz()) {
        out.add(new ProfileFactor(tp.degree(), mhz, decodeTime, power, 1, prefillTime, 1));
      }
    }
    return of(out, 1);
  }

  public boolean isEmpty() {
    return byKey.isEmpty();
  }

  /** The decode-step time factor at (tp, clock). */
  public double decodeTime(TensorParallelism tp, int clockMhz) {
    return lookup(tp, clockMhz, ProfileFactor::decodeTime, ProfileFactor::samples);
  }

  /** The GPU power factor at (tp, clock). */
  public double power(TensorParallelism tp, int clockMhz) {
    return lookup(tp, clockMhz, ProfileFactor::power, ProfileFactor::samples);
  }

  /** The prefill time factor at (tp, clock). */
  public double prefillTime(TensorParallelism tp, int clockMhz) {
    return lookup(tp, clockMhz, ProfileFactor::prefillTime, ProfileFactor::prefillSamples);
  }

  private double lookup(TensorParallelism tp, int clockMhz, ToDoubleFunction<ProfileFactor> factor,
      ToLongFunction<ProfileFactor> samples) {
    ProfileFactor exact = byKey.get(new Key(tp.degree(), clockMhz));
    if (exact != null && samples.applyAsLong(exact) > 0) {
      return factor.applyAsDouble(exact);
    }
    double sum = 0;
    double n = 0;
    for (ProfileFactor f : byKey.values()) {
      if (f.tp() == tp.degree()) {
        sum += factor.applyAsDouble(f) * samples.applyAsLong(f);
        n += samples.applyAsLong(f);
      }
    }
    return n == 0 ? 1 : sum / n;
  }

  /** Whether any factor differs from {@code other}'s by more than {@code tolerance} (relative). */
  public boolean differsFrom(ProfileFactors other, double tolerance) {
    java.util.Set<Key> keys = new java.util.TreeSet<>(byKey.keySet());
    keys.addAll(other.byKey.keySet());
    for (Key k : keys) {
      TensorParallelism tp = TensorParallelism.of(k.tp());
      if (Math.abs(decodeTime(tp, k.clockMhz()) / other.decodeTime(tp, k.clockMhz()) - 1) > tolerance
          || Math.abs(power(tp, k.clockMhz()) / other.power(tp, k.clockMhz()) - 1) > tolerance
          || Math.abs(prefillTime(tp, k.clockMhz()) / other.prefillTime(tp, k.clockMhz()) - 1) > tolerance) {
        return true;
      }
    }
    return false;
  }

  /** The factors as telemetry carries them. */
  public List<ProfileFactor> list() {
    return List.copyOf(byKey.values());
  }

  @Override
  public String toString() {
    if (byKey.isEmpty()) {
      return "none";
    }
    List<String> parts = new ArrayList<>();
    for (ProfileFactor f : byKey.values()) {
      List<String> seen = new ArrayList<>();
      if (f.samples() > 0) {
        seen.add(String.format(Locale.ROOT, "time x%.3f, power x%.3f (%d)", f.decodeTime(), f.power(), f.samples()));
      }
      if (f.prefillSamples() > 0) {
        seen.add(String.format(Locale.ROOT, "prefill x%.3f (%d)", f.prefillTime(), f.prefillSamples()));
      }
      parts.add("TP" + f.tp() + "@" + f.clockMhz() + ": " + String.join(", ", seen));
    }
    return String.join("; ", parts);
  }
}
