package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.ProfileDocument.ContextPoint;
import io.dynamollm.protocol.profile.ProfileDocument.Decode;
import io.dynamollm.protocol.profile.ProfileDocument.FrequencyModel;
import io.dynamollm.protocol.profile.ProfileDocument.Prefill;
import io.dynamollm.protocol.profile.ProfileDocument.TpSeries;
import io.dynamollm.protocol.profile.ProfileJson.ProfileFormatException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A profile from a shard probe's measurements (the CSV that {@code gpu_shard_probe.py} writes: one tensor-parallel
 * shard's decode and prefill iterations and the idle GPU, at the GPU's default clocks) on top of a base profile of
 * the same model, which gives what a single GPU cannot measure: the architecture, the all-reduce between GPUs, the
 * frequency model and the request lengths. The measured series replace the base's for every degree the probe
 * covers; each degree's KV-cache capacity is computed from the GPU's memory.
 *
 * <p>CSV columns: {@code kind,tp,tokens,batch,context,iter_ms,avg_power_w,median_sm_mhz,median_inst_power_w,
 * iterations}; kinds {@code idle}, {@code decode}, {@code prefill}. Decode rows at the context most rows share form the
 * decode series, the rest its context points.
 */
public final class ProbeImport {
  private static final List<String> COLUMNS = List.of("kind", "tp", "tokens", "batch", "context", "iter_ms",
      "avg_power_w", "median_sm_mhz", "median_inst_power_w", "iterations");

  private ProbeImport() {}

  /**
   * What the probe cannot tell.
   *
   * @param hardware the server's name, e.g. "DGX H200 (8x H200 141GB HBM3e, NVLink)"
   * @param gpuMemoryMib one GPU's memory as NVML reports it (memory.total), MiB
   * @param memoryUtilization share of it the engine takes (vLLM's gpu_memory_utilization, 0.90)
   * @param reservedBytesPerGpu activations, CUDA graphs and workspace per GPU, bytes
   * @param measuredOn where the probe ran, for the provenance, e.g. "a real NVIDIA H200 (driver 580.159.04)"
   */
  public record Options(String hardware, double gpuMemoryMib, double memoryUtilization, double reservedBytesPerGpu,
      String measuredOn) {
    public Options {
      if (hardware == null || hardware.isBlank()) {
        throw new IllegalArgumentException("the hardware needs a name");
      }
      if (!(gpuMemoryMib >= 1024 && gpuMemoryMib <= 1 << 24)) {
        throw new IllegalArgumentException("GPU memory must be 1,024 MiB to 16 TiB, got " + gpuMemoryMib);
      }
      if (!(memoryUtilization > 0 && memoryUtilization <= 1)) {
        throw new IllegalArgumentException("memory utilization must be in (0, 1], got " + memoryUtilization);
      }
      if (!(reservedBytesPerGpu >= 0)) {
        throw new IllegalArgumentException("reserved bytes must be >= 0, got " + reservedBytesPerGpu);
      }
    }
  }

  private record Row(String kind, int tp, double tokens, double batch, double context, double ms,
      double powerW, double smMhz) {}

  /**
   * The base profile with the probe's measurements in place of its own.
   *
   * @param source the CSV's name, for messages and the provenance
   * @throws ProfileFormatException naming the line and column of a malformed row, or what the probe lacks
   */
  public static ProfileDocument apply(ProfileDocument base, String source, String csv, Options o) {
    List<Row> rows = parse(source, csv);
    double idle = rows.stream().filter(r -> r.kind().equals("idle")).mapToDouble(Row::powerW).findFirst()
        .orElseThrow(() -> new ProfileFormatException(source + ": no idle row (kind idle: the GPU doing nothing)"));
    Map<Integer, List<Row>> byTp = new TreeMap<>();
    for (Row r : rows) {
      if (!r.kind().equals("idle")) {
        byTp.computeIfAbsent(r.tp(), k -> new ArrayList<>()).add(r);
      }
    }
    if (byTp.isEmpty()) {
      throw new ProfileFormatException(source + ": no decode or prefill rows");
    }
    List<TpSeries> series = new ArrayList<>();
    for (TpSeries b : base.tensorParallel()) {
      List<Row> measured = byTp.remove(b.tp());
      series.add(measured == null ? b : measuredSeries(base, b, source, measured, o));
    }
    if (!byTp.isEmpty()) {
      throw new ProfileFormatException(source + ": TP" + byTp.keySet().iterator().next() + " is not in the base profile"
          + " (" + base.hardware() + "), which gives each degree's all-reduce times; the base covers "
          + base.tensorParallel().stream().map(s -> "TP" + s.tp()).toList());
    }
    Map<String, String> provenance = new LinkedHashMap<>(base.provenance());
    String measured = "measured on " + o.measuredOn() + " at its default clocks by a shard probe (" + source + ")";
    provenance.put("decode", measured + ": one shard's decode iterations (all-reduce not included) by batch");
    provenance.put("decode_context", measured + ": decode iterations at other contexts; the KV-read bandwidth of each"
        + " degree is fitted to them");
    provenance.put("prefill", measured + ": one prompt per row, with the median SM clock the GPU held");
    provenance.put("idle", measured + ": the GPU doing nothing; loading power as in the base profile");
    provenance.put("kv_cache", String.format(java.util.Locale.ROOT, "computed: %.0f MiB (NVML) x %.2f - %.1f GB"
        + " reserved - weights / TP per GPU, at %.0f bytes of KV per token", o.gpuMemoryMib(), o.memoryUtilization(),
        o.reservedBytesPerGpu() / 1e9, base.architecture().kvBytesPerToken()));
    provenance.put("all_reduce", "from the base profile (" + base.hardware() + "): " + base.provenance().get("all_reduce"));
    provenance.put("frequency_model", "from the base profile (" + base.hardware() + "): "
        + base.provenance().get("frequency_model"));
    return assemble(base, o.hardware(), idle, series, provenance);
  }

  /**
   * The base profile with {@code series}, {@code idle} power and {@code provenance} in place of its own. Where no
   * degree measured the context's effect, the frequency model's KV-read bandwidth stands in; it becomes the mean of
   * the bandwidths fitted where one did (rounded to 1 GB/s).
   */
  static ProfileDocument assemble(ProfileDocument base, String hardware, double idle, List<TpSeries> series,
      Map<String, String> provenance) {
    ProfileDocument draft = new ProfileDocument(base.model(), hardware, base.architecture(), base.clocks(), idle,
        base.loadingPowerW(), series, base.frequencyModel(), base.requestShapes(), provenance);
    TableProfile fitted = new TableProfile(draft);
    double mean = series.stream().filter(s -> !s.decodeContext().isEmpty())
        .mapToDouble(s -> fitted.kvReadBytesPerS(TensorParallelism.of(s.tp()))).average()
        .orElse(base.frequencyModel().kvReadBytesPerS());
    FrequencyModel f = base.frequencyModel();
    FrequencyModel withBandwidth = new FrequencyModel(f.sustainedFlopsAtMax(), f.minComputeShare(),
        f.maxComputeShare(), f.voltageFloorMhz(), f.hbmShareOfMemoryBoundPower(), f.busyBaselineW(),
        Math.round(mean / 1e9) * 1e9);
    return new ProfileDocument(draft.model(), draft.hardware(), draft.architecture(), draft.clocks(), idle,
        draft.loadingPowerW(), series, withBandwidth, draft.requestShapes(), provenance);
  }

  private static TpSeries measuredSeries(ProfileDocument base, TpSeries b, String source, List<Row> rows, Options o) {
    String where = source + ": TP" + b.tp();
    List<Row> decode = rows.stream().filter(r -> r.kind().equals("decode")).toList();
    List<Row> prefill = rows.stream().filter(r -> r.kind().equals("prefill"))
        .sorted(Comparator.comparingDouble(Row::tokens)).toList();
    if (decode.isEmpty() || prefill.size() < 2) {
      throw new ProfileFormatException(where + ": needs decode rows and at least two prefill rows, has "
          + decode.size() + " and " + prefill.size());
    }
    Map<Double, Integer> contexts = new HashMap<>();
    decode.forEach(r -> contexts.merge(r.context(), 1, Integer::sum));
    double context = contexts.entrySet().stream().max(Map.Entry.<Double, Integer>comparingByValue()
        .thenComparing(Map.Entry.comparingByKey())).orElseThrow().getKey();
    List<Row> atContext = decode.stream().filter(r -> r.context() == context)
        .sorted(Comparator.comparingDouble(Row::batch)).toList();
    List<ContextPoint> points = decode.stream().filter(r -> r.context() != context)
        .sorted(Comparator.comparingDouble(Row::batch).thenComparingDouble(Row::context))
        .map(r -> new ContextPoint(r.batch(), r.context(), r.ms())).toList();
    double[] batch = atContext.stream().mapToDouble(Row::batch).toArray();
    if (batch.length < 2 || batch[0] != 1) {
      throw new ProfileFormatException(where + ": decode rows at context " + context + " must start at batch 1 and"
          + " have at least two batches, got " + java.util.Arrays.toString(batch));
    }
    for (int i = 1; i < batch.length; i++) {
      if (batch[i] == batch[i - 1]) {
        throw new ProfileFormatException(where + ": two decode rows of batch " + batch[i] + " at context " + context);
      }
    }
    int maxBatch = (int) batch[batch.length - 1];
    double g = b.tp();
    var arch = base.architecture();
    double perGpuFree = o.gpuMemoryMib() * 1024 * 1024 * o.memoryUtilization() - o.reservedBytesPerGpu()
        - arch.parameters() * arch.bytesPerValue() / g;
    if (perGpuFree <= 0) {
      throw new ProfileFormatException(where + ": the weights do not fit in " + o.gpuMemoryMib() + " MiB per GPU");
    }
    long kv = (long) Math.floor(perGpuFree * g / arch.kvBytesPerToken());
    return new TpSeries(b.tp(), maxBatch, kv, b.maxContextTokens(),
        new Decode(context, batch, atContext.stream().mapToDouble(Row::ms).toArray(),
            atContext.stream().mapToDouble(Row::powerW).toArray()),
        points,
        new Prefill(prefill.stream().mapToDouble(Row::tokens).toArray(), prefill.stream().mapToDouble(Row::ms).toArray(),
            prefill.stream().mapToDouble(Row::powerW).toArray(), prefill.stream().mapToDouble(Row::smMhz).toArray()),
        b.allReduce());
  }

  private static List<Row> parse(String source, String csv) {
    String[] lines = csv.split("\\R");
    if (lines.length == 0 || lines[0].isBlank()) {
      throw new ProfileFormatException(source + ": empty; expected a header " + String.join(",", COLUMNS));
    }
    List<String> header = List.of(lines[0].trim().split(","));
    if (!header.equals(COLUMNS)) {
      throw new ProfileFormatException(source + " line 1: expected the header " + String.join(",", COLUMNS)
          + ", got " + lines[0].trim());
    }
    List<Row> rows = new ArrayList<>();
    for (int i = 1; i < lines.length; i++) {
      String line = lines[i].trim();
      if (line.isEmpty()) {
        continue;
      }
      String[] f = line.split(",", -1);
      String where = source + " line " + (i + 1);
      if (f.length != COLUMNS.size()) {
        throw new ProfileFormatException(where + ": expected " + COLUMNS.size() + " columns, got " + f.length);
      }
      String kind = f[0];
      if (!List.of("idle", "decode", "prefill").contains(kind)) {
        throw new ProfileFormatException(where + ": kind must be idle, decode or prefill, got '" + kind + "'");
      }
      boolean idle = kind.equals("idle");
      rows.add(new Row(kind, (int) number(where, f, 1, idle ? 0 : 1, false), number(where, f, 2, 0, false),
          number(where, f, 3, 0, false), number(where, f, 4, 0, false), number(where, f, 5, 0, !idle),
          number(where, f, 6, 0, true), number(where, f, 7, idle ? 0 : 100, false)));
    }
    return rows;
  }

  /** Column {@code column} as a finite number of at least {@code min} (above it when {@code positive}). */
  private static double number(String where, String[] fields, int column, double min, boolean positive) {
    try {
      double v = Double.parseDouble(fields[column]);
      if (!(v >= min) || (positive && v <= min) || Double.isInfinite(v)) {
        throw new ProfileFormatException(where + ": " + COLUMNS.get(column) + " must be "
            + (positive ? "above " : "at least ") + (long) min + ", got " + fields[column]);
      }
      return v;
    } catch (NumberFormatException e) {
      throw new ProfileFormatException(where + ": " + COLUMNS.get(column) + " is not a number: '" + fields[column] + "'");
    }
  }
}
