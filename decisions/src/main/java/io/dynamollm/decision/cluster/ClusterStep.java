package io.dynamollm.decision.cluster;

import io.dynamollm.decision.DecisionNote;
import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolLayout;
import io.dynamollm.protocol.PoolTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The cluster level's epoch logic, once: what the live cluster manager and the simulator's DynamoLLM policy both run.
 *
 * <ul>
 *   <li>Arrivals per type ({@link #observe}) feed the {@link LoadForecaster}.
 *   <li>Each cluster epoch ({@link #epoch}): the {@link ClusterLayout} on the forecasts, the SLOs, the cluster's GPUs
 *       and clock bounds, and each type's capacity correction (from the telemetry of the pool that served it); every
 *       pool gets its budget, a pool no longer needed a budget of zero (it drains). While the layout is the bootstrap
 *       one (too little history) the next epoch comes one pool epoch later, else one cluster epoch later.
 *   <li>An SLO, limits or GPU-host change ({@link #requestRebudget}) brings the next epoch within
 *       {@code rebudgetDelayMs}; further changes in the meantime do not postpone it.
 *   <li>Each pool epoch ({@link #poolForecasts}): every pool's forecast for its next pool epoch, native-equivalent —
 *       none while a seen type's history is partial (it would read low).
 *   <li>A pool whose telemetry says its plan falls short ({@link #poolReport}) gets GPUs no pool holds, at most once
 *       a pool epoch ({@link ClusterLayout#topUp}).
 * </ul>
 *
 * <p>Time is an argument; the driver calls {@link #epoch} when {@link #due} and stores the returned layout.
 */
public final class ClusterStep {

  /**
   * One cluster epoch's outcome.
   *
   * @param epoch its number
   * @param assign each pool's budget
   * @param retire budgets of zero for the pools the layout no longer has
   * @param layout what to store (a manager that takes over resumes it)
   * @param bootstrap the layout is the bootstrap one
   * @param decision for the decision log
   */
  public record Epoch(long epoch, List<PoolBudget> assign, List<PoolBudget> retire, PoolLayout layout,
      boolean bootstrap, DecisionNote decision) {
    public Epoch {
      assign = List.copyOf(assign);
      retire = List.copyOf(retire);
    }
  }

  /** GPUs added to a pool between epochs: its new budget, and why. */
  public record TopUp(PoolBudget budget, PoolLayout layout, DecisionNote decision) {}

  private final Profile profile;
  private final DecisionSettings settings;
  private final LoadForecaster forecaster;
  private final ClusterLayout layouts;
  private final Map<String, PoolBudget> assigned = new LinkedHashMap<>();
  private final Map<String, PoolTelemetry> telemetry = new HashMap<>();
  private final Map<String, Double> lastTopUpMs = new HashMap<>();
  private long epoch;
  private int clusterGpus;
  private SloTable slos;
  private boolean seenTraffic;
  private double nextDueMs;
  private double predictedPowerW;

  /** The first epoch is due {@code rebudgetDelayMs} after {@code nowMs} (GPU hosts join meanwhile). */
  public ClusterStep(Profile profile, DecisionSettings settings, double nowMs) {
    this.profile = Objects.requireNonNull(profile, "profile");
    this.settings = Objects.requireNonNull(settings, "settings");
    this.forecaster = new LoadForecaster(settings.forecaster());
    this.layouts = new ClusterLayout(new PoolBudgeter(profile, settings.budgeter()), profile);
    this.nextDueMs = nowMs + settings.rebudgetDelayMs();
  }

  /** The budgeter the layouts use (pools count their load in its native-equivalent units). */
  public ClusterLayout layouts() {
    return layouts;
  }

  /** {@code arrivals} per type a router saw up to {@code nowMs}. */
  public void observe(double nowMs, Map<RequestType, Integer> arrivals) {
    arrivals.forEach((t, n) -> {
      if (n > 0) {
        forecaster.observe((long) nowMs, t, n);
        seenTraffic = true;
      }
    });
  }

  /** When the next cluster epoch is due. */
  public double nextDueMs() {
    return nextDueMs;
  }

  public boolean due(double nowMs) {
    return nowMs >= nextDueMs;
  }

  /** Budget again within the rebudget delay; a later request never postpones an earlier one. */
  public void requestRebudget(double nowMs) {
    nextDueMs = Math.min(nextDueMs, nowMs + settings.rebudgetDelayMs());
  }

  /** The cluster epoch. {@code gpus} are the GPUs the pools may hold (the hosts' within the operator's budget). */
  public Epoch epoch(double nowMs, SloTable epochSlos, int gpus, FrequencyBounds bounds) {
    if (gpus <= 0) {
      nextDueMs = nowMs + settings.rebudgetDelayMs();
      return new Epoch(epoch, List.of(), List.of(), layout(), false, note("no budget",
          "no GPU host in the cluster yet; trying again in " + settings.rebudgetDelayMs() / 1000 + " s", 0));
    }
    epoch++;
    clusterGpus = gpus;
    slos = epochSlos;
    lastTopUpMs.clear();
    forecaster.forgetBefore((long) nowMs); // memory stays bounded on long runs
    Map<RequestType, LoadForecaster.Forecast> forecast = seenTraffic
        ? forecaster.forecast((long) nowMs, settings.clusterEpochMs()) : Map.of();
    // each type's capacity correction: that of the pool that served it
    Map<RequestType, Double> corrections = new EnumMap<>(RequestType.class);
    assigned.forEach((pool, b) -> {
      PoolTelemetry t = telemetry.get(pool);
      if (t != null && t.capacityCorrection() > 1) {
        b.types().forEach(type -> corrections.merge(type, t.capacityCorrection(), Math::max));
      }
    });
    ClusterLayout.Layout layout = layouts.decide(forecast, epochSlos, gpus, bounds, corrections);
    List<PoolBudget> assign = new ArrayList<>();
    for (ClusterLayout.Pool p : layout.pools()) {
      Map<RequestType, Slo> s = new EnumMap<>(RequestType.class);
      for (RequestType t : p.types()) {
        s.put(t, epochSlos.of(t));
      }
      s.put(p.nativeType(), epochSlos.of(p.nativeType()));
      assign.add(new PoolBudget(p.name(), epoch, p.gpus(), p.nativeType(), p.types(), p.forecastRps(), p.loadRps(), s,
          p.bounds()));
    }
    List<PoolBudget> retire = new ArrayList<>();
    for (String old : assigned.keySet()) {
      if (assign.stream().noneMatch(b -> b.pool().equals(old))) {
        retire.add(PoolBudget.retire(old, epoch, epochSlos.of(RequestType.LL), bounds));
      }
    }
    assigned.clear();
    assign.forEach(b -> assigned.put(b.pool(), b));
    telemetry.keySet().retainAll(assigned.keySet());
    nextDueMs = nowMs + (layout.bootstrap() ? settings.poolEpochMs() : settings.clusterEpochMs());
    double power = layouts.predictedPowerW(layout, epochSlos);
    double saving = epoch == 1 ? 0 : predictedPowerW - power;
    predictedPowerW = power;
    String action = "epoch " + epoch + ": " + assign.stream()
        .map(b -> String.format(Locale.ROOT, "%s=%d GPUs", b.pool(), b.gpus())).toList();
    return new Epoch(epoch, assign, retire, layout(), layout.bootstrap(), note(action, layout.reason(), saving));
  }

  /**
   * Each pool's forecast for the next pool epoch, native-equivalent requests per second; empty while no traffic was
   * seen or a seen type's history is shorter than a forecast window (the pools keep their budgets' loads).
   */
  public Map<String, Double> poolForecasts(double nowMs) {
    if (slos == null || !seenTraffic) {
      return Map.of();
    }
    Map<RequestType, Double> peaks = new EnumMap<>(RequestType.class);
    for (var e : forecaster.forecast((long) nowMs, settings.poolEpochMs()).entrySet()) {
      if (e.getValue().partialHistory() && e.getValue().basis() != LoadForecaster.Basis.NO_DATA) {
        return Map.of();
      }
      peaks.put(e.getKey(), e.getValue().peakRps());
    }
    Map<String, Double> out = new LinkedHashMap<>();
    assigned.forEach((pool, b) -> {
      if (b.gpus() > 0) {
        out.put(pool, layouts.nativeLoad(b.nativeType(), b.types(), peaks, slos));
      }
    });
    return out;
  }

  /**
   * A pool's telemetry. When its plan carries less than it plans for, it gets GPUs no pool holds — the fewest-GPU
   * layout of that load less its budget, at most what is free — at most once a pool epoch.
   */
  public Optional<TopUp> poolReport(double nowMs, PoolTelemetry t) {
    if (!assigned.containsKey(t.pool())) {
      return Optional.empty();
    }
    telemetry.put(t.pool(), t);
    PoolBudget b = assigned.get(t.pool());
    if (!t.shortOfCapacity() || clusterGpus == 0 || b.gpus() == 0
        || nowMs - lastTopUpMs.getOrDefault(t.pool(), Double.NEGATIVE_INFINITY) < settings.poolEpochMs()) {
      return Optional.empty();
    }
    int held = assigned.values().stream().mapToInt(PoolBudget::gpus).sum();
    int free = clusterGpus - held;
    int add = layouts.topUp(b.nativeType(), b.nativeSlo(), t.plannedLoadRps(), b.gpus(), free, b.frequencyBounds());
    if (add <= 0) {
      return Optional.empty();
    }
    lastTopUpMs.put(t.pool(), nowMs);
    // the load the pool plans for now (its latest forecast), not the epoch's: a new budget resets the pool's load
    double load = Math.max(b.nativeLoadRps(), t.plannedLoadRps() / t.capacityCorrection());
    PoolBudget more = b.withGpus(b.gpus() + add, load);
    assigned.put(t.pool(), more);
    DecisionNote n = note(String.format(Locale.ROOT, "top up %s: %d -> %d GPUs", t.pool(), b.gpus(), more.gpus()),
        String.format(Locale.ROOT, "its plan carries %.2f of the %.2f req/s it plans for (correction x%.2f); %d GPUs"
            + " were free", t.capacityRps(), t.plannedLoadRps(), t.capacityCorrection(), free),
        -add * profile.idlePowerW());
    return Optional.of(new TopUp(more, layout(), n));
  }

  /**
   * A layout stored by an earlier manager: its pools are the current ones (this manager has not budgeted an epoch of
   * its own yet); empty when there is nothing to resume.
   */
  public Optional<DecisionNote> resume(PoolLayout stored, double nowMs) {
    if (epoch > 0 || stored.pools().isEmpty()) {
      return Optional.empty();
    }
    epoch = stored.epoch();
    stored.pools().forEach(b -> assigned.put(b.pool(), b));
    return Optional.of(note("resumed epoch " + epoch + ": " + List.copyOf(assigned.keySet()),
        "the pool layout read back from durable storage", 0));
  }

  /** The current pools' budgets. */
  public List<PoolBudget> budgets() {
    return List.copyOf(assigned.values());
  }

  /** Each current pool's latest telemetry. */
  public Map<String, PoolTelemetry> telemetry() {
    return Map.copyOf(telemetry);
  }

  public long epochNumber() {
    return epoch;
  }

  private PoolLayout layout() {
    return new PoolLayout(epoch, List.copyOf(assigned.values()));
  }

  private static DecisionNote note(String action, String reason, double savingW) {
    return new DecisionNote(Decision.CLUSTER, "cluster", action, reason, savingW);
  }
}
