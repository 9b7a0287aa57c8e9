package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import java.util.List;
import java.util.Objects;

/**
 * A profile as a running engine showed it to be: the decode step's time, the prefill's time and the GPUs' power
 * multiplied by what was observed against the profile at each (TP, clock) ({@link ProfileFactors}); every load-level
 * answer (latency, capacity, energy) follows from the corrected iterations by the same load model. The SLOs a
 * profile proposes by default ({@link #aloneLatency}) stay the profile's: a slower engine does not loosen them.
 */
public final class CorrectedProfile implements Profile {
  private final Profile base;
  private final ProfileFactors factors;

  private CorrectedProfile(Profile base, ProfileFactors factors) {
    this.base = Objects.requireNonNull(base, "base");
    this.factors = Objects.requireNonNull(factors, "factors");
  }

  /** {@code base} corrected by {@code factors}, memoized; {@code base} itself where there are none. */
  public static Profile of(Profile base, ProfileFactors factors) {
    return factors.isEmpty() ? base : MemoizedProfile.of(new CorrectedProfile(base, factors));
  }

  public ProfileFactors factors() {
    return factors;
  }

  @Override
  public String model() {
    return base.model();
  }

  @Override
  public String hardware() {
    return base.hardware();
  }

  @Override
  public List<TensorParallelism> tensorParallelisms() {
    return base.tensorParallelisms();
  }

  @Override
  public List<Integer> clockLevelsMhz() {
    return base.clockLevelsMhz();
  }

  @Override
  public double prefillMs(TensorParallelism tp, int tokens, int clockMhz) {
    return base.prefillMs(tp, tokens, clockMhz) * factors.prefillTime(tp, clockMhz);
  }

  @Override
  public double decodeStepMs(TensorParallelism tp, double batch, double contextTokens, int clockMhz) {
    return base.decodeStepMs(tp, batch, contextTokens, clockMhz) * factors.decodeTime(tp, clockMhz);
  }

  @Override
  public double prefillPowerW(TensorParallelism tp, int tokens, int clockMhz) {
    return base.prefillPowerW(tp, tokens, clockMhz) * factors.power(tp, clockMhz);
  }

  @Override
  public int prefillHeldClockMhz(TensorParallelism tp, int tokens, int clockMhz) {
    return base.prefillHeldClockMhz(tp, tokens, clockMhz);
  }

  @Override
  public double decodePowerW(TensorParallelism tp, double batch, int clockMhz) {
    return base.decodePowerW(tp, batch, clockMhz) * factors.power(tp, clockMhz);
  }

  @Override
  public double idlePowerW() {
    return base.idlePowerW();
  }

  @Override
  public double loadingPowerW() {
    return base.loadingPowerW();
  }

  @Override
  public int maxBatch(TensorParallelism tp) {
    return base.maxBatch(tp);
  }

  @Override
  public long kvCacheTokens(TensorParallelism tp) {
    return base.kvCacheTokens(tp);
  }

  @Override
  public TypeShape shape(RequestType type) {
    return base.shape(type);
  }

  @Override
  public LoadPoint estimate(RequestType type, TensorParallelism tp, int clockMhz, double loadRps) {
    if (!(loadRps > 0) || Double.isInfinite(loadRps)) {
      return base.estimate(type, tp, clockMhz, loadRps); // let the base say what is wrong
    }
    return LoadModel.estimate(this, shape(type), tp, clockMhz, loadRps);
  }

  @Override
  public Slo aloneLatency(RequestType type) {
    return base.aloneLatency(type);
  }
}
