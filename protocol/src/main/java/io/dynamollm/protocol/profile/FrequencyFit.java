package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Measurements.Kind;
import io.dynamollm.protocol.profile.Measurements.Row;
import io.dynamollm.protocol.profile.ProfileDocument.FrequencyModel;
import io.dynamollm.protocol.profile.ProfileJson.ProfileFormatException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.TreeSet;
import java.util.function.ToDoubleFunction;

/**
 * The frequency model's constants fitted to points measured with the GPUs locked below their maximum clock
 * ({@code profile build --sweep-clocks}): the clock-scaled shares of an iteration's time (the least of a memory-bound
 * decode step, the most of a compute-bound prefill), the voltage floor, the HBM share of memory-bound power and the
 * busy baseline. The model itself is {@link TableProfile}'s (docs/profile.md, "The frequency model"); this only
 * searches its constants, so what the planner computes at a clock is what was fitted. The sustained FLOP/s and the
 * KV-read bandwidth are not searched: they are fitted to the series at the maximum clock.
 *
 * <p>The fit minimises the sum of squared log errors of time and power over every swept point — decode steps as
 * measured; prefills as the time to first token less a one-token prompt's plus a batch-1 decode step at the same
 * clock (what {@link ProfileBuild} does at the maximum clock) — by coordinate search: each constant over a grid of
 * its span in turn, the spans halved where a pass improves nothing, from the base's constants and from several
 * voltage floors (the floor and the power shares trade off against each other); a constant moves only where the
 * error falls (one the points do not determine keeps the start's value). Pure.
 */
public final class FrequencyFit {
  private static final int GRID = 20;
  /** Starting voltage floors across the clock range (and the base's own constants). */
  private static final int STARTS = 5;
  private static final int MAX_PASSES = 60;
  /** The voltage floor's place in {@link #params}. */
  private static final int FLOOR = 2;

  /** How the provenance of a fitted frequency model begins. */
  static final String FITTED = "fitted by dynamollm profile build --sweep-clocks";

  private FrequencyFit() {}

  /**
   * What the fit found.
   *
   * @param model the fitted constants
   * @param points time and power comparisons fitted to
   * @param clocksMhz the clocks swept
   * @param rmsBefore root-mean-square log error with the base's constants (0.05: about 5 %)
   * @param rmsAfter the same with the fitted constants
   */
  public record Result(FrequencyModel model, int points, List<Integer> clocksMhz, double rmsBefore, double rmsAfter) {
    /** One sentence for the profile's provenance. */
    public String provenance() {
      FrequencyModel m = model;
      return String.format(Locale.ROOT, FITTED + " to %d time and power points"
          + " measured with the GPUs locked at %s MHz (RMS error %.1f %% with the base profile's constants, %.1f %%"
          + " fitted): min/max compute share %.3f/%.3f, voltage floor %.0f MHz, HBM share %.3f, busy baseline %.0f W;"
          + " sustained FLOP/s and KV-read bandwidth from the maximum-clock series", points, clocksMhz,
          100 * rmsBefore, 100 * rmsAfter, m.minComputeShare(), m.maxComputeShare(), m.voltageFloorMhz(),
          m.hbmShareOfMemoryBoundPower(), m.busyBaselineW());
    }
  }

  /** One constant: its range, how to read and replace it. */
  private record Param(double lo, double hi, ToDoubleFunction<FrequencyModel> get,
      java.util.function.BiFunction<FrequencyModel, Double, FrequencyModel> with) {}

  /**
   * Fits the frequency model of {@code d} to {@code swept}.
   *
   * @param d the profile with its series at the maximum clock in place
   * @param swept rows measured with the GPUs locked below the maximum clock
   * @param where what to call the rows in messages
   * @return empty where there are no swept rows
   * @throws ProfileFormatException when the swept rows cannot be compared (a prefill without its one-token prompt
   *     at the same clock, a clock outside the profile's range)
   */
  public static Optional<Result> fit(ProfileDocument d, List<Row> swept, String where) {
    if (swept.isEmpty()) {
      return Optional.empty();
    }
    List<Point> points = points(d, swept, where);
    if (points.isEmpty()) {
      throw new ProfileFormatException(where + ": the swept rows hold no decode or prefill point to fit to");
    }
    List<Param> params = params(d);
    FrequencyModel start = d.frequencyModel();
    double before = error(d, start, points);
    FrequencyModel best = start;
    double bestError = before;
    // the voltage floor and the power shares trade off against each other: search from several floors
    Param floor = params.get(FLOOR);
    for (int k = 0; k <= STARTS; k++) {
      FrequencyModel from = k == STARTS ? start
          : floor.with().apply(start, floor.lo() + (floor.hi() - floor.lo()) * k / (STARTS - 1));
      FrequencyModel found = descend(d, from, points, params);
      double e = error(d, found, points);
      if (e < bestError * (1 - 1e-9)) {
        bestError = e;
        best = found;
      }
    }
    TreeSet<Integer> clocks = new TreeSet<>();
    swept.forEach(r -> clocks.add(r.lockedMhz()));
    int n = points.stream().mapToInt(pt -> Double.isNaN(pt.watts) ? 1 : 2).sum();
    FrequencyModel fitted = rounded(best);
    return Optional.of(new Result(fitted, n, List.copyOf(clocks), Math.sqrt(before / n),
        Math.sqrt(error(d, fitted, points) / n)));
  }

  /**
   * Coordinate search from {@code from}: each constant over a grid of its span around where it stands, in turn;
   * where no constant improves in a pass, every span halves, until they are a thousandth of their ranges.
   */
  private static FrequencyModel descend(ProfileDocument d, FrequencyModel from, List<Point> points,
      List<Param> params) {
    FrequencyModel best = from;
    double bestError = error(d, best, points);
    double scale = 1;
    for (int pass = 0; pass < MAX_PASSES && scale > 1e-3; pass++) {
      boolean improved = false;
      for (Param p : params) {
        double span = (p.hi() - p.lo()) * scale;
        double now = p.get().applyAsDouble(best);
        double lo = Math.max(p.lo(), now - span / 2);
        double hi = Math.min(p.hi(), now + span / 2);
        for (int i = 0; i <= GRID; i++) {
          FrequencyModel candidate = p.with().apply(best, lo + (hi - lo) * i / GRID);
          if (candidate.maxComputeShare() < candidate.minComputeShare()) {
            continue;
          }
          double e = error(d, candidate, points);
          if (e < bestError * (1 - 1e-9)) {
            bestError = e;
            best = candidate;
            improved = true;
          }
        }
      }
      if (!improved) {
        scale /= 2;
      }
    }
    return best;
  }

  /** A swept point: what was measured and how the profile predicts it. */
  private record Point(Kind kind, TensorParallelism tp, double batch, double tokens, int clockMhz, double ms,
      double watts, double loneTtftMs, double batchOneMs) {}

  private static List<Point> points(ProfileDocument d, List<Row> swept, String where) {
    List<Point> out = new ArrayList<>();
    for (Row r : swept) {
      if (r.lockedMhz() < d.clocks().minMhz() || r.lockedMhz() >= d.clocks().maxMhz()) {
        throw new ProfileFormatException(where + ": a row locked at " + r.lockedMhz() + " MHz, outside the profile's "
            + d.clocks().minMhz() + "–" + d.clocks().maxMhz() + " MHz below its maximum");
      }
      if (d.series(r.tp()).isEmpty()) {
        throw new ProfileFormatException(where + ": a row of TP" + r.tp() + " at " + r.lockedMhz() + " MHz, a degree"
            + " the profile has no series for");
      }
      TensorParallelism tp = TensorParallelism.of(r.tp());
      switch (r.kind()) {
        case DECODE, DECODE_CONTEXT -> out.add(new Point(r.kind(), tp, r.batch(), r.tokens(), r.lockedMhz(), r.ms(),
            r.kind() == Kind.DECODE ? r.powerW() : Double.NaN, Double.NaN, Double.NaN));
        case FIRST_TOKEN -> {
          if (r.tokens() <= 1) {
            continue;
          }
          Row lone = swept.stream().filter(x -> x.kind() == Kind.FIRST_TOKEN && x.tp() == r.tp() && x.tokens() == 1
              && x.lockedMhz() == r.lockedMhz()).findFirst().orElseThrow(() -> new ProfileFormatException(where
                  + ": TP" + r.tp() + " at " + r.lockedMhz() + " MHz: a prefill of " + (int) r.tokens() + " tokens"
                  + " without a one-token prompt at the same clock to measure it against"));
          double batchOne = swept.stream().filter(x -> x.kind() == Kind.DECODE && x.tp() == r.tp() && x.batch() == 1
              && x.lockedMhz() == r.lockedMhz()).mapToDouble(Row::ms).findFirst().orElse(Double.NaN);
          out.add(new Point(r.kind(), tp, 0, r.tokens(), r.lockedMhz(), r.ms(), r.powerW(), lone.ms(), batchOne));
        }
        default -> { } // idle and KV-cache capacity do not depend on the clock
      }
    }
    return out;
  }

  private static double error(ProfileDocument d, FrequencyModel m, List<Point> points) {
    TableProfile p = new TableProfile(d.withFrequencyModel(m, Optional.empty()));
    double sum = 0;
    for (Point pt : points) {
      double ms;
      double watts;
      double measuredMs = pt.ms;
      if (pt.kind == Kind.FIRST_TOKEN) {
        int tokens = (int) Math.round(pt.tokens);
        ms = p.prefillMs(pt.tp, tokens, pt.clockMhz);
        watts = p.prefillPowerW(pt.tp, tokens, pt.clockMhz);
        double batchOne = Double.isNaN(pt.batchOneMs) ? p.decodeStepMs(pt.tp, 1, 1, pt.clockMhz) : pt.batchOneMs;
        measuredMs = pt.ms - pt.loneTtftMs + batchOne;
      } else {
        ms = p.decodeStepMs(pt.tp, pt.batch, pt.tokens, pt.clockMhz);
        watts = p.decodePowerW(pt.tp, pt.batch, pt.clockMhz);
      }
      sum += square(Math.log(ms / Math.max(1e-6, measuredMs)));
      if (!Double.isNaN(pt.watts)) {
        sum += square(Math.log(watts / Math.max(1e-6, pt.watts)));
      }
    }
    return sum;
  }

  private static List<Param> params(ProfileDocument d) {
    double peak = d.tensorParallel().stream().mapToDouble(s -> s.decode().powerW()[s.decode().powerW().length - 1])
        .max().orElse(700);
    return List.of(
        new Param(0, 0.95, FrequencyModel::minComputeShare, (m, v) -> new FrequencyModel(
            m.sustainedFlopsAtMax(), v, m.maxComputeShare(), m.voltageFloorMhz(), m.hbmShareOfMemoryBoundPower(),
            m.busyBaselineW(), m.kvReadBytesPerS())),
        new Param(0.3, 1, FrequencyModel::maxComputeShare, (m, v) -> new FrequencyModel(
            m.sustainedFlopsAtMax(), m.minComputeShare(), v, m.voltageFloorMhz(), m.hbmShareOfMemoryBoundPower(),
            m.busyBaselineW(), m.kvReadBytesPerS())),
        new Param(d.clocks().minMhz(), d.clocks().maxMhz(), FrequencyModel::voltageFloorMhz,
            (m, v) -> new FrequencyModel(m.sustainedFlopsAtMax(), m.minComputeShare(), m.maxComputeShare(), v,
                m.hbmShareOfMemoryBoundPower(), m.busyBaselineW(), m.kvReadBytesPerS())),
        new Param(0, 1, FrequencyModel::hbmShareOfMemoryBoundPower,
            (m, v) -> new FrequencyModel(m.sustainedFlopsAtMax(), m.minComputeShare(), m.maxComputeShare(),
                m.voltageFloorMhz(), v, m.busyBaselineW(), m.kvReadBytesPerS())),
        new Param(0, Math.max(1, peak - d.idlePowerW()), FrequencyModel::busyBaselineW,
            (m, v) -> new FrequencyModel(m.sustainedFlopsAtMax(), m.minComputeShare(), m.maxComputeShare(),
                m.voltageFloorMhz(), m.hbmShareOfMemoryBoundPower(), v, m.kvReadBytesPerS())));
  }

  private static FrequencyModel rounded(FrequencyModel m) {
    return new FrequencyModel(m.sustainedFlopsAtMax(), round(m.minComputeShare(), 1e3), round(m.maxComputeShare(), 1e3),
        Math.round(m.voltageFloorMhz()), round(m.hbmShareOfMemoryBoundPower(), 1e3), Math.round(m.busyBaselineW()),
        m.kvReadBytesPerS());
  }

  private static double round(double v, double scale) {
    return Math.round(v * scale) / scale;
  }

  private static double square(double v) {
    return v * v;
  }
}
