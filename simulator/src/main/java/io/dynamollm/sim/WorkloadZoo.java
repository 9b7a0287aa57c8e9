package io.dynamollm.sim;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The workload zoo: seeded generators, each standing for a kind of service whose traces this repository does not
 * have, so that a policy is judged on request shapes and arrival patterns it was never tuned on. Every one is
 * labelled synthetic wherever it is shown; docs/simulator.md gives each one's parameters and what it stands for.
 *
 * <table>
 *   <tr><th>name</th><th>stands for</th><th>arrivals</th><th>prompt / output (median)</th></tr>
 *   <tr><td>conversation</td><td>a chat service over a week</td><td>diurnal, weekends lower</td><td>1020 / 129</td></tr>
 *   <tr><td>coding</td><td>a code-completion service over a week</td><td>diurnal, peaky</td><td>1500 / 13</td></tr>
 *   <tr><td>bursty</td><td>a chat API with lock-step clients</td><td>on/off bursts, 10 s peaks 12x the mean</td>
 *       <td>1020 / 129</td></tr>
 *   <tr><td>coding-bursty</td><td>an IDE / agent coding service</td><td>bursts of 6x with longer prompts</td>
 *       <td>2000 (3200 in bursts) / 15</td></tr>
 *   <tr><td>long-context</td><td>document Q&amp;A and summarisation</td><td>Poisson, +-30 % over 20 min</td>
 *       <td>3500 / 350</td></tr>
 *   <tr><td>shifting-mix</td><td>a multi-tenant endpoint</td><td>chat, then bulk summaries, then generation</td>
 *       <td>per phase</td></tr>
 * </table>
 */
public final class WorkloadZoo {
  /** The largest prompt plus output the bundled engines accept (longer requests are rejected, and counted). */
  static final int MAX_CONTEXT = 8192;
  private static final double HOUR_MS = 3_600_000.0;

  /**
   * One kind of workload.
   *
   * @param name what {@code --workload} calls it
   * @param standsFor the real service it stands for, in a line
   * @param defaultDays its length unless {@code --days} says otherwise
   * @param defaultAverageRps its mean request rate unless {@code --average-rps} says otherwise
   */
  public record Entry(String name, String standsFor, double defaultDays, double defaultAverageRps) {}

  private interface Factory {
    Workload create(double durationMs, double averageRps, long seed);
  }

  private static final Map<String, Entry> ENTRIES = new LinkedHashMap<>();
  private static final Map<String, Factory> FACTORIES = new LinkedHashMap<>();

  static {
    add(new Entry("conversation", "a chat service over a week (diurnal, peak 1.7x average, weekends 0.75x)", 7, 5.5),
        (d, rps, seed) -> new SyntheticWorkload(SyntheticWorkload.Kind.CONVERSATION, d / SyntheticWorkload.DAY_MS, rps,
            seed));
    add(new Entry("coding", "a code-completion service over a week (diurnal, peak 2.8x average, 34.6x valley)", 7, 4),
        (d, rps, seed) -> new SyntheticWorkload(SyntheticWorkload.Kind.CODING, d / SyntheticWorkload.DAY_MS, rps,
            seed));
    add(new Entry("bursty", "a chat API whose clients send in lock-step bursts (10 s peaks about 12x the mean)", 1 / 24.0,
        5), WorkloadZoo::bursty);
    add(new Entry("coding-bursty", "an IDE / agent coding service: long repository prompts, a few dozen output tokens,"
        + " CI and agent fan-out bursts of 6x with longer prompts", 1 / 24.0, 4), WorkloadZoo::codingBursty);
    add(new Entry("long-context", "document Q&A and summarisation: prompts up to the context limit, long answers",
        1 / 24.0, 1.5), WorkloadZoo::longContext);
    add(new Entry("shifting-mix", "a multi-tenant endpoint whose mix shifts within the hour: chat, then bulk"
        + " summaries, then long generation", 1 / 24.0, 4), WorkloadZoo::shiftingMix);
  }

  private WorkloadZoo() {}

  private static void add(Entry e, Factory f) {
    ENTRIES.put(e.name(), e);
    FACTORIES.put(e.name(), f);
  }

  /** Every workload of the zoo, in the order the results list them. */
  public static List<Entry> entries() {
    return List.copyOf(ENTRIES.values());
  }

  /** The names {@code --workload} accepts. */
  public static List<String> names() {
    return List.copyOf(ENTRIES.keySet());
  }

  /** Whether the zoo has a workload called {@code name}. */
  public static boolean has(String name) {
    return name != null && ENTRIES.containsKey(name.trim().toLowerCase(Locale.ROOT));
  }

  /**
   * The workload called {@code name}.
   *
   * @param days its length (null: the workload's default)
   * @param averageRps its mean rate before {@code rateScale} (null: the workload's default)
   * @throws WorkloadException naming the known workloads when there is none by that name, or for a bad length or rate
   */
  public static Workload create(String name, Double days, Double averageRps, double rateScale, long seed) {
    Entry e = ENTRIES.get(name == null ? "" : name.trim().toLowerCase(Locale.ROOT));
    if (e == null) {
      throw new WorkloadException("unknown workload '" + name + "': expected one of "
          + String.join(", ", ENTRIES.keySet()));
    }
    double d = days != null ? days : e.defaultDays();
    if (!(d > 0) || d > 28) {
      throw new WorkloadException("--days must be within (0, 28], got " + d);
    }
    if (!(rateScale > 0) || Double.isInfinite(rateScale)) {
      throw new WorkloadException("--rate-scale must be a positive number, got " + rateScale);
    }
    double rps = (averageRps != null ? averageRps : e.defaultAverageRps()) * rateScale;
    if (!(rps > 0) || Double.isInfinite(rps)) {
      throw new WorkloadException("the average request rate must be positive, got " + rps);
    }
    return FACTORIES.get(e.name()).create(d * SyntheticWorkload.DAY_MS, rps, seed);
  }

  private static String label(String name, double durationMs, double rps, long seed) {
    return String.format(Locale.ROOT, "synthetic %s (%s, mean %.2f req/s, seed %d)", name,
        durationMs < 2 * HOUR_MS * 24 ? String.format(Locale.ROOT, "%.1f h", durationMs / HOUR_MS)
            : String.format(Locale.ROOT, "%.1f days", durationMs / SyntheticWorkload.DAY_MS), rps, seed);
  }

  // ------------------------------------------------------------------ the generators

  /**
   * On/off bursts: 4.3 % of the time at 12 x the mean (bursts of 10 s on average), the rest at half the mean, so a
   * busy 10 s carries about 12 x the mean rate. Conversation lengths.
   */
  private static Workload bursty(double durationMs, double rps, long seed) {
    double on = 12;
    double off = 0.5;
    double share = (1 - off) / (on - off); // time share of bursts that keeps the mean at rps
    double meanOnMs = 10_000;
    var rate = new GeneratedWorkload.OnOff(off * rps, on * rps, meanOnMs * (1 - share) / share, meanOnMs, durationMs,
        seed);
    return new GeneratedWorkload(label("bursty", durationMs, rps, seed), durationMs, seed, rate,
        (t, r) -> conversation(r));
  }

  /**
   * A coding service: prompts of repository context (median 2,000 tokens), completions of a few dozen (median 15); 9 %
   * of the time bursts at 6 x the mean (20 s on average) whose prompts are 1.6 x longer — a burst's prompt-token rate
   * is about 10 x the mean.
   */
  private static Workload codingBursty(double durationMs, double rps, long seed) {
    double on = 6;
    double off = 0.5;
    double share = (1 - off) / (on - off);
    double meanOnMs = 20_000;
    var rate = new GeneratedWorkload.OnOff(off * rps, on * rps, meanOnMs * (1 - share) / share, meanOnMs, durationMs,
        seed);
    return new GeneratedWorkload(label("coding-bursty", durationMs, rps, seed), durationMs, seed, rate, (t, r) -> {
      double median = rate.on(t) ? 3200 : 2000;
      int prompt = GeneratedWorkload.lognormal(r, median, 0.7, 16, 7800);
      int output = GeneratedWorkload.lognormal(r, 15, 0.9, 1, 400);
      return new int[] {prompt, Math.min(output, MAX_CONTEXT - prompt)};
    });
  }

  /** Document Q&A: prompts median 3,500 tokens up to the context limit, answers median 350; load +-30 % over 20 min. */
  private static Workload longContext(double durationMs, double rps, long seed) {
    GeneratedWorkload.Rate rate = new GeneratedWorkload.Rate() {
      @Override
      public double rps(double tMs) {
        return rps * (1 + 0.3 * Math.sin(2 * Math.PI * tMs / (20 * 60_000.0)));
      }

      @Override
      public double maxRps() {
        return rps * 1.3;
      }
    };
    return new GeneratedWorkload(label("long-context", durationMs, rps, seed), durationMs, seed, rate, (t, r) -> {
      int prompt = GeneratedWorkload.lognormal(r, 3500, 0.6, 256, 7600);
      int output = GeneratedWorkload.lognormal(r, 350, 0.7, 16, 2000);
      return new int[] {prompt, Math.min(output, MAX_CONTEXT - prompt)};
    });
  }

  /**
   * Three tenants in turn, 20 minutes each with 5-minute blends: chat (prompt 150, output 60) at 1.5 x the mean rate,
   * bulk summaries (prompt 3,000, output 80) at 0.75 x, long generation (prompt 400, output 600) at 0.75 x. Longer
   * workloads repeat the cycle.
   */
  private static Workload shiftingMix(double durationMs, double rps, long seed) {
    double phaseMs = 20 * 60_000.0;
    double blendMs = 5 * 60_000.0;
    double[] rates = {1.5, 0.75, 0.75};
    GeneratedWorkload.Rate rate = new GeneratedWorkload.Rate() {
      @Override
      public double rps(double tMs) {
        double[] w = phaseWeights(tMs, phaseMs, blendMs);
        return rps * (w[0] * rates[0] + w[1] * rates[1] + w[2] * rates[2]);
      }

      @Override
      public double maxRps() {
        return rps * 1.5;
      }
    };
    return new GeneratedWorkload(label("shifting-mix", durationMs, rps, seed), durationMs, seed, rate, (t, r) -> {
      double[] w = phaseWeights(t, phaseMs, blendMs);
      // the phase a request belongs to, in proportion to each phase's share of the arrivals now
      double a = w[0] * rates[0];
      double b = w[1] * rates[1];
      double u = r.nextDouble() * (a + b + w[2] * rates[2]);
      if (u < a) {
        return new int[] {GeneratedWorkload.lognormal(r, 150, 0.6, 4, 1000),
            GeneratedWorkload.lognormal(r, 60, 0.6, 1, 400)};
      }
      if (u < a + b) {
        return new int[] {GeneratedWorkload.lognormal(r, 3000, 0.5, 512, 7500),
            GeneratedWorkload.lognormal(r, 80, 0.6, 4, 600)};
      }
      return new int[] {GeneratedWorkload.lognormal(r, 400, 0.7, 16, 2000),
          GeneratedWorkload.lognormal(r, 600, 0.5, 100, 2000)};
    });
  }

  /**
   * Weights of the three phases at {@code tMs}: phase i alone for its first {@code phase - blend}, then a linear
   * hand-over to phase i + 1 over {@code blend}.
   */
  static double[] phaseWeights(double tMs, double phaseMs, double blendMs) {
    double cycle = 3 * phaseMs;
    double x = tMs % cycle;
    int i = (int) Math.min(2, Math.floor(x / phaseMs));
    double into = x - i * phaseMs;
    double[] w = new double[3];
    double toNext = Math.max(0, (into - (phaseMs - blendMs)) / blendMs);
    w[i] = 1 - toNext;
    w[(i + 1) % 3] += toNext;
    return w;
  }

  /** Conversation lengths: log-normal around the Azure conversation trace's medians (prompt 1,020, output 129). */
  private static int[] conversation(SplittableRandom r) {
    int prompt = GeneratedWorkload.lognormal(r, 1020, 1.0, 1, 7600);
    int output = GeneratedWorkload.lognormal(r, 129, 0.9, 1, 2000);
    return new int[] {prompt, Math.min(output, MAX_CONTEXT - prompt)};
  }
}
