package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.RequestType;
import java.util.List;
import java.util.Map;

/**
 * What a profile file holds (format {@value #FORMAT}, docs/profile.md, schema docs/profile.schema.json): the
 * measured series per tensor-parallel degree, the constants of the frequency model, the request lengths that stand
 * for each type, and where every series comes from. {@link ProfileJson} reads and writes it; {@link TableProfile}
 * turns it into a {@link Profile}.
 *
 * @param model the model served, e.g. "Llama2-70B"
 * @param hardware the server, e.g. "DGX H100 (8x H100 80GB HBM3, NVLink)"
 * @param architecture the model's shape, for FLOPs, KV-cache bytes and all-reduce sizes
 * @param clocks the clock levels planners choose from and the range the frequency model covers
 * @param idlePowerW power of a GPU holding weights but doing no work
 * @param loadingPowerW power of a GPU while its instance loads weights or re-shards
 * @param tensorParallel the measured series of each tensor-parallel degree, ascending by degree
 * @param frequencyModel the constants of the modeled frequency axis
 * @param requestShapes the lengths that stand for each request type
 * @param provenance where each series comes from, by series name ({@link #PROVENANCE_KEYS})
 */
public record ProfileDocument(
    String model,
    String hardware,
    Architecture architecture,
    Clocks clocks,
    double idlePowerW,
    double loadingPowerW,
    List<TpSeries> tensorParallel,
    FrequencyModel frequencyModel,
    Map<RequestType, TypeShape> requestShapes,
    Map<String, String> provenance) {

  /** The format this build reads and writes; a file names it in its {@code format} field. */
  public static final String FORMAT = "dynamollm-profile/1";

  /** The series whose source a file must state. */
  public static final List<String> PROVENANCE_KEYS =
      List.of("decode", "decode_context", "prefill", "all_reduce", "idle", "kv_cache", "frequency_model",
          "request_shapes");

  public ProfileDocument {
    tensorParallel = List.copyOf(tensorParallel);
    requestShapes = Map.copyOf(requestShapes);
    provenance = Map.copyOf(provenance);
  }

  /** The series of tensor-parallel degree {@code degree}, if the file has it. */
  /**
   * The same profile with {@code frequency} as its frequency model and, where {@code why} is given, that sentence as
   * the frequency model's provenance.
   */
  public ProfileDocument withFrequencyModel(FrequencyModel frequency, java.util.Optional<String> why) {
    Map<String, String> p = new java.util.LinkedHashMap<>(provenance);
    why.ifPresent(text -> p.put("frequency_model", text));
    return new ProfileDocument(model, hardware, architecture, clocks, idlePowerW, loadingPowerW, tensorParallel,
        frequency, requestShapes, p);
  }

  public java.util.Optional<TpSeries> series(int degree) {
    return tensorParallel.stream().filter(s -> s.tp() == degree).findFirst();
  }

  /** The model's shape. */
  public record Architecture(int layers, int hidden, int kvHeads, int headDim, double parameters, int bytesPerValue) {

    /** K and V, every layer, every KV head: bytes of KV cache per token for the whole model. */
    public double kvBytesPerToken() {
      return 2.0 * layers * kvHeads * headDim * bytesPerValue;
    }
  }

  /**
   * Clocks, MHz.
   *
   * @param levelsMhz the levels planners choose from, ascending, each one the device supports
   * @param minMhz the lowest clock the frequency model covers
   * @param maxMhz the highest clock: the one every series was measured at unless it says otherwise
   */
  public record Clocks(List<Integer> levelsMhz, int minMhz, int maxMhz) {
    public Clocks {
      levelsMhz = List.copyOf(levelsMhz);
    }
  }

  /**
   * The measured series of one tensor-parallel degree. Times are one shard's (all-reduce not included), power is per
   * GPU.
   *
   * @param tp the degree
   * @param maxBatch largest decode batch an instance runs (the engine's max_num_seqs)
   * @param kvCacheTokens tokens of KV cache an instance holds
   * @param maxContextTokens longest decode context the profile answers for
   * @param decode decode-step time and power by batch, at one context
   * @param decodeContext decode-step times at other contexts (may be empty: the KV-read bandwidth of the frequency
   *     model stands in)
   * @param prefill prefill time, power and the clock the GPU held, by prompt length
   * @param allReduce all-reduce time by message size
   * @param measuredBy how and where {@code profile build} measured this degree's decode, context and prefill series
   *     against a live engine; empty where the file-wide {@link ProfileDocument#provenance} says where they come from
   *     ({@code profile merge} takes each degree from the file that measured it)
   */
  public record TpSeries(
      int tp,
      int maxBatch,
      long kvCacheTokens,
      int maxContextTokens,
      Decode decode,
      List<ContextPoint> decodeContext,
      Prefill prefill,
      AllReduce allReduce,
      java.util.Optional<String> measuredBy) {
    public TpSeries {
      decodeContext = List.copyOf(decodeContext);
      java.util.Objects.requireNonNull(measuredBy, "measuredBy");
    }

    /** A degree whose source the file-wide provenance gives. */
    public TpSeries(int tp, int maxBatch, long kvCacheTokens, int maxContextTokens, Decode decode,
        List<ContextPoint> decodeContext, Prefill prefill, AllReduce allReduce) {
      this(tp, maxBatch, kvCacheTokens, maxContextTokens, decode, decodeContext, prefill, allReduce,
          java.util.Optional.empty());
    }

    /** The same series, saying how they were measured. */
    public TpSeries measured(String by) {
      return new TpSeries(tp, maxBatch, kvCacheTokens, maxContextTokens, decode, decodeContext, prefill, allReduce,
          java.util.Optional.of(by));
    }
  }

  /** Decode-step time (ms) and power (W) by batch, every row at {@code contextTokens}. */
  public record Decode(double contextTokens, double[] batch, double[] ms, double[] powerW) {}

  /** One decode-step time measured at a context other than {@link Decode#contextTokens}. */
  public record ContextPoint(double batch, double contextTokens, double ms) {}

  /** Prefill time (ms), power (W) and the median SM clock the GPU held (MHz), by prompt tokens. */
  public record Prefill(double[] tokens, double[] ms, double[] powerW, double[] smMhz) {}

  /** All-reduce time (ms) of one collective by log2 of its message size in bytes. */
  public record AllReduce(double[] log2Bytes, double[] ms) {}

  /**
   * The modeled frequency axis (docs/profile.md, "The frequency model").
   *
   * @param sustainedFlopsAtMax dense throughput of a shard at the max clock, FLOP/s
   * @param minComputeShare share of even a memory-bound iteration that scales with the SM clock
   * @param maxComputeShare upper bound of the clock-scaled share
   * @param voltageFloorMhz clock below which the voltage stops falling
   * @param hbmShareOfMemoryBoundPower share of the dynamic power of memory-bound time that is HBM traffic
   * @param busyBaselineW power a busy GPU draws above idle whatever its clock
   * @param kvReadBytesPerS effective HBM bandwidth of decode attention reading the KV cache, bytes/s; used where a
   *     degree has no {@link TpSeries#decodeContext} points to fit its own
   */
  public record FrequencyModel(
      double sustainedFlopsAtMax,
      double minComputeShare,
      double maxComputeShare,
      double voltageFloorMhz,
      double hbmShareOfMemoryBoundPower,
      double busyBaselineW,
      double kvReadBytesPerS) {}
}
