package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.TensorParallelism;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A profile that remembers its load-level answers, for callers that ask the same questions many times a second (the
 * frequency governor of every instance, the planners, the simulator). Loads are rounded to the nearest step of a
 * geometric grid ({@value #LOAD_STEP} apart, i.e. within ±0.25 %) before they are looked up; iteration-level answers
 * are passed through unchanged.
 */
public final class MemoizedProfile implements Profile {
  /** Ratio between neighbouring load steps. */
  public static final double LOAD_STEP = 1.005;
  private static final double LOG_STEP = Math.log(LOAD_STEP);

  private record EstimateKey(RequestType type, int tp, int mhz, long loadStep) {}

  private record CapacityKey(RequestType type, int tp, int mhz, Slo slo) {}

  private record MixKey(Mix mix, int tp, int mhz, long loadStep) {}

  private record MixCapacityKey(Mix mix, int tp, int mhz) {}

  /** Mix answers kept at most (mixes change with forecasts; an old one is rarely asked again). */
  private static final int MAX_MIX_ENTRIES = 200_000;

  private final Profile delegate;
  private final Map<EstimateKey, LoadPoint> estimates = new ConcurrentHashMap<>();
  private final Map<CapacityKey, Double> capacities = new ConcurrentHashMap<>();
  private final Map<MixKey, MixPoint> mixEstimates = new ConcurrentHashMap<>();
  private final Map<MixCapacityKey, Double> mixCapacities = new ConcurrentHashMap<>();

  private MemoizedProfile(Profile delegate) {
    this.delegate = Objects.requireNonNull(delegate, "delegate");
  }

  /** Wraps {@code profile}, unless it is already memoized. */
  public static Profile of(Profile profile) {
    return profile instanceof MemoizedProfile ? profile : new MemoizedProfile(profile);
  }

  @Override
  public LoadPoint estimate(RequestType type, TensorParallelism tp, int clockMhz, double loadRps) {
    if (!(loadRps > 0) || Double.isInfinite(loadRps)) {
      return delegate.estimate(type, tp, clockMhz, loadRps); // let the delegate say what is wrong
    }
    long step = Math.round(Math.log(loadRps) / LOG_STEP);
    return estimates.computeIfAbsent(new EstimateKey(type, tp.degree(), clockMhz, step),
        k -> delegate.estimate(type, tp, clockMhz, Math.exp(k.loadStep() * LOG_STEP)));
  }

  @Override
  public double capacityRps(RequestType type, TensorParallelism tp, int clockMhz, Slo slo) {
    return capacities.computeIfAbsent(new CapacityKey(type, tp.degree(), clockMhz, slo),
        k -> delegate.capacityRps(type, tp, clockMhz, slo));
  }

  @Override
  public MixPoint estimate(Mix mix, TensorParallelism tp, int clockMhz, double loadRps) {
    if (!(loadRps > 0) || Double.isInfinite(loadRps)) {
      return delegate.estimate(mix, tp, clockMhz, loadRps);
    }
    if (mixEstimates.size() > MAX_MIX_ENTRIES) {
      mixEstimates.clear(); // bounded memory on week-long runs whose mixes drift
    }
    long step = Math.round(Math.log(loadRps) / LOG_STEP);
    return mixEstimates.computeIfAbsent(new MixKey(mix, tp.degree(), clockMhz, step),
        k -> delegate.estimate(mix, tp, clockMhz, Math.exp(k.loadStep() * LOG_STEP)));
  }

  @Override
  public double capacityRps(Mix mix, TensorParallelism tp, int clockMhz) {
    if (mixCapacities.size() > MAX_MIX_ENTRIES) {
      mixCapacities.clear();
    }
    MixCapacityKey key = new MixCapacityKey(mix, tp.degree(), clockMhz);
    Double known = mixCapacities.get(key);
    if (known != null) {
      return known;
    }
    // bisect on this memoized profile, so the estimates along the way are remembered too
    double cap = LoadModel.capacity(rps -> estimate(mix, tp, clockMhz, rps).meets());
    mixCapacities.put(key, cap);
    return cap;
  }

  @Override
  public String model() {
    return delegate.model();
  }

  @Override
  public String hardware() {
    return delegate.hardware();
  }

  @Override
  public List<TensorParallelism> tensorParallelisms() {
    return delegate.tensorParallelisms();
  }

  @Override
  public List<Integer> clockLevelsMhz() {
    return delegate.clockLevelsMhz();
  }

  @Override
  public double prefillMs(TensorParallelism tp, int tokens, int clockMhz) {
    return delegate.prefillMs(tp, tokens, clockMhz);
  }

  @Override
  public double decodeStepMs(TensorParallelism tp, double batch, double contextTokens, int clockMhz) {
    return delegate.decodeStepMs(tp, batch, contextTokens, clockMhz);
  }

  @Override
  public double prefillPowerW(TensorParallelism tp, int tokens, int clockMhz) {
    return delegate.prefillPowerW(tp, tokens, clockMhz);
  }

  @Override
  public int prefillHeldClockMhz(TensorParallelism tp, int tokens, int clockMhz) {
    return delegate.prefillHeldClockMhz(tp, tokens, clockMhz);
  }

  @Override
  public double decodePowerW(TensorParallelism tp, double batch, int clockMhz) {
    return delegate.decodePowerW(tp, batch, clockMhz);
  }

  @Override
  public double idlePowerW() {
    return delegate.idlePowerW();
  }

  @Override
  public double loadingPowerW() {
    return delegate.loadingPowerW();
  }

  @Override
  public int maxBatch(TensorParallelism tp) {
    return delegate.maxBatch(tp);
  }

  @Override
  public long kvCacheTokens(TensorParallelism tp) {
    return delegate.kvCacheTokens(tp);
  }

  @Override
  public TypeShape shape(RequestType type) {
    return delegate.shape(type);
  }

  @Override
  public Slo aloneLatency(RequestType type) {
    return delegate.aloneLatency(type);
  }
}
