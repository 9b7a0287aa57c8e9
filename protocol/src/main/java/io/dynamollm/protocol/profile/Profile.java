package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import java.util.List;

/**
 * Energy-performance profile of one model on one kind of server: latency and power as functions of tensor
 * parallelism, GPU clock and load, at two levels of detail.
 *
 * <ul>
 *   <li>Iteration level, for the simulator and simulated engines: prefill time of a prompt, decode-step time of a
 *       batch, GPU power in each phase.
 *   <li>Load level, for the planners: p99 TTFT and TBT, power and energy per request of an instance serving one
 *       request type at a steady load.
 * </ul>
 *
 * <p>Implementations interpolate between measured points and throw {@link ProfileRangeException} rather than
 * extrapolate. Times are milliseconds, power watts per GPU, clocks MHz.
 */
public interface Profile {

  /** Model served, e.g. "Llama2-70B". */
  String model();

  /** Server the profile was built for, e.g. "DGX H100 (8× H100 80GB HBM3, NVLink)". */
  String hardware();

  /** The tensor-parallel degrees the profile covers, ascending. */
  List<TensorParallelism> tensorParallelisms();

  /** The clock levels planners choose from, ascending, each one the device supports. */
  List<Integer> clockLevelsMhz();

  /** The highest clock (the "max performance" setting). */
  default int maxClockMhz() {
    List<Integer> levels = clockLevelsMhz();
    return levels.get(levels.size() - 1);
  }

  /** Time of one prefill iteration of a single prompt of {@code tokens} tokens. */
  double prefillMs(TensorParallelism tp, int tokens, int clockMhz);

  /** Time of one decode iteration of {@code batch} sequences whose mean context is {@code contextTokens}. */
  double decodeStepMs(TensorParallelism tp, double batch, double contextTokens, int clockMhz);

  /** Power of each GPU of the instance during a prefill of {@code tokens} tokens. */
  double prefillPowerW(TensorParallelism tp, int tokens, int clockMhz);

  /**
   * The SM clock the GPUs hold during a prefill of {@code tokens} tokens when asked to run at {@code clockMhz}: long
   * prompts draw enough power that the firmware holds the clock below the one asked for (what NVML and DCGM report
   * then). The clock asked for where the profile does not say.
   */
  default int prefillHeldClockMhz(TensorParallelism tp, int tokens, int clockMhz) {
    return clockMhz;
  }

  /** Power of each GPU of the instance during a decode iteration of {@code batch} sequences. */
  double decodePowerW(TensorParallelism tp, double batch, int clockMhz);

  /** Power of a GPU holding weights but doing no work. */
  double idlePowerW();

  /**
   * Power of one GPU while an instance loads its weights or re-shards (no kernels of the model, but memory traffic),
   * W; the simulator charges it to starting and re-sharding instances, the simulated GPU draws it while its engine
   * loads.
   */
  default double loadingPowerW() {
    return 230;
  }

  /** Largest decode batch an instance runs (the engine's max_num_seqs). */
  int maxBatch(TensorParallelism tp);

  /** Tokens of KV cache an instance of this TP can hold. */
  long kvCacheTokens(TensorParallelism tp);

  /** The lengths that stand for each request type. */
  TypeShape shape(RequestType type);

  /** What an instance serving only {@code type} at {@code loadRps} requests per second looks like. */
  LoadPoint estimate(RequestType type, TensorParallelism tp, int clockMhz, double loadRps);

  /**
   * What an instance serving {@code mix} at {@code loadRps} requests per second looks like, each part judged against
   * its own SLO (the load model of this package, on the profile's iteration times).
   */
  default MixPoint estimate(Mix mix, TensorParallelism tp, int clockMhz, double loadRps) {
    if (!(loadRps > 0) || Double.isInfinite(loadRps)) {
      throw new IllegalArgumentException("load must be a positive, finite number of requests per second, got " + loadRps);
    }
    return LoadModel.estimateMix(this, mix, tp, clockMhz, loadRps);
  }

  /**
   * The highest load, requests per second, that one instance serves with every part of {@code mix} within its SLO
   * (to 0.2 %); 0 when even a trickle misses.
   */
  default double capacityRps(Mix mix, TensorParallelism tp, int clockMhz) {
    return LoadModel.capacity(rps -> estimate(mix, tp, clockMhz, rps).meets());
  }

  /** p99 TTFT and TBT of one request of the type running alone on TP8 at the maximum clock. */
  Slo aloneLatency(RequestType type);

  /** Default SLOs: {@code multiplier} × {@link #aloneLatency} per type (the paper uses 5). */
  default SloTable defaultSlos(double multiplier) {
    if (!(multiplier >= 1) || Double.isInfinite(multiplier)) {
      throw new IllegalArgumentException("SLO multiplier must be a finite number >= 1, got " + multiplier);
    }
    java.util.EnumMap<RequestType, Slo> slos = new java.util.EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      Slo alone = aloneLatency(t);
      slos.put(t, new Slo(alone.ttftP99Ms() * multiplier, alone.tbtP99Ms() * multiplier));
    }
    return new SloTable(slos);
  }

  /**
   * The highest load, requests per second, that one instance can serve within {@code slo}; 0 when even a trickle
   * misses it.
   */
  default double capacityRps(RequestType type, TensorParallelism tp, int clockMhz, Slo slo) {
    return LoadModel.capacity(rps -> estimate(type, tp, clockMhz, rps).meets(slo));
  }

}
