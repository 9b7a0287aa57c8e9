package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Measurements.Kind;
import io.dynamollm.protocol.profile.Measurements.Row;
import io.dynamollm.protocol.profile.ProfileDocument.ContextPoint;
import io.dynamollm.protocol.profile.ProfileDocument.Decode;
import io.dynamollm.protocol.profile.ProfileDocument.Prefill;
import io.dynamollm.protocol.profile.ProfileDocument.TpSeries;
import io.dynamollm.protocol.profile.ProfileJson.ProfileFormatException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A profile from what {@code profile build} measured against a live engine ({@link Measurements}), on top of a base
 * profile of the same model that gives what a client of the engine cannot measure: the architecture, the all-reduce
 * times between the GPUs, the frequency model and the request lengths. The degrees measured replace the base's and
 * say so ({@link TpSeries#measuredBy}); the others stay the base's.
 *
 * <p>How measured times become a profile's shard series (docs/profile.md, "Building a profile from a live engine"):
 * <ul>
 *   <li>decode: the instance's step time less the all-reduce of the base profile for the batch. A batch whose KV cache
 *       could not hold the series' context was measured at a shorter one; it and every row a few tokens off the
 *       context are moved to it along the KV-read bandwidth fitted to the {@code decode_context} rows (the base's
 *       where there are none);
 *   <li>prefill: the time to first token of a prompt less that of a one-token prompt (what the client, the HTTP
 *       server and the scheduler add to every request cancels), plus the instance's decode step of batch 1, which is
 *       what a one-token prompt costs the GPU; then less the all-reduce for the prompt;
 *   <li>power per GPU and the SM clock as the GPU driver read them.
 * </ul>
 */
public final class ProfileBuild {
  private ProfileBuild() {}

  /**
   * @param hardware the server's name for the built profile (the base's when empty)
   * @param measuredBy how and where the rows were measured, for each measured degree's {@code measured_by}
   */
  public record Options(String hardware, String measuredBy) {
    public Options {
      if (measuredBy == null || measuredBy.isBlank()) {
        throw new IllegalArgumentException("say how and where the measurements were made");
      }
      hardware = hardware == null ? "" : hardware;
    }
  }

  /**
   * The base with the measured degrees in place of its own.
   *
   * @param source the journal's name, for messages
   * @throws ProfileFormatException when the rows lack what a degree needs, naming the degree and what is missing
   */
  public static ProfileDocument apply(ProfileDocument base, String source, List<Row> rows, Options o) {
    TableProfile baseProfile = new TableProfile(base);
    Map<Integer, List<Row>> byTp = new TreeMap<>();
    List<Row> idle = new ArrayList<>();
    List<Row> swept = new ArrayList<>();
    int maxMhz = base.clocks().maxMhz();
    for (Row r : rows) {
      if (r.lockedMhz() > maxMhz) {
        throw new ProfileFormatException(source + ": a row locked at " + r.lockedMhz() + " MHz, above the base"
            + " profile's maximum clock (" + maxMhz + " MHz)");
      }
      if (r.lockedMhz() > 0 && r.lockedMhz() < maxMhz) {
        swept.add(r); // the frequency axis, fitted below
      } else if (r.kind() == Kind.IDLE) {
        idle.add(r);
      } else {
        byTp.computeIfAbsent(r.tp(), k -> new ArrayList<>()).add(r);
      }
    }
    if (byTp.isEmpty()) {
      throw new ProfileFormatException(source + ": nothing measured yet (no decode or first_token rows)");
    }
    if (idle.isEmpty()) {
      throw new ProfileFormatException(source + ": no idle row (the GPUs' power with the engine doing nothing)");
    }
    List<TpSeries> series = new ArrayList<>();
    for (TpSeries b : base.tensorParallel()) {
      List<Row> measured = byTp.remove(b.tp());
      series.add(measured == null ? b
          : measuredSeries(base, baseProfile, b, source + ": TP" + b.tp(), measured).measured(o.measuredBy()));
    }
    if (!byTp.isEmpty()) {
      throw new ProfileFormatException(source + ": TP" + byTp.keySet().iterator().next() + " is not in the base profile"
          + " (" + base.hardware() + "), which gives each degree's all-reduce times; the base covers "
          + base.tensorParallel().stream().map(s -> "TP" + s.tp()).toList());
    }
    boolean allMeasured = series.stream().allMatch(s -> s.measuredBy().isPresent());
    String method = "measured by dynamollm profile build against a live engine (see tensor_parallel[].measured_by)";
    String others = allMeasured ? "" : "; degrees without measured_by: ";
    Map<String, String> provenance = new LinkedHashMap<>(base.provenance());
    provenance.put("decode", method + ": the mean step time of a batch decoding together less the all-reduce of"
        + " all_reduce, and the GPUs' power over it" + (allMeasured ? "" : others + base.provenance().get("decode")));
    provenance.put("decode_context", method + ": the same at other contexts; each degree's KV-read bandwidth is"
        + " fitted to them" + (allMeasured ? "" : others + base.provenance().get("decode_context")));
    provenance.put("prefill", method + ": the median time to first token of a lone prompt less a one-token prompt's,"
        + " plus a batch-1 decode step, less the all-reduce; power and SM clock from the GPU driver"
        + (allMeasured ? "" : others + base.provenance().get("prefill")));
    provenance.put("idle", method + ": the GPUs with the engine loaded and doing nothing; loading power as in the base"
        + " profile (" + base.hardware() + ")");
    provenance.put("kv_cache", method + ": the engine's vllm:cache_config_info (num_gpu_blocks x block_size)"
        + (allMeasured ? "" : others + base.provenance().get("kv_cache")));
    provenance.put("all_reduce", "from the base profile (" + base.hardware() + "): " + base.provenance().get("all_reduce"));
    provenance.put("frequency_model", "from the base profile (" + base.hardware() + "); the clock was not swept: "
        + base.provenance().get("frequency_model"));
    double idleW = idle.stream().mapToDouble(Row::powerW).average().orElseThrow();
    ProfileDocument built = ProbeImport.assemble(base, o.hardware().isBlank() ? base.hardware() : o.hardware(),
        round(idleW, 1), series, provenance);
    return FrequencyFit.fit(built, swept, source)
        .map(fit -> built.withFrequencyModel(fit.model(), java.util.Optional.of(fit.provenance()))).orElse(built);
  }

  /** Whether {@code d}'s frequency model was fitted to a clock sweep (its provenance says so). */
  public static boolean swept(ProfileDocument d) {
    return String.valueOf(d.provenance().get("frequency_model")).startsWith(FrequencyFit.FITTED);
  }

  private static TpSeries measuredSeries(ProfileDocument base, TableProfile baseProfile, TpSeries b, String where,
      List<Row> rows) {
    TensorParallelism tp = TensorParallelism.of(b.tp());
    double context = b.decode().contextTokens();
    List<Row> decode = rows.stream().filter(r -> r.kind() == Kind.DECODE)
        .sorted(Comparator.comparingDouble(Row::batch)).toList();
    List<Row> contexts = rows.stream().filter(r -> r.kind() == Kind.DECODE_CONTEXT)
        .sorted(Comparator.comparingDouble(Row::batch).thenComparingDouble(Row::tokens)).toList();
    List<Row> firstTokens = rows.stream().filter(r -> r.kind() == Kind.FIRST_TOKEN)
        .sorted(Comparator.comparingDouble(Row::tokens)).toList();
    Row kv = rows.stream().filter(r -> r.kind() == Kind.KV_CACHE).reduce((x, y) -> y).orElseThrow(() ->
        new ProfileFormatException(where + ": no kv_cache row (the engine's KV-cache capacity)"));
    if (decode.size() < 2 || decode.get(0).batch() != 1) {
      throw new ProfileFormatException(where + ": the decode series needs batch 1 and at least one larger batch, has "
          + decode.stream().map(r -> (int) r.batch()).toList());
    }
    for (int i = 1; i < decode.size(); i++) {
      if (decode.get(i).batch() == decode.get(i - 1).batch()) {
        throw new ProfileFormatException(where + ": two decode rows of batch " + (int) decode.get(i).batch());
      }
    }
    Row lone = firstTokens.stream().filter(r -> r.tokens() == 1).findFirst().orElseThrow(() ->
        new ProfileFormatException(where + ": no first_token row of a one-token prompt (what every prompt's time to"
            + " first token is measured against)"));
    List<Row> prompts = firstTokens.stream().filter(r -> r.tokens() > 1).toList();
    if (prompts.size() < 2) {
      throw new ProfileFormatException(where + ": the prefill series needs at least two prompt lengths above one token,"
          + " has " + prompts.size());
    }

    double perGpuKvBytes = base.architecture().kvBytesPerToken() / Math.min(b.tp(), base.architecture().kvHeads());
    double[] batch = decode.stream().mapToDouble(Row::batch).toArray();
    double[] shardMs = decode.stream().mapToDouble(r -> shard(baseProfile, tp, r)).toArray();
    double[] rowContext = decode.stream().mapToDouble(Row::tokens).toArray();
    // The KV-read bandwidth: fitted to the context rows against the series moved to its context, twice (the series
    // rows themselves sit a few tokens off it); the base's where nothing measured the context's effect.
    double bandwidth = baseProfile.kvReadBytesPerS(tp);
    double[] atContext = shardMs.clone();
    for (int pass = 0; pass < 2; pass++) {
      for (int i = 0; i < atContext.length; i++) {
        atContext[i] = shardMs[i] - batch[i] * (rowContext[i] - context) * perGpuKvBytes / bandwidth * 1e3;
      }
      if (contexts.isEmpty()) {
        break;
      }
      PiecewiseLinear series = new PiecewiseLinear(where + " decode time by batch", batch, atContext);
      double sxy = 0;
      double sxx = 0;
      for (Row c : contexts) {
        if (c.batch() > batch[batch.length - 1]) {
          throw new ProfileFormatException(where + ": a decode_context row of batch " + (int) c.batch()
              + " is beyond the decode series (up to " + (int) batch[batch.length - 1] + ")");
        }
        double bytes = c.batch() * (c.tokens() - context) * perGpuKvBytes;
        double extraMs = shard(baseProfile, tp, c) - series.at(c.batch());
        sxy += bytes * extraMs;
        sxx += bytes * bytes;
      }
      if (!(sxx > 0) || !(sxy > 0)) {
        throw new ProfileFormatException(where + ": the decode_context rows do not show the decode step growing with"
            + " context; measure contexts farther from " + (long) context + " tokens");
      }
      bandwidth = sxx / sxy * 1e3;
    }
    List<ContextPoint> points = new ArrayList<>();
    for (Row c : contexts) {
      points.add(new ContextPoint(c.batch(), Math.round(c.tokens()), round(shard(baseProfile, tp, c), 3)));
    }
    for (int i = 0; i < atContext.length; i++) {
      if (!(atContext[i] > 0)) {
        throw new ProfileFormatException(where + ": the decode step of batch " + (int) batch[i] + " comes out at "
            + atContext[i] + " ms once the base's all-reduce is taken off; the base profile does not fit this engine");
      }
      atContext[i] = round(atContext[i], 3);
    }

    // Prefill: the time to first token less a one-token prompt's, plus what a one-token prompt costs the GPU.
    double oneTokenMs = decode.get(0).ms() - decode.get(0).batch() * (rowContext[0] - context) * perGpuKvBytes
        / bandwidth * 1e3;
    int n = prompts.size();
    double[] tokens = new double[n];
    double[] prefillMs = new double[n];
    double[] prefillW = new double[n];
    double[] smMhz = new double[n];
    for (int i = 0; i < n; i++) {
      Row r = prompts.get(i);
      if (i > 0 && r.tokens() == prompts.get(i - 1).tokens()) {
        throw new ProfileFormatException(where + ": two first_token rows of " + (long) r.tokens() + " tokens");
      }
      tokens[i] = r.tokens();
      double instance = r.ms() - lone.ms() + oneTokenMs;
      double shard = instance - baseProfile.allReduceMs(tp, (int) r.tokens());
      if (!(shard > 0)) {
        throw new ProfileFormatException(where + ": the prefill of " + (long) r.tokens() + " tokens comes out at "
            + round(shard, 3) + " ms (its time to first token " + r.ms() + " ms, a one-token prompt's " + lone.ms()
            + " ms); measure again on a quiet engine");
      }
      prefillMs[i] = round(shard, 3);
      prefillW[i] = round(r.powerW(), 1);
      smMhz[i] = Math.max(base.clocks().minMhz(), Math.min(base.clocks().maxMhz(), Math.round(r.smMhz())));
    }
    if (tokens[n - 1] > b.maxContextTokens()) {
      throw new ProfileFormatException(where + ": a prompt of " + (long) tokens[n - 1] + " tokens is longer than the"
          + " base's max_context_tokens (" + b.maxContextTokens() + ")");
    }
    return new TpSeries(b.tp(), (int) batch[batch.length - 1], (long) kv.tokens(), b.maxContextTokens(),
        new Decode(context, batch, atContext, decode.stream().mapToDouble(r -> round(r.powerW(), 1)).toArray()),
        points, new Prefill(tokens, prefillMs, prefillW, smMhz), b.allReduce());
  }

  /** A decode row's shard time: the instance's step less the base's all-reduce for its batch. */
  private static double shard(TableProfile base, TensorParallelism tp, Row r) {
    return r.ms() - base.allReduceMs(tp, (int) Math.ceil(r.batch()));
  }

  private static double round(double v, int digits) {
    double scale = Math.pow(10, digits);
    return Math.round(v * scale) / scale;
  }
}
