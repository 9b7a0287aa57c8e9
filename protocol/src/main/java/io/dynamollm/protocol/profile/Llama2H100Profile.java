package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The bundled profile: Llama2-70B (bf16) served by a vLLM-style engine on a DGX H100.
 *
 * <p>Measured: per-shard iteration time and GPU power at the default clock (our own H100 probe), NCCL all-reduce time
 * on a DGX H100 (Vidur), request lengths per type (Azure LLM inference trace 2023, conversation). Modeled: how time
 * and power change with the GPU clock, the KV-cache read for contexts other than 1024, and the queueing that turns
 * iteration times into p99 latencies at a load. docs/profile.md lists every figure and constant and where it comes
 * from; the constants below carry the same names.
 */
public final class Llama2H100Profile implements Profile {

  // ---- measured: one tensor-parallel shard of a Llama2-70B-shaped forward pass on one H100 at default clocks
  // (h100_llama2_70b_shard_probe.csv; all-reduce not included). Index 0 = TP2, 1 = TP4, 2 = TP8.
  static final double[] DECODE_BATCH = {1, 8, 32, 64, 128, 256};
  static final double[][] DECODE_MS = {
    {25.923, 27.058, 29.224, 31.783, 37.676, 50.006},
    {14.417, 15.213, 16.238, 17.579, 20.757, 27.045},
    {9.201, 9.660, 9.524, 10.240, 11.754, 15.467},
  };
  static final double[][] DECODE_W = {
    {483.2, 482.6, 511.5, 540.6, 574.5, 620.3},
    {449.4, 443.2, 473.7, 505.9, 538.2, 594.6},
    {379.0, 379.3, 431.0, 470.3, 502.6, 545.9},
  };
  /** Context of every measured decode row. */
  static final double DECODE_MEASURED_CONTEXT = 1024;

  static final double[] PREFILL_TOKENS = {128, 512, 1024, 2048, 4096, 8192};
  static final double[][] PREFILL_MS = {
    {28.163, 51.932, 98.620, 199.823, 398.795, 875.737},
    {16.044, 27.984, 52.896, 102.542, 209.552, 433.559},
    {9.574, 16.445, 30.264, 59.273, 111.607, 228.816},
  };
  static final double[][] PREFILL_W = {
    {645.1, 654.4, 637.8, 616.3, 630.0, 687.9},
    {552.1, 668.7, 648.5, 611.0, 613.2, 619.9},
    {498.2, 619.3, 629.4, 669.4, 626.6, 624.9},
  };
  /** Median SM clock during each prefill row: the GPU lowered its own clock under the 700 W cap. */
  static final double[][] PREFILL_SM_MHZ = {
    {1980, 1905, 1860, 1815, 1770, 1755},
    {1980, 1980, 1920, 1890, 1837.5, 1777.5},
    {1980, 1980, 1980, 1935, 1935, 1935},
  };
  /** Measured idle power of an H100 (no work, default clocks). */
  static final double IDLE_W = 77.7;

  // ---- measured: NCCL all-reduce median time (ms) on a DGX H100 by message size (Vidur), cumulative maximum over
  // sizes so time never falls with size. Sizes 8 KiB … 64 MiB in powers of two.
  static final double[] ALL_REDUCE_LOG2_BYTES = {13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26};
  static final double[][] ALL_REDUCE_MS = {
    {0.007, 0.011, 0.033, 0.040, 0.040, 0.040, 0.041, 0.041, 0.042, 0.043, 0.047, 0.069, 0.141, 0.215},
    {0.038, 0.038, 0.040, 0.040, 0.041, 0.041, 0.044, 0.044, 0.044, 0.045, 0.062, 0.087, 0.178, 0.274},
    {0.023, 0.029, 0.035, 0.035, 0.035, 0.035, 0.035, 0.035, 0.044, 0.056, 0.084, 0.111, 0.207, 0.3035},
  };

  // ---- model architecture (Llama2-70B)
  static final int LAYERS = 80;
  static final int HIDDEN = 8192;
  static final int KV_HEADS = 8;
  static final int HEAD_DIM = 128;
  static final double PARAMETERS = 68.98e9;
  static final int BYTES_PER_VALUE = 2; // bf16
  /** Two all-reduces per layer (after attention, after the MLP), each of tokens × hidden × 2 bytes. */
  static final int ALL_REDUCES_PER_ITERATION = 2 * LAYERS;
  /** K and V, every layer, every KV head: bytes of KV cache per token for the whole model. */
  static final double KV_BYTES_PER_TOKEN = 2.0 * LAYERS * KV_HEADS * HEAD_DIM * BYTES_PER_VALUE;

  // ---- memory (H100 80GB HBM3 as reported by NVML: 81,559 MiB) and engine settings
  static final double GPU_MEMORY_BYTES = 81_559.0 * 1024 * 1024;
  /** vLLM's default gpu_memory_utilization. */
  static final double GPU_MEMORY_UTILIZATION = 0.90;
  /** Activations, CUDA graphs and workspace per GPU, bytes (modeled). */
  static final double RESERVED_BYTES_PER_GPU = 2.0e9;
  /** vLLM's default max_num_seqs, which is also the largest measured batch. */
  static final int MAX_BATCH = 256;

  // ---- modeled: frequency axis (no public data; docs/profile.md)
  /** Sustained dense bf16 throughput of a shard at 1980 MHz, fitted to the 8192-token TP8 prefill (≈ 675 TFLOP/s at 1935 MHz). */
  static final double SUSTAINED_FLOPS_AT_MAX = 700e12;
  /** Share of even a memory-bound iteration that still scales with the SM clock (kernel issue, softmax, norms). */
  static final double MIN_COMPUTE_SHARE = 0.20;
  /** Upper bound of the clock-scaled share: even a long prefill waits on memory and launches a little. */
  static final double MAX_COMPUTE_SHARE = 0.95;
  /**
   * Clock below which the GPU's voltage stops falling (DVFS floor): above it clock-domain power goes as f³, below it
   * only as f, so compute-bound work stops saving energy and starts paying idle power for longer.
   */
  static final double VOLTAGE_FLOOR_MHZ = 1300;
  /** Share of the dynamic power of purely memory-bound time that is HBM traffic rather than the clock domain. */
  static final double HBM_SHARE_OF_MEMORY_BOUND_POWER = 0.30;
  /**
   * Power a busy GPU draws above idle whatever its clock: leakage at operating voltage and temperature, L2/HBM/NVLink
   * PHYs awake. Work that stretches at a lower clock pays it for longer.
   */
  static final double BUSY_BASELINE_W = 150;
  /** Effective HBM bandwidth of decode attention reading the KV cache, bytes/s (≈ 72 % of 3.35 TB/s). */
  static final double KV_READ_BYTES_PER_S = 2.4e12;

  /** Clock levels the planners choose from: H100-supported clocks nearest the paper's 800 … 1980 MHz levels. */
  static final List<Integer> CLOCK_LEVELS = List.of(810, 1005, 1200, 1395, 1605, 1800, 1980);
  static final int MIN_MODELED_MHZ = 800;
  static final int MAX_MHZ = 1980;

  // ---- request lengths per type, from the Azure LLM inference trace 2023 (conversation), credit: Azure Public
  // Dataset. SL has few rows there; its prompt p99 is raised to the class's bound.
  static final Map<RequestType, TypeShape> SHAPES = shapes();

  private static Map<RequestType, TypeShape> shapes() {
    EnumMap<RequestType, TypeShape> m = new EnumMap<>(RequestType.class);
    m.put(RequestType.SS, new TypeShape(181, 251, 55, 98));
    m.put(RequestType.SM, new TypeShape(168, 241, 170, 272));
    m.put(RequestType.SL, new TypeShape(181, 250, 766, 1000));
    m.put(RequestType.MS, new TypeShape(446, 995, 78, 99));
    m.put(RequestType.MM, new TypeShape(455, 973, 122, 200));
    m.put(RequestType.ML, new TypeShape(985, 1023, 421, 620));
    m.put(RequestType.LS, new TypeShape(2981, 5272, 61, 99));
    m.put(RequestType.LM, new TypeShape(2160, 5776, 152, 283));
    m.put(RequestType.LL, new TypeShape(1111, 1339, 428, 673));
    return Map.copyOf(m);
  }

  private final PiecewiseLinear[] decodeMs = new PiecewiseLinear[3];
  private final PiecewiseLinear[] decodeW = new PiecewiseLinear[3];
  private final PiecewiseLinear[] prefillMs = new PiecewiseLinear[3];
  private final PiecewiseLinear[] prefillW = new PiecewiseLinear[3];
  private final PiecewiseLinear[] prefillMhz = new PiecewiseLinear[3];
  private final PiecewiseLinear[] allReduce = new PiecewiseLinear[3];

  public Llama2H100Profile() {
    for (int i = 0; i < 3; i++) {
      String tp = "TP" + (2 << i);
      decodeMs[i] = new PiecewiseLinear(tp + " decode time by batch", DECODE_BATCH, DECODE_MS[i]);
      decodeW[i] = new PiecewiseLinear(tp + " decode power by batch", DECODE_BATCH, DECODE_W[i]);
      // A prompt of one token is one forward pass of one token: the decode row of batch 1 stands for it, so short
      // prompts interpolate between two measurements rather than extrapolate below 128 tokens.
      double[] tokens = prepend(1, PREFILL_TOKENS);
      prefillMs[i] = new PiecewiseLinear(tp + " prefill time by prompt tokens", tokens, prepend(DECODE_MS[i][0], PREFILL_MS[i]));
      prefillW[i] = new PiecewiseLinear(tp + " prefill power by prompt tokens", tokens, prepend(DECODE_W[i][0], PREFILL_W[i]));
      prefillMhz[i] = new PiecewiseLinear(tp + " prefill clock by prompt tokens", tokens, prepend(MAX_MHZ, PREFILL_SM_MHZ[i]));
      allReduce[i] = new PiecewiseLinear(tp + " all-reduce time by log2(bytes)", ALL_REDUCE_LOG2_BYTES, ALL_REDUCE_MS[i]);
    }
  }

  @Override
  public String model() {
    return "Llama2-70B";
  }

  @Override
  public String hardware() {
    return "DGX H100 (8x H100 80GB HBM3, NVLink)";
  }

  @Override
  public List<TensorParallelism> tensorParallelisms() {
    return TensorParallelism.PAPER_DEGREES;
  }

  @Override
  public List<Integer> clockLevelsMhz() {
    return CLOCK_LEVELS;
  }

  @Override
  public double idlePowerW() {
    return IDLE_W;
  }

  @Override
  public int maxBatch(TensorParallelism tp) {
    index(tp);
    return MAX_BATCH;
  }

  @Override
  public long kvCacheTokens(TensorParallelism tp) {
    int g = tp.degree();
    index(tp);
    double perGpuFree = GPU_MEMORY_BYTES * GPU_MEMORY_UTILIZATION - RESERVED_BYTES_PER_GPU
        - PARAMETERS * BYTES_PER_VALUE / g;
    return (long) Math.floor(perGpuFree * g / KV_BYTES_PER_TOKEN);
  }

  @Override
  public TypeShape shape(RequestType type) {
    return SHAPES.get(type);
  }

  // ---------------------------------------------------------------- iteration level

  @Override
  public double prefillMs(TensorParallelism tp, int tokens, int clockMhz) {
    int i = index(tp);
    checkClock(clockMhz);
    checkTokens(tokens);
    double measured = prefillMs[i].at(tokens);
    double measuredMhz = prefillMhz[i].at(tokens);
    double share = computeShare(tokens, measured, tp.degree(), tokens / 2.0);
    return scaleTime(measured, share, measuredMhz, clockMhz) + allReduceMs(i, tokens);
  }

  @Override
  public double decodeStepMs(TensorParallelism tp, double batch, double contextTokens, int clockMhz) {
    int i = index(tp);
    checkClock(clockMhz);
    checkBatch(batch);
    if (contextTokens < 0 || contextTokens > 8192 || Double.isNaN(contextTokens)) {
      throw new ProfileRangeException("decode context is known for 0 to 8192 tokens, asked for " + contextTokens);
    }
    double b = Math.max(1, batch);
    double shard = shardDecodeMs(i, tp.degree(), b, contextTokens);
    double share = computeShare(b, shard, tp.degree(), contextTokens);
    return scaleTime(shard, share, MAX_MHZ, clockMhz) + allReduceMs(i, (int) Math.ceil(b));
  }

  @Override
  public double prefillPowerW(TensorParallelism tp, int tokens, int clockMhz) {
    int i = index(tp);
    checkClock(clockMhz);
    checkTokens(tokens);
    double measured = prefillMs[i].at(tokens);
    double share = computeShare(tokens, measured, tp.degree(), tokens / 2.0);
    return scalePower(prefillW[i].at(tokens), share, prefillMhz[i].at(tokens), clockMhz);
  }

  @Override
  public double decodePowerW(TensorParallelism tp, double batch, int clockMhz) {
    int i = index(tp);
    checkClock(clockMhz);
    checkBatch(batch);
    double b = Math.max(1, batch);
    double shard = decodeMs[i].at(b);
    double share = computeShare(b, shard, tp.degree(), DECODE_MEASURED_CONTEXT);
    return scalePower(decodeW[i].at(b), share, MAX_MHZ, clockMhz);
  }

  /** Shard decode time at a context other than the measured 1024: the KV-cache read changes with the context. */
  private double shardDecodeMs(int i, int degree, double batch, double context) {
    double measured = decodeMs[i].at(batch);
    double kvBytesPerGpu = KV_BYTES_PER_TOKEN / Math.min(degree, KV_HEADS);
    // Positive for every measured batch even at context 0: the KV read is under a third of each measured time.
    double deltaMs = batch * (context - DECODE_MEASURED_CONTEXT) * kvBytesPerGpu / KV_READ_BYTES_PER_S * 1e3;
    return measured + deltaMs;
  }

  /**
   * Share of an iteration's time that is compute-bound and so scales with 1/clock: the FLOPs of the tokens processed
   * (weights plus attention over {@code attendedContext}) at the sustained rate, relative to the measured time.
   */
  static double computeShare(double tokens, double measuredMs, int degree, double attendedContext) {
    double flopsPerToken = 2 * PARAMETERS + 4.0 * attendedContext * HIDDEN * LAYERS;
    double computeMs = tokens * flopsPerToken / degree / SUSTAINED_FLOPS_AT_MAX * 1e3;
    double share = MIN_COMPUTE_SHARE + (1 - MIN_COMPUTE_SHARE) * computeMs / measuredMs;
    return Math.min(MAX_COMPUTE_SHARE, share);
  }

  /**
   * Time at {@code clockMhz} of work measured at {@code measuredMhz}: the compute-bound share stretches with the
   * clock ratio. A clock above the measured one does not speed work up: the measured clock was already the
   * highest the power cap allowed.
   */
  static double scaleTime(double measuredMs, double computeShare, double measuredMhz, int clockMhz) {
    double effective = Math.min(clockMhz, measuredMhz);
    return measuredMs * ((1 - computeShare) + computeShare * measuredMhz / effective);
  }

  /**
   * Power at {@code clockMhz} of work measured at {@code measuredMhz}. Idle power stays. Of the dynamic power above
   * idle, the HBM part (a share of the memory-bound time) moves the same bytes over a possibly longer iteration, so
   * it falls with the stretch; the rest is the graphics clock domain (SMs, L2, crossbar), busy whether the kernel is
   * compute- or memory-bound, and scales with f·V(f)², where the voltage falls with the clock down to a floor.
   */
  static double scalePower(double measuredW, double computeShare, double measuredMhz, int clockMhz) {
    double effective = Math.min(clockMhz, measuredMhz);
    double ratio = effective / measuredMhz;
    double stretch = (1 - computeShare) + computeShare / ratio;
    double baseline = Math.min(BUSY_BASELINE_W, Math.max(0, measuredW - IDLE_W));
    double dynamic = Math.max(0, measuredW - IDLE_W - baseline);
    double hbm = HBM_SHARE_OF_MEMORY_BOUND_POWER * (1 - computeShare) * dynamic;
    double clockDomain = dynamic - hbm;
    return IDLE_W + baseline + hbm / stretch + clockDomain * clockPower(effective) / clockPower(measuredMhz);
  }

  /** Relative power of the graphics clock domain at {@code mhz}: f·V², V ∝ f above the voltage floor. */
  static double clockPower(double mhz) {
    double v = Math.max(VOLTAGE_FLOOR_MHZ, mhz) / MAX_MHZ;
    return mhz / MAX_MHZ * v * v;
  }

  /**
   * All-reduce time of one iteration over {@code tokens} tokens: 160 all-reduces of tokens × hidden × 2 bytes,
   * looked up in the measured table. Below 8 KiB the smallest measured (latency-bound) time is used; above 64 MiB
   * time grows linearly with bytes at the bandwidth of the two largest measured sizes — both stated in
   * docs/profile.md.
   */
  private double allReduceMs(int i, int tokens) {
    double bytes = (double) tokens * HIDDEN * BYTES_PER_VALUE;
    double log2 = Math.log(bytes) / Math.log(2);
    double[] table = ALL_REDUCE_MS[i];
    double each;
    if (log2 <= ALL_REDUCE_LOG2_BYTES[0]) {
      each = table[0];
    } else if (log2 >= ALL_REDUCE_LOG2_BYTES[ALL_REDUCE_LOG2_BYTES.length - 1]) {
      int n = table.length;
      double largest = Math.pow(2, ALL_REDUCE_LOG2_BYTES[n - 1]);
      double perByte = (table[n - 1] - table[n - 2]) / (largest / 2);
      each = table[n - 1] + (bytes - largest) * perByte;
    } else {
      each = allReduce[i].at(log2);
    }
    return ALL_REDUCES_PER_ITERATION * each;
  }

  // ---------------------------------------------------------------- load level

  @Override
  public Slo aloneLatency(RequestType type) {
    TypeShape s = shape(type);
    double ttft = prefillMs(TensorParallelism.TP8, s.p99InputTokens(), MAX_MHZ);
    double tbt = decodeStepMs(TensorParallelism.TP8, 1, s.meanDecodeContext(), MAX_MHZ);
    return new Slo(ttft, tbt);
  }

  @Override
  public LoadPoint estimate(RequestType type, TensorParallelism tp, int clockMhz, double loadRps) {
    if (!(loadRps > 0) || Double.isInfinite(loadRps)) {
      throw new IllegalArgumentException("load must be a positive, finite number of requests per second, got " + loadRps);
    }
    return LoadModel.estimate(this, shape(type), tp, clockMhz, loadRps);
  }

  // ---------------------------------------------------------------- checks

  private static int index(TensorParallelism tp) {
    return switch (tp.degree()) {
      case 2 -> 0;
      case 4 -> 1;
      case 8 -> 2;
      default -> throw new ProfileRangeException(
          "the Llama2-70B / DGX H100 profile covers TP2, TP4 and TP8, asked for " + tp);
    };
  }

  private static void checkClock(int mhz) {
    if (mhz < MIN_MODELED_MHZ || mhz > MAX_MHZ) {
      throw new ProfileRangeException(
          "the clock model covers " + MIN_MODELED_MHZ + " to " + MAX_MHZ + " MHz, asked for " + mhz + " MHz");
    }
  }

  private static void checkTokens(int tokens) {
    if (tokens < 1 || tokens > 8192) {
      throw new ProfileRangeException("prefill is known for prompts of 1 to 8192 tokens, asked for " + tokens);
    }
  }

  private static void checkBatch(double batch) {
    if (!(batch >= 0) || batch > MAX_BATCH) {
      throw new ProfileRangeException("decode is known for batches of 1 to " + MAX_BATCH + ", asked for " + batch);
    }
  }

  private static double[] prepend(double first, double[] rest) {
    double[] out = new double[rest.length + 1];
    out[0] = first;
    System.arraycopy(rest, 0, out, 1, rest.length);
    return out;
  }
}
