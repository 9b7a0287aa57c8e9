package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.ProfileDocument.Architecture;
import io.dynamollm.protocol.profile.ProfileDocument.ContextPoint;
import io.dynamollm.protocol.profile.ProfileDocument.FrequencyModel;
import io.dynamollm.protocol.profile.ProfileDocument.TpSeries;
import io.dynamollm.protocol.profile.ProfileJson.ProfileFormatException;
import java.util.List;

/**
 * A {@link Profile} from a profile file's series ({@link ProfileDocument}): interpolation through the measured points
 * at the measured clock, and the modeled frequency axis of docs/profile.md for other clocks.
 *
 * <p>Per degree: decode-step time and power by batch at the measured context, the context's effect as a KV-cache
 * read at a bandwidth fitted to the degree's {@code decode_context} points (or the frequency model's bandwidth where
 * there are none), prefill time, power and held clock by prompt length, all-reduce time by message size. Every
 * constant of the frequency model comes from the file.
 */
public final class TableProfile implements Profile {
  private final ProfileDocument doc;
  private final List<TensorParallelism> degrees;
  private final Series[] series;

  /** One degree's interpolated series. */
  private record Series(
      TpSeries data,
      PiecewiseLinear decodeMs,
      PiecewiseLinear decodeW,
      PiecewiseLinear prefillMs,
      PiecewiseLinear prefillW,
      PiecewiseLinear prefillMhz,
      PiecewiseLinear allReduce,
      double kvReadBytesPerS) {}

  /**
   * @throws ProfileFormatException when a degree's {@code decode_context} points do not show the decode step growing
   *     with context (no bandwidth can be fitted)
   */
  public TableProfile(ProfileDocument doc) {
    this.doc = doc;
    this.degrees = doc.tensorParallel().stream().map(s -> TensorParallelism.of(s.tp())).toList();
    this.series = new Series[doc.tensorParallel().size()];
    int maxMhz = doc.clocks().maxMhz();
    for (int i = 0; i < series.length; i++) {
      TpSeries s = doc.tensorParallel().get(i);
      String tp = "TP" + s.tp();
      var d = s.decode();
      var p = s.prefill();
      PiecewiseLinear decodeMs = new PiecewiseLinear(tp + " decode time by batch", d.batch(), d.ms());
      // A prompt of one token is one forward pass of one token: the decode row of batch 1 stands for it, so short
      // prompts interpolate between two measurements rather than extrapolate below the shortest measured prompt.
      double[] tokens = prepend(1, p.tokens());
      series[i] = new Series(s, decodeMs,
          new PiecewiseLinear(tp + " decode power by batch", d.batch(), d.powerW()),
          new PiecewiseLinear(tp + " prefill time by prompt tokens", tokens, prepend(d.ms()[0], p.ms())),
          new PiecewiseLinear(tp + " prefill power by prompt tokens", tokens, prepend(d.powerW()[0], p.powerW())),
          new PiecewiseLinear(tp + " prefill clock by prompt tokens", tokens, prepend(maxMhz, p.smMhz())),
          new PiecewiseLinear(tp + " all-reduce time by log2(bytes)", s.allReduce().log2Bytes(), s.allReduce().ms()),
          kvReadBandwidth(i, s, decodeMs));
    }
  }

  /** The document this profile was built from. */
  public ProfileDocument document() {
    return doc;
  }

  /**
   * Effective KV-read bandwidth of degree {@code s}, bytes/s: the least-squares fit through the origin of the measured
   * extra decode time against the extra KV bytes read per GPU, or the frequency model's where nothing was measured.
   */
  private double kvReadBandwidth(int index, TpSeries s, PiecewiseLinear decodeMs) {
    List<ContextPoint> points = s.decodeContext();
    if (points.isEmpty()) {
      return doc.frequencyModel().kvReadBytesPerS();
    }
    double perGpu = kvBytesPerGpu(s.tp());
    double sxy = 0;
    double sxx = 0;
    for (ContextPoint p : points) {
      double bytes = p.batch() * (p.contextTokens() - s.decode().contextTokens()) * perGpu;
      double extraMs = p.ms() - decodeMs.at(p.batch());
      sxy += bytes * extraMs;
      sxx += bytes * bytes;
    }
    if (!(sxx > 0) || !(sxy > 0)) {
      throw new ProfileFormatException("tensor_parallel[" + index + "].decode_context: the points must show the"
          + " decode step growing with context (longer than decode.context_tokens slower, shorter faster)");
    }
    return sxx / sxy * 1e3;
  }

  /**
   * Effective KV-read bandwidth the profile uses for {@code tp}, bytes/s (fitted to its measured contexts, or the
   * frequency model's).
   */
  public double kvReadBytesPerS(TensorParallelism tp) {
    return series(tp).kvReadBytesPerS();
  }

  @Override
  public String model() {
    return doc.model();
  }

  @Override
  public String hardware() {
    return doc.hardware();
  }

  @Override
  public List<TensorParallelism> tensorParallelisms() {
    return degrees;
  }

  @Override
  public List<Integer> clockLevelsMhz() {
    return doc.clocks().levelsMhz();
  }

  @Override
  public double idlePowerW() {
    return doc.idlePowerW();
  }

  @Override
  public double loadingPowerW() {
    return doc.loadingPowerW();
  }

  @Override
  public int maxBatch(TensorParallelism tp) {
    return series(tp).data().maxBatch();
  }

  @Override
  public long kvCacheTokens(TensorParallelism tp) {
    return series(tp).data().kvCacheTokens();
  }

  @Override
  public TypeShape shape(RequestType type) {
    return doc.requestShapes().get(type);
  }

  // ---------------------------------------------------------------- iteration level

  @Override
  public double prefillMs(TensorParallelism tp, int tokens, int clockMhz) {
    Series s = prefillSeries(tp, tokens, clockMhz);
    return scaleTime(s.prefillMs().at(tokens), prefillShare(s, tp, tokens), s.prefillMhz().at(tokens), clockMhz)
        + allReduceMs(s, tokens);
  }

  @Override
  public double decodeStepMs(TensorParallelism tp, double batch, double contextTokens, int clockMhz) {
    Series s = series(tp);
    checkClock(clockMhz);
    checkBatch(s, batch);
    int maxContext = s.data().maxContextTokens();
    if (contextTokens < 0 || contextTokens > maxContext || Double.isNaN(contextTokens)) {
      throw new ProfileRangeException(
          "decode context is known for 0 to " + maxContext + " tokens, asked for " + contextTokens);
    }
    double b = Math.max(1, batch);
    double shard = shardDecodeMs(s, tp.degree(), b, contextTokens);
    double share = computeShare(b, shard, tp.degree(), contextTokens);
    return scaleTime(shard, share, doc.clocks().maxMhz(), clockMhz) + allReduceMs(s, (int) Math.ceil(b));
  }

  @Override
  public double prefillPowerW(TensorParallelism tp, int tokens, int clockMhz) {
    Series s = prefillSeries(tp, tokens, clockMhz);
    return scalePower(s.prefillW().at(tokens), prefillShare(s, tp, tokens), s.prefillMhz().at(tokens), clockMhz);
  }

  /** The measured held clock where it is below the one asked for (prefill.sm_mhz, interpolated by prompt length). */
  @Override
  public int prefillHeldClockMhz(TensorParallelism tp, int tokens, int clockMhz) {
    Series s = prefillSeries(tp, tokens, clockMhz);
    return (int) Math.min(clockMhz, Math.round(s.prefillMhz().at(tokens)));
  }

  /**
   * Time of the all-reduces of one iteration over {@code tokens} tokens on {@code tp} (the part of an instance's
   * iteration that is not its shard's; {@code profile build} takes it off what it measures).
   */
  public double allReduceMs(TensorParallelism tp, int tokens) {
    return allReduceMs(series(tp), tokens);
  }

  /** The series of {@code tp}, once the prompt length and the clock are known to be within the profile. */
  private Series prefillSeries(TensorParallelism tp, int tokens, int clockMhz) {
    Series s = series(tp);
    checkClock(clockMhz);
    checkTokens(s, tokens);
    return s;
  }

  /** The compute-bound share of a prefill of {@code tokens}: weights plus attention over half the prompt. */
  private double prefillShare(Series s, TensorParallelism tp, int tokens) {
    return computeShare(tokens, s.prefillMs().at(tokens), tp.degree(), tokens / 2.0);
  }

  @Override
  public double decodePowerW(TensorParallelism tp, double batch, int clockMhz) {
    Series s = series(tp);
    checkClock(clockMhz);
    checkBatch(s, batch);
    double b = Math.max(1, batch);
    double shard = s.decodeMs().at(b);
    double share = computeShare(b, shard, tp.degree(), s.data().decode().contextTokens());
    return scalePower(s.decodeW().at(b), share, doc.clocks().maxMhz(), clockMhz);
  }

  private double kvBytesPerGpu(int degree) {
    Architecture a = doc.architecture();
    return a.kvBytesPerToken() / Math.min(degree, a.kvHeads());
  }

  /**
   * Shard decode time at a context other than the measured one: the KV-cache read changes with the context. Never
   * below a tenth of the measured time (a context far shorter than any measured one cannot make weights free).
   */
  private double shardDecodeMs(Series s, int degree, double batch, double context) {
    double measured = s.decodeMs().at(batch);
    double deltaMs = batch * (context - s.data().decode().contextTokens()) * kvBytesPerGpu(degree)
        / s.kvReadBytesPerS() * 1e3;
    return Math.max(measured / 10, measured + deltaMs);
  }

  /**
   * Share of an iteration's time that is compute-bound and so scales with 1/clock: the FLOPs of the tokens processed
   * (weights plus attention over {@code attendedContext}) at the sustained rate, relative to the measured time.
   */
  private double computeShare(double tokens, double measuredMs, int degree, double attendedContext) {
    Architecture a = doc.architecture();
    FrequencyModel f = doc.frequencyModel();
    double flopsPerToken = 2 * a.parameters() + 4.0 * attendedContext * a.hidden() * a.layers();
    double computeMs = tokens * flopsPerToken / degree / f.sustainedFlopsAtMax() * 1e3;
    double share = f.minComputeShare() + (1 - f.minComputeShare()) * computeMs / measuredMs;
    return Math.min(f.maxComputeShare(), share);
  }

  /**
   * Time at {@code clockMhz} of work measured at {@code measuredMhz}: the compute-bound share stretches with the
   * clock ratio. A clock above the measured one does not speed work up: the measured clock was already the
   * highest the power cap allowed.
   */
  private static double scaleTime(double measuredMs, double computeShare, double measuredMhz, int clockMhz) {
    double effective = Math.min(clockMhz, measuredMhz);
    return measuredMs * ((1 - computeShare) + computeShare * measuredMhz / effective);
  }

  /**
   * Power at {@code clockMhz} of work measured at {@code measuredMhz}. Idle power stays. Of the dynamic power above
   * idle, the HBM part (a share of the memory-bound time) moves the same bytes over a possibly longer iteration, so
   * it falls with the stretch; the rest is the graphics clock domain (SMs, L2, crossbar), busy whether the kernel is
   * compute- or memory-bound, and scales with f·V(f)², where the voltage falls with the clock down to a floor.
   */
  private double scalePower(double measuredW, double computeShare, double measuredMhz, int clockMhz) {
    FrequencyModel f = doc.frequencyModel();
    double idle = doc.idlePowerW();
    double effective = Math.min(clockMhz, measuredMhz);
    double ratio = effective / measuredMhz;
    double stretch = (1 - computeShare) + computeShare / ratio;
    double baseline = Math.min(f.busyBaselineW(), Math.max(0, measuredW - idle));
    double dynamic = Math.max(0, measuredW - idle - baseline);
    double hbm = f.hbmShareOfMemoryBoundPower() * (1 - computeShare) * dynamic;
    double clockDomain = dynamic - hbm;
    return idle + baseline + hbm / stretch + clockDomain * clockPower(effective) / clockPower(measuredMhz);
  }

  /** Relative power of the graphics clock domain at {@code mhz}: f·V², V ∝ f above the voltage floor. */
  private double clockPower(double mhz) {
    double max = doc.clocks().maxMhz();
    double v = Math.max(doc.frequencyModel().voltageFloorMhz(), mhz) / max;
    return mhz / max * v * v;
  }

  /**
   * All-reduce time of one iteration over {@code tokens} tokens: two all-reduces per layer of tokens × hidden × bytes
   * per value, looked up in the measured table. Below the smallest measured size the smallest (latency-bound) time is
   * used; above the largest, time grows linearly with bytes at the bandwidth of the two largest measured sizes — both
   * stated in docs/profile.md. A degree of 1 has none.
   */
  private double allReduceMs(Series s, int tokens) {
    if (s.data().tp() == 1) {
      return 0;
    }
    Architecture a = doc.architecture();
    double bytes = (double) tokens * a.hidden() * a.bytesPerValue();
    double log2 = Math.log(bytes) / Math.log(2);
    double[] sizes = s.data().allReduce().log2Bytes();
    double[] table = s.data().allReduce().ms();
    int n = table.length;
    double each;
    if (log2 <= sizes[0]) {
      each = table[0];
    } else if (log2 >= sizes[n - 1]) {
      double largest = Math.pow(2, sizes[n - 1]);
      double perByte = (table[n - 1] - table[n - 2]) / (largest - Math.pow(2, sizes[n - 2]));
      each = table[n - 1] + (bytes - largest) * perByte;
    } else {
      each = s.allReduce().at(log2);
    }
    return 2.0 * a.layers() * each;
  }

  // ---------------------------------------------------------------- load level

  @Override
  public Slo aloneLatency(RequestType type) {
    TypeShape s = shape(type);
    int max = doc.clocks().maxMhz();
    double ttft = prefillMs(TensorParallelism.TP8, s.p99InputTokens(), max);
    double tbt = decodeStepMs(TensorParallelism.TP8, 1, s.meanDecodeContext(), max);
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

  private Series series(TensorParallelism tp) {
    for (Series s : series) {
      if (s.data().tp() == tp.degree()) {
        return s;
      }
    }
    throw new ProfileRangeException("the " + doc.model() + " / " + doc.hardware() + " profile covers "
        + String.join(", ", degrees.stream().map(TensorParallelism::toString).toList()) + ", asked for " + tp);
  }

  private void checkClock(int mhz) {
    int min = doc.clocks().minMhz();
    int max = doc.clocks().maxMhz();
    if (mhz < min || mhz > max) {
      throw new ProfileRangeException(
          "the clock model covers " + min + " to " + max + " MHz, asked for " + mhz + " MHz");
    }
  }

  private static void checkTokens(Series s, int tokens) {
    double[] measured = s.data().prefill().tokens();
    long max = (long) measured[measured.length - 1];
    if (tokens < 1 || tokens > max) {
      throw new ProfileRangeException("prefill is known for prompts of 1 to " + max + " tokens, asked for " + tokens);
    }
  }

  private static void checkBatch(Series s, double batch) {
    int max = s.data().maxBatch();
    if (!(batch >= 0) || batch > max) {
      throw new ProfileRangeException("decode is known for batches of 1 to " + max + ", asked for " + batch);
    }
  }

  private static double[] prepend(double first, double[] rest) {
    double[] out = new double[rest.length + 1];
    out[0] = first;
    System.arraycopy(rest, 0, out, 1, rest.length);
    return out;
  }
}
