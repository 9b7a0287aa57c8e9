package io.dynamollm.control.profiler;

import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Measurements;
import io.dynamollm.protocol.profile.Measurements.Kind;
import io.dynamollm.protocol.profile.Measurements.Row;
import io.dynamollm.protocol.profile.ProfileDocument;
import io.dynamollm.protocol.profile.ProfileDocument.TpSeries;
import io.dynamollm.protocol.profile.TableProfile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Measures one engine (one tensor-parallel degree on its GPUs) through its OpenAI API and its GPUs, point by point:
 * the idle GPUs, the KV-cache capacity, the decode step by batch at one context and at others, the time to first
 * token by prompt length. Each finished point is appended to a journal ({@link Measurements}) at once, so an
 * interrupted run keeps what it measured and a resumed one skips it. Only reads the GPUs — the clock stays what the
 * host runs at, and the profile says the frequency axis is modeled — unless the plan sweeps clocks: then, after the
 * series at the GPUs' own clocks, a few decode batches and prompts are measured again with the GPUs locked at each
 * clock of the sweep ({@link ClockLock}), and the profile's frequency model is fitted to them.
 *
 * <p>docs/profile.md, "Building a profile from a live engine", says how each point is measured and turned into a
 * profile ({@link io.dynamollm.protocol.profile.ProfileBuild}).
 */
public final class EngineProfiler {

  /**
   * What to measure.
   *
   * @param tp the engine's degree
   * @param batches decode batch sizes, ascending, starting at 1
   * @param contextTokens the context of the decode series
   * @param contexts other contexts, at {@code contextBatch}, for the context's effect
   * @param contextBatch the batch of the context points (smaller where the KV cache cannot hold it)
   * @param prompts prompt lengths for the prefill series (a one-token prompt is measured too)
   * @param repeats lone prompts per prompt length (the median counts)
   * @param decodeSteps decode steps each batch is timed over, at least
   * @param timeScale how many times faster than real time the engine runs (engine-sim's --speedup; 1 for a real
   *     engine): measured times are multiplied by it
   * @param kvCacheTokens the engine's KV-cache capacity when its metrics do not say it
   * @param sweepMhz clocks to lock the GPUs at for the frequency axis, ascending (empty: the clocks are not touched)
   */
  public record Plan(TensorParallelism tp, List<Integer> batches, int contextTokens, List<Integer> contexts,
      int contextBatch, List<Integer> prompts, int repeats, int decodeSteps, double timeScale,
      OptionalLong kvCacheTokens, List<Integer> sweepMhz) {
    public Plan {
      batches = List.copyOf(batches);
      contexts = List.copyOf(contexts);
      prompts = List.copyOf(prompts);
      sweepMhz = List.copyOf(sweepMhz);
      for (int i = 0; i < sweepMhz.size(); i++) {
        if (sweepMhz.get(i) <= 0 || i > 0 && sweepMhz.get(i) <= sweepMhz.get(i - 1)) {
          throw new IllegalArgumentException("the clocks to sweep must be positive and ascending, got " + sweepMhz);
        }
      }
      if (batches.size() < 2 || batches.get(0) != 1) {
        throw new IllegalArgumentException("decode batches must start at 1 and have at least two, got " + batches);
      }
      for (int i = 1; i < batches.size(); i++) {
        if (batches.get(i) <= batches.get(i - 1)) {
          throw new IllegalArgumentException("decode batches must increase, got " + batches);
        }
      }
      if (prompts.size() < 2 || prompts.stream().anyMatch(p -> p < 2)) {
        throw new IllegalArgumentException("at least two prompt lengths of 2 tokens or more are needed, got " + prompts);
      }
      if (contextTokens < 16 || contexts.stream().anyMatch(c -> c < 16 || c == contextTokens) || contextBatch < 1) {
        throw new IllegalArgumentException("contexts must be 16 tokens or more, other than the series' "
            + contextTokens + "; got " + contexts + " at batch " + contextBatch);
      }
      if (repeats < 1 || repeats > 100 || decodeSteps < 8 || decodeSteps > 10_000) {
        throw new IllegalArgumentException("repeats must be 1-100 and decode steps 8-10000, got " + repeats + " and "
            + decodeSteps);
      }
      if (!(timeScale >= 1 && timeScale <= 1000)) {
        throw new IllegalArgumentException("the time scale must be 1-1000, got " + timeScale);
      }
    }

    /** A plan that does not touch the clocks. */
    public Plan(TensorParallelism tp, List<Integer> batches, int contextTokens, List<Integer> contexts,
        int contextBatch, List<Integer> prompts, int repeats, int decodeSteps, double timeScale,
        OptionalLong kvCacheTokens) {
      this(tp, batches, contextTokens, contexts, contextBatch, prompts, repeats, decodeSteps, timeScale, kvCacheTokens,
          List.of());
    }

    /** The same, sweeping {@code clocksMhz}. */
    public Plan sweeping(List<Integer> clocksMhz) {
      return new Plan(tp, batches, contextTokens, contexts, contextBatch, prompts, repeats, decodeSteps, timeScale,
          kvCacheTokens, clocksMhz);
    }

    /**
     * The points the base profile's series of {@code tp} are measured at: its decode batches, context and
     * context points (else 256 and 4,096 tokens at batch 32) and prompt lengths.
     */
    public static Plan like(ProfileDocument base, TensorParallelism tp, int repeats, int decodeSteps,
        double timeScale, OptionalLong kvCacheTokens) {
      TpSeries s = base.series(tp.degree()).orElseThrow(() -> new IllegalArgumentException("the base profile ("
          + base.hardware() + ") has no " + tp + "; it gives each degree's all-reduce times"));
      List<Integer> batches = Arrays.stream(s.decode().batch()).mapToInt(b -> (int) b).boxed().toList();
      int context = (int) s.decode().contextTokens();
      List<Integer> contexts = s.decodeContext().stream().map(p -> (int) p.contextTokens()).distinct().sorted().toList();
      int contextBatch = s.decodeContext().isEmpty() ? 32 : (int) s.decodeContext().get(0).batch();
      if (contexts.isEmpty()) {
        contexts = List.of(256, 4096);
      }
      List<Integer> prompts = Arrays.stream(s.prefill().tokens()).mapToInt(t -> (int) t).boxed().toList();
      return new Plan(tp, batches, context, contexts, contextBatch, prompts, repeats, decodeSteps, timeScale,
          kvCacheTokens);
    }
  }

  /** Hears how far the run is. */
  public interface Progress {
    /**
     * @param done points finished (skipped ones included)
     * @param total points in all
     * @param what the point now being measured, e.g. "decode batch 64 at 1,024 tokens"
     * @param leftS an estimate of the seconds left
     */
    void at(int done, int total, String what, double leftS);
  }

  /**
   * A point of the sweep, with the time it is expected to take (seconds of wall time) and the clock the GPUs are
   * locked at for it (0: their own).
   */
  private record Point(Kind kind, int batch, int tokens, double expectS, String what, int lockedMhz) {
    Point(Kind kind, int batch, int tokens, double expectS, String what) {
      this(kind, batch, tokens, expectS, what, 0);
    }

    /** The same point with the GPUs locked at {@code mhz}: it takes up to {@code maxMhz / mhz} as long. */
    Point at(int mhz, int maxMhz) {
      return new Point(kind, batch, tokens, expectS * Math.max(1, (double) maxMhz / mhz),
          what + " at " + mhz + " MHz", mhz);
    }
  }

  private static final int IDLE_MS = 1500;
  /** How often the engine's counters and the GPUs are read while a batch decodes, ms. */
  private static final int SAMPLE_MS = 20;
  /** Wall time a batch decodes for, at least, ms: enough readings for the counter's slope. */
  private static final int MIN_WINDOW_MS = 400;
  /** Share of the KV cache a batch may fill (vLLM reserves a little for itself). */
  private static final double KV_SHARE = 0.9;

  private final EngineClient engine;
  private final GpuMeter meter;
  private final TableProfile base;
  private final Plan plan;
  private final Path journal;
  private final Progress progress;
  private final Optional<ClockLock> clocks;
  private final List<Row> rows = new ArrayList<>();
  /** The clock the GPUs are locked at now (0: their own). */
  private int lockedMhz;

  /**
   * @param base the base profile: the expected time of each point (for the estimate of the time left) and the
   *     context a batch whose KV cache cannot hold the plan's is measured at
   * @param journal the measurements so far (rows already there are not measured again); created when absent
   */
  EngineProfiler(EngineClient engine, GpuMeter meter, TableProfile base, Plan plan, Path journal, Progress progress,
      Optional<ClockLock> clocks) throws IOException {
    if (!plan.sweepMhz().isEmpty() && clocks.isEmpty()) {
      throw new IllegalArgumentException("sweeping clocks needs a way to lock them");
    }
    this.clocks = clocks;
    this.engine = engine;
    this.meter = meter;
    this.base = base;
    this.plan = plan;
    this.journal = journal;
    this.progress = progress;
    if (Files.exists(journal)) {
      rows.addAll(Measurements.read(journal.toString(), Files.readString(journal)));
      if (rows.stream().anyMatch(r -> r.tp() != plan.tp().degree() && r.kind() != Kind.IDLE)) {
        throw new IllegalArgumentException(journal + " holds measurements of another degree than " + plan.tp()
            + "; give each run its own journal");
      }
    } else {
      Files.writeString(journal, Measurements.HEADER + "\n", StandardCharsets.UTF_8);
    }
  }

  /** The measurements, the journal's earlier ones first. */
  List<Row> rows() {
    return List.copyOf(rows);
  }

  /** How many points the journal already held. */
  int resumed() {
    return rows.size();
  }

  /** Measures every point not yet in the journal; returns every row. */
  List<Row> run() throws IOException, InterruptedException {
    waitUntilIdle();
    long kv = kvCacheTokens();
    List<Point> points = points(kv);
    int done = 0;
    double left = points.stream().mapToDouble(Point::expectS).sum();
    for (Point p : points) {
      progress.at(done, points.size(), p.what(), left);
      Row already = find(p);
      if (already == null) {
        lock(p.lockedMhz());
        Row r = measure(p, kv).lockedAt(p.lockedMhz());
        rows.add(r);
        Files.writeString(journal, r.csv() + "\n", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
      }
      done++;
      left -= p.expectS();
    }
    lock(0);
    progress.at(done, points.size(), "done", 0);
    return rows();
  }

  /** Locks the GPUs at {@code mhz} (0: gives them their own clocks back) where they are not already. */
  private void lock(int mhz) throws IOException {
    if (mhz == lockedMhz) {
      return;
    }
    if (mhz == 0) {
      clocks.orElseThrow().reset();
    } else {
      clocks.orElseThrow().lock(mhz);
    }
    lockedMhz = mhz;
  }

  private Row find(Point p) {
    boolean decode = p.kind() == Kind.DECODE || p.kind() == Kind.DECODE_CONTEXT;
    Row probe = new Row(p.kind(), plan.tp().degree(), decode ? p.batch() : Double.NaN, p.tokens(), 0, 0, 0, 0,
        p.lockedMhz());
    return rows.stream().filter(r -> r.samePoint(probe)).findFirst().orElse(null);
  }

  // ------------------------------------------------------------------------------------------------ the sweep

  /**
   * Output tokens each sequence of a batch of {@code b} generates: the plan's steps, more where they would pass in
   * under {@value #MIN_WINDOW_MS} ms of wall time (the engine's counters are read every {@value #SAMPLE_MS} ms), and
   * a few to fill the batch and drain it.
   */
  private int outputTokens(int b) {
    TensorParallelism tp = plan.tp();
    double stepMs = base.decodeStepMs(tp, Math.min(b, base.maxBatch(tp)), plan.contextTokens() <= maxContext()
        ? plan.contextTokens() : maxContext(), maxMhz());
    int forWindow = (int) Math.ceil(MIN_WINDOW_MS * plan.timeScale() / stepMs);
    return Math.min(2048, Math.max(plan.decodeSteps(), forWindow)) + 8;
  }

  /** The context batch {@code b} is measured at: the plan's, or what the KV cache holds for {@code b} sequences. */
  private int contextFor(int b, int wanted, long kv) {
    long fits = (long) Math.floor(KV_SHARE * kv / b) - outputTokens(b);
    return (int) Math.min(wanted, fits);
  }

  private int maxMhz() {
    return base.clockLevelsMhz().get(base.clockLevelsMhz().size() - 1);
  }

  private int maxContext() {
    return base.document().series(plan.tp().degree()).orElseThrow().maxContextTokens();
  }

  private List<Point> points(long kv) {
    List<Point> out = new ArrayList<>();
    TensorParallelism tp = plan.tp();
    out.add(new Point(Kind.IDLE, 0, 0, IDLE_MS / 1000.0 + 0.2, "idle GPUs"));
    out.add(new Point(Kind.KV_CACHE, 0, (int) Math.min(Integer.MAX_VALUE, kv), 0, "KV-cache capacity"));
    for (int b : plan.batches()) {
      int ctx = contextFor(b, plan.contextTokens(), kv);
      if (ctx < 32) {
        break; // this batch and larger ones do not fit: the series ends before them (max_batch)
      }
      out.add(decodePoint(Kind.DECODE, b, ctx));
    }
    int cb = plan.contextBatch();
    for (int c : plan.contexts()) {
      int b = cb;
      while (b > 1 && contextFor(b, c, kv) < c) {
        b /= 2;
      }
      if (contextFor(b, c, kv) >= c) {
        out.add(decodePoint(Kind.DECODE_CONTEXT, b, c));
      }
    }
    List<Integer> prompts = new ArrayList<>();
    prompts.add(1);
    prompts.addAll(plan.prompts());
    List<Point> firstTokens = new ArrayList<>();
    for (int p : prompts) {
      int reps = p == 1 ? 2 * plan.repeats() : plan.repeats();
      double each = base.prefillMs(tp, Math.min(p, maxPrompt()), maxMhz()) / 1000 / plan.timeScale() + 0.01;
      firstTokens.add(new Point(Kind.FIRST_TOKEN, 0, p, reps * each + 0.1,
          String.format(Locale.ROOT, "first token of %,d-token prompts", p)));
    }
    out.addAll(firstTokens);
    // the frequency axis: at each clock swept, the smallest, a middle and the largest decode batch, and the one-token,
    // a middle and the longest prompt (enough to fit the model's constants; docs/profile.md 5c)
    List<Point> decodes = out.stream().filter(p -> p.kind() == Kind.DECODE).toList();
    List<Point> sweep = new ArrayList<>();
    if (!decodes.isEmpty()) {
      sweep.addAll(ends(decodes));
    }
    sweep.add(firstTokens.get(0));
    sweep.addAll(ends(firstTokens.subList(1, firstTokens.size())));
    for (int mhz : plan.sweepMhz()) {
      sweep.forEach(p -> out.add(p.at(mhz, maxMhz())));
    }
    return out;
  }

  /** The first, the middle and the last of {@code points} (fewer where there are fewer). */
  private static List<Point> ends(List<Point> points) {
    java.util.LinkedHashSet<Point> picked = new java.util.LinkedHashSet<>();
    picked.add(points.get(0));
    picked.add(points.get(points.size() / 2));
    picked.add(points.get(points.size() - 1));
    return List.copyOf(picked);
  }

  /** The longest prompt the base profile knows (longer ones are estimated at it). */
  private int maxPrompt() {
    double[] tokens = base.document().series(plan.tp().degree()).orElseThrow().prefill().tokens();
    return (int) tokens[tokens.length - 1];
  }

  private Point decodePoint(Kind kind, int b, int ctx) {
    TensorParallelism tp = plan.tp();
    int prompt = promptFor(b, ctx);
    double prefillS = (double) b * base.prefillMs(tp, Math.min(Math.max(1, prompt), maxPrompt()), maxMhz()) / 1000;
    double decodeS = outputTokens(b) * base.decodeStepMs(tp, Math.min(b, base.maxBatch(tp)),
        Math.min(ctx, maxContext()), maxMhz()) / 1000;
    return new Point(kind, b, ctx, (prefillS + decodeS) / plan.timeScale() + 0.3,
        String.format(Locale.ROOT, "decode batch %d at %,d tokens", b, ctx));
  }

  /** The prompt that puts the middle of a batch of {@code b}'s steps at context {@code ctx}. */
  private int promptFor(int b, int ctx) {
    return Math.max(1, ctx - outputTokens(b) / 2);
  }

  private Row measure(Point p, long kv) throws IOException, InterruptedException {
    return switch (p.kind()) {
      case IDLE -> idle();
      case KV_CACHE -> new Row(Kind.KV_CACHE, plan.tp().degree(), Double.NaN, kv, Double.NaN, Double.NaN, Double.NaN,
          1);
      case DECODE, DECODE_CONTEXT -> decode(p.kind(), p.batch(), p.tokens());
      case FIRST_TOKEN -> firstToken(p.tokens());
    };
  }

  // ------------------------------------------------------------------------------------------------ the points

  private Row idle() throws IOException, InterruptedException {
    waitUntilIdle();
    GpuMeter.Reading a = meter.read();
    TimeUnit.MILLISECONDS.sleep(IDLE_MS);
    GpuMeter.Reading b = meter.read();
    return new Row(Kind.IDLE, plan.tp().degree(), Double.NaN, Double.NaN, Double.NaN, perGpuW(a, b), b.smMhz(), 2);
  }

  /** Per-GPU power between two readings, over model time. */
  private double perGpuW(GpuMeter.Reading a, GpuMeter.Reading b) {
    double seconds = (b.nanoTime() - a.nanoTime()) / 1e9 * plan.timeScale();
    return (b.energyJ() - a.energyJ()) / seconds / meter.gpus();
  }

  /**
   * {@code batch} whole (not streamed) completions at once. The step time is read off the engine's own counter of generated tokens while all
   * of them decode (its gauges say {@code batch} running, none waiting): the least-squares slope of the counter over
   * time is {@code batch} tokens per step. The client's view does not enter (a client reading hundreds of streams
   * lags behind the engine); the GPUs' energy over the same readings gives the power.
   */
  private Row decode(Kind kind, int batch, int ctx) throws IOException, InterruptedException {
    warmConnections(batch);
    waitUntilIdle();
    int output = outputTokens(batch);
    int prompt = promptFor(batch, ctx);
    EngineClient.State before = engine.state();
    double generatedBefore = before.generated();
    if (Double.isNaN(generatedBefore) || Double.isNaN(before.prompted())) {
      throw new IOException("the engine's /metrics lacks vllm:generation_tokens_total or vllm:prompt_tokens_total,"
          + " which the decode step is read from");
    }
    // every prompt prefilled: the engine's prompt-token counter has moved by the batch's prompts (a few tokens short
    // allowed, for an engine that counts a cached block as not prefilled)
    double prefilled = before.prompted() + 0.99 * batch * prompt;
    Sampler<Sample> sampler = new Sampler<>(() -> {
      EngineClient.State st = engine.state();
      GpuMeter.Reading r = meter instanceof ExporterMeter x && x.reads(engine.metricsUri())
          ? x.reading(st.samples(), st.nanoTime()) : meter.read();
      return new Sample(st, r);
    }, SAMPLE_MS);
    sampler.start();
    List<CompletableFuture<EngineClient.Stream>> calls = new ArrayList<>();
    for (int i = 0; i < batch; i++) {
      calls.add(engine.complete(prompt, output));
    }
    for (var c : calls) {
      EngineClient.Stream s = c.join();
      if (s.error().isPresent()) {
        sampler.stop();
        throw new IOException("a decode request of batch " + batch + " failed: " + s.error().get());
      }
    }
    List<Sample> all = sampler.stop();
    // The readings while the whole batch decoded: every prompt prefilled (the engine counts a sequence being
    // prefilled as running), all of them running, none waiting; less the first and the last (a step straddles each).
    List<Sample> steady = new ArrayList<>();
    for (Sample x : all) {
      if (x.state().prompted() >= prefilled && x.state().running() == batch && x.state().waiting() == 0) {
        steady.add(x);
      }
    }
    if (steady.size() >= 5) {
      steady = steady.subList(1, steady.size() - 1);
    }
    if (steady.size() < 3) {
      throw new IOException(String.format(Locale.ROOT, "decode batch %d: the engine's metrics showed all %d decoding"
          + " together in only %d readings (every %d ms); raise --decode-steps, or is another client using the"
          + " engine?", batch, batch, steady.size(), SAMPLE_MS));
    }
    double sx = 0;
    double sy = 0;
    for (Sample x : steady) {
      sx += x.state().nanoTime();
      sy += x.state().generated();
    }
    double mx = sx / steady.size();
    double my = sy / steady.size();
    double sxy = 0;
    double sxx = 0;
    for (Sample x : steady) {
      double dx = x.state().nanoTime() - mx;
      sxy += dx * (x.state().generated() - my);
      sxx += dx * dx;
    }
    double tokensPerNs = sxy / sxx;
    if (!(tokensPerNs > 0)) {
      throw new IOException("decode batch " + batch + ": the engine's generated-token counter did not move");
    }
    double stepMs = batch / tokensPerNs / 1e6 * plan.timeScale();
    // the mean context: the prompt plus what each sequence had generated by the middle of the readings
    double context = prompt + (my - generatedBefore) / batch;
    Sample first = steady.get(0);
    Sample last = steady.get(steady.size() - 1);
    double watts = perGpuW(first.reading(), last.reading());
    double[] clocks = steady.stream().mapToDouble(x -> x.reading().smMhz()).sorted().toArray();
    return new Row(kind, plan.tp().degree(), batch, context, stepMs, watts, clocks[clocks.length / 2],
        steady.size());
  }

  /** Connections the client holds open to the engine (so a batch's requests go out at once). */
  private int warmed;

  /**
   * Opens {@code n} connections to the engine with one-token requests sent at once, which the client then keeps: a
   * batch's requests go out over them together rather than one handshake after the other (hundreds of handshakes
   * take long enough for the first sequences to finish before the last begin).
   */
  private void warmConnections(int n) throws IOException {
    if (n <= warmed) {
      return;
    }
    List<CompletableFuture<EngineClient.Stream>> calls = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      calls.add(engine.stream(1, 1));
    }
    for (var c : calls) {
      EngineClient.Stream s = c.join();
      if (s.error().isPresent()) {
        throw new IOException("the engine refused " + n + " requests at once: " + s.error().get());
      }
    }
    warmed = n;
  }

  /** One reading of the engine's counters and its GPUs. */
  private record Sample(EngineClient.State state, GpuMeter.Reading reading) {}

  /** Lone prompts of {@code tokens} tokens, one at a time; the median time to first token and the power meanwhile. */
  private Row firstToken(int tokens) throws IOException, InterruptedException {
    waitUntilIdle();
    int reps = tokens == 1 ? 2 * plan.repeats() : plan.repeats();
    double idleW = rows.stream().filter(r -> r.kind() == Kind.IDLE).mapToDouble(Row::powerW).average()
        .orElse(base.idlePowerW());
    // One prompt first, not counted: it warms the path up, and tells whether the engine takes this length with one
    // token out. The longest prompt an engine takes is its context less that token: it is sent one token short and
    // stands for the planned length (a 0.01 % difference at 8,192 tokens).
    int sent = tokens;
    EngineClient.Stream warm = engine.stream(sent, 1).join();
    if (warm.error().isPresent() && tokens > 2 && warm.error().get().contains("context length")) {
      sent = tokens - 1;
      warm = engine.stream(sent, 1).join();
    }
    if (warm.error().isPresent()) {
      throw new IOException("a prompt of " + tokens + " tokens failed: " + warm.error().get());
    }
    Optional<Row> lone = rows.stream().filter(r -> r.kind() == Kind.FIRST_TOKEN && r.tokens() == 1).findFirst();
    Sampler<GpuMeter.Reading> sampler = new Sampler<>(meter::read, 10);
    GpuMeter.Reading start = meter.read();
    sampler.start();
    // Each prompt follows a one-token prompt (once the one-token prompts are measured): the difference of the two
    // cancels what the client and the server add to both, however that drifts over the run.
    List<Double> ttft = new ArrayList<>();
    List<Double> differences = new ArrayList<>();
    for (int i = 0; i < reps; i++) {
      EngineClient.Stream before = lone.isPresent() ? engine.stream(1, 1).join() : null;
      EngineClient.Stream s = engine.stream(sent, 1).join();
      for (EngineClient.Stream x : before == null ? List.of(s) : List.of(before, s)) {
        if (x.error().isPresent()) {
          sampler.stop();
          throw new IOException("a prompt of " + sent + " tokens failed: " + x.error().get());
        }
      }
      ttft.add(s.ttftMs());
      if (before != null) {
        differences.add(s.ttftMs() - before.ttftMs());
      }
    }
    List<GpuMeter.Reading> readings = sampler.stop();
    GpuMeter.Reading end = meter.read();
    double medianMs = lone.isPresent()
        ? lone.get().ms() + median(differences) * plan.timeScale()
        : median(ttft) * plan.timeScale();
    // The GPUs' energy over the run, less what they drew idle between the prompts and what the paired one-token
    // prompts drew, over the prompts' busy time. A prompt keeps the GPUs busy for the engine's share of its time to
    // first token: the difference to a one-token prompt plus one decode step (what a one-token prompt costs), the
    // same figure the profile's prefill series gets.
    Optional<Row> step1 = rows.stream().filter(r -> r.kind() == Kind.DECODE && r.batch() == 1).findFirst();
    double stepMs = step1.map(Row::ms).orElse(0.0);
    double busyMs;
    double loneBusyMs = 0;
    double loneW = 0;
    if (tokens == 1) {
      busyMs = stepMs > 0 ? stepMs : medianMs;
    } else if (lone.isPresent()) {
      busyMs = medianMs - lone.get().ms() + stepMs;
      loneBusyMs = stepMs;
      loneW = lone.get().powerW();
    } else {
      busyMs = medianMs;
    }
    double busyS = reps * Math.max(0, busyMs) / 1000;
    double loneS = reps * loneBusyMs / 1000;
    double spanS = (end.nanoTime() - start.nanoTime()) / 1e9 * plan.timeScale();
    int g = meter.gpus();
    double energy = end.energyJ() - start.energyJ() - idleW * g * Math.max(0, spanS - busyS - loneS) - loneW * g * loneS;
    double watts = busyS > 0 ? energy / busyS / g : Double.NaN;
    if (!(watts > 0)) {
      watts = perGpuW(start, end);
    }
    double idleMhz = rows.stream().filter(r -> r.kind() == Kind.IDLE).mapToDouble(Row::smMhz).findFirst()
        .orElse(0);
    // the clock the GPUs held while busy: readings above the idle clock
    double[] busy = readings.stream().mapToDouble(GpuMeter.Reading::smMhz)
        .filter(m -> m > idleMhz + 30).sorted().toArray();
    double mhz = busy.length == 0 ? base.document().clocks().maxMhz() : busy[busy.length / 2];
    return new Row(Kind.FIRST_TOKEN, plan.tp().degree(), Double.NaN, tokens, medianMs, watts, mhz, reps);
  }

  private static double median(List<Double> values) {
    double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }

  // ------------------------------------------------------------------------------------------------ the engine

  /** The KV cache the engine holds: its {@code vllm:cache_config_info}, else the plan's. */
  private long kvCacheTokens() throws IOException {
    for (MetricsText.Sample s : engine.metrics()) {
      if (s.name().equals("vllm:cache_config_info")) {
        try {
          long blocks = Long.parseLong(s.labels().getOrDefault("num_gpu_blocks", "").replace(".0", ""));
          long size = Long.parseLong(s.labels().getOrDefault("block_size", "").replace(".0", ""));
          if (blocks > 0 && size > 0) {
            return blocks * size;
          }
        } catch (NumberFormatException e) {
          // not there: the plan's
        }
      }
    }
    return plan.kvCacheTokens().orElseThrow(() -> new IOException("the engine's /metrics has no"
        + " vllm:cache_config_info with num_gpu_blocks and block_size; give its KV-cache capacity (--kv-cache-tokens)"));
  }

  /** Waits (up to two minutes) until the engine runs and queues nothing: the sweep must have it to itself. */
  private void waitUntilIdle() throws IOException, InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
    while (true) {
      double busy = 0;
      for (MetricsText.Sample s : engine.metrics()) {
        if (s.name().equals("vllm:num_requests_running") || s.name().equals("vllm:num_requests_waiting")) {
          busy += s.value();
        }
      }
      if (busy == 0) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new IOException("the engine has been busy for two minutes (" + (long) busy + " requests running or"
            + " waiting); profile it while nothing else uses it");
      }
      TimeUnit.MILLISECONDS.sleep(100);
    }
  }

  /** Something read repeatedly. */
  @FunctionalInterface
  private interface Reader<T> {
    T read() throws IOException;
  }

  /** Reads every {@code periodMs} on its own thread until stopped. */
  private static final class Sampler<T> {
    private final Reader<T> reader;
    private final long periodMs;
    private final List<T> readings = new ArrayList<>();
    private volatile boolean running = true;
    private volatile IOException failure;
    private final Thread thread;

    Sampler(Reader<T> reader, long periodMs) {
      this.reader = reader;
      this.periodMs = periodMs;
      this.thread = new Thread(this::loop, "profile-meter");
      thread.setDaemon(true);
    }

    void start() throws IOException {
      add(reader.read());
      thread.start();
    }

    private synchronized void add(T r) {
      readings.add(r);
    }

    private void loop() {
      while (running) {
        try {
          add(reader.read());
          TimeUnit.MILLISECONDS.sleep(periodMs);
        } catch (IOException e) {
          failure = e;
          return;
        } catch (InterruptedException e) {
          return;
        }
      }
    }

    List<T> stop() throws IOException, InterruptedException {
      running = false;
      thread.join();
      if (failure != null) {
        throw failure;
      }
      add(reader.read());
      synchronized (this) {
        return List.copyOf(readings);
      }
    }
  }
}
