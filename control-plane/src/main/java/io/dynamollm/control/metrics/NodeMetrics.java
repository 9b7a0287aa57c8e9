package io.dynamollm.control.metrics;

import io.dynamollm.control.live.Router;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.instance.engine.Engine;
import io.dynamollm.pool.PoolManager;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * One node's Prometheus metrics, through the official Java client (its registry, its metric types, its text format
 * writer): what happens (requests, decisions, planner solves, front-door overhead) is counted as it happens; what
 * is (GPUs, pools, instances) is read at scrape time from the latest {@link Telemetry.Sample}. Names follow DCGM
 * exporter for GPUs and vLLM for instances where the meaning matches, so existing dashboards work; docs/metrics.md
 * lists every family.
 *
 * <p>Latencies are in the node's model time: equal to wall time unless the node runs sped up ({@code --speedup}).
 */
public final class NodeMetrics implements Router.Outcomes, PoolManager.PlannerTimes {
  /** Seconds, from 10 ms to 2 min: TTFT and planner solve times. */
  private static final double[] LATENCY_BOUNDS = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  /** Seconds per output token, from 5 ms to 1 s. */
  private static final double[] TPOT_BOUNDS = {0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1};
  /** Joules per request: from a short answer on a small instance to a long one on TP8. */
  private static final double[] ENERGY_BOUNDS = {10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000,
      100_000};
  /** Seconds of front-door work per request: 50 µs to 100 ms. */
  private static final double[] OVERHEAD_BOUNDS = {5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.1};

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final String model;
  private volatile Optional<Telemetry> telemetry = Optional.empty();
  private final Counter requests;
  private final Counter sloMisses;
  private final Histogram ttft;
  private final Histogram tpot;
  private final Histogram energy;
  private final Counter decisions;
  private final Histogram solves;
  private final Histogram overhead;

  /** @param model the served model (the {@code model_name} label of vLLM-style gauges) */
  public NodeMetrics(String model) {
    this.model = model;
    JvmMetrics.builder().register(registry);
    requests = Counter.builder().name("dynamollm_requests_total")
        .help("Requests this node's router answered, by pool, request type and outcome (served, no_instance,"
            + " overloaded, rejected, failed, cancelled)")
        .labelNames("pool", "type", "outcome").register(registry);
    sloMisses = Counter.builder().name("dynamollm_slo_misses_total")
        .help("Served requests over their TTFT or TBT SLO (TTFT counted from arrival at the router), by which of the"
            + " two they missed (slo: ttft, tbt or both)")
        .labelNames("pool", "type", "slo").register(registry);
    ttft = Histogram.builder().name("dynamollm_request_ttft_seconds").unit(Unit.SECONDS)
        .help("Time to first token of served requests, from arrival at the router (model time)")
        .classicUpperBounds(LATENCY_BOUNDS).classicOnly().labelNames("pool", "type").register(registry);
    tpot = Histogram.builder().name("dynamollm_request_tpot_seconds").unit(Unit.SECONDS)
        .help("Time per output token of served requests (model time)")
        .classicUpperBounds(TPOT_BOUNDS).classicOnly().labelNames("pool", "type").register(registry);
    energy = Histogram.builder().name("dynamollm_request_energy_joules").unit(Unit.JOULES)
        .help("GPU energy of each served request (its share of its instance's energy while it ran)")
        .classicUpperBounds(ENERGY_BOUNDS).classicOnly().labelNames("pool", "type").register(registry);
    decisions = Counter.builder().name("dynamollm_decisions_total")
        .help("Decisions made on this node, by level (cluster, pool, instance), action and reason: the leading words"
            + " of the decision log's action and reason (DecisionLabels)")
        .labelNames("level", "action", "reason").register(registry);
    solves = Histogram.builder().name("dynamollm_planner_solve_seconds").unit(Unit.SECONDS)
        .help("Wall time of each pool planner solve (Choco), by pool and outcome")
        .classicUpperBounds(LATENCY_BOUNDS).classicOnly().labelNames("pool", "outcome").register(registry);
    overhead = Histogram.builder().name("dynamollm_front_door_overhead_seconds").unit(Unit.SECONDS)
        .help("Front-door work per accepted request before the router has it: parsing, chat template, tokenizing")
        .classicUpperBounds(OVERHEAD_BOUNDS).classicOnly().register(registry);
    registerGpuGauges();
    registerPoolGauges();
    registerClusterGauges();
  }

  /** Where the scrape-time gauges read from from now on (this node's GPUs; pools where it runs the manager). */
  public void readFrom(Telemetry t) {
    telemetry = Optional.of(t);
  }

  private Telemetry.Sample latest() {
    return telemetry.map(Telemetry::latest).orElseGet(() -> Telemetry.Sample.empty(""));
  }

  // ------------------------------------------------------------------------------------------------ events

  @Override
  public void served(String pool, RequestType type, Engine.Completion c, Slo judged) {
    String t = type.name();
    requests.labelValues(pool, t, "served").inc();
    if (!judged.isMetBy(c.ttftMs(), c.tbtMs())) {
      boolean ttftMissed = c.ttftMs() > judged.ttftP99Ms();
      boolean tbtMissed = c.tbtMs() > judged.tbtP99Ms();
      sloMisses.labelValues(pool, t, ttftMissed && tbtMissed ? "both" : ttftMissed ? "ttft" : "tbt").inc();
    }
    ttft.labelValues(pool, t).observe(c.ttftMs() / 1000);
    if (c.outputTokens() > 1) {
      tpot.labelValues(pool, t).observe(c.tbtMs() / 1000);
    }
    if (c.energyJ() > 0) {
      energy.labelValues(pool, t).observe(c.energyJ());
    }
  }

  @Override
  public void notServed(Optional<String> pool, RequestType type, Router.Outcome outcome) {
    requests.labelValues(pool.orElse(""), type.name(), outcome.name().toLowerCase(Locale.ROOT)).inc();
  }

  @Override
  public void solved(String pool, String outcome, double seconds) {
    solves.labelValues(pool, outcome).observe(seconds);
  }

  /** A decision this node made (counted once, here, before it is published to every decision log). */
  public void decided(Decision d) {
    decisions.labelValues(d.level(), DecisionLabels.action(d.action()), DecisionLabels.reason(d.reason())).inc();
  }

  /** Seconds one accepted request spent in the front door before the router had it. */
  public void frontDoorOverhead(double seconds) {
    overhead.observe(seconds);
  }

  // ------------------------------------------------------------------------------------------------ scrape-time

  private void registerGpuGauges() {
    String[] gpu = {"gpu", "UUID", "Hostname", "modelName"};
    GaugeWithCallback.builder().name("DCGM_FI_DEV_POWER_USAGE")
        .help("Power draw (in W), as DCGM exporter names it").labelNames(gpu)
        .callback(cb -> eachGpu((host, g) -> cb.call(g.powerMw() / 1000.0, labels(host, g)))).register(registry);
    // DCGM exporter's energy field is in mJ and keeps its name (no _total): a dashboard's rate() works on it as is
    GaugeWithCallback.builder().name("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
        .help("Total energy consumption since the driver loaded (in mJ), as DCGM exporter names it").labelNames(gpu)
        .callback(cb -> eachGpu((host, g) -> cb.call(g.energyMj(), labels(host, g)))).register(registry);
    GaugeWithCallback.builder().name("DCGM_FI_DEV_SM_CLOCK")
        .help("SM clock frequency the GPU applies (in MHz), as DCGM exporter names it").labelNames(gpu)
        .callback(cb -> eachGpu((host, g) -> cb.call(g.smClockMhz(), labels(host, g)))).register(registry);
    CounterWithCallback.builder().name("dynamollm_gpu_energy_joules").unit(Unit.JOULES)
        .help("GPU energy counter since the driver loaded, J").labelNames(gpu)
        .callback(cb -> eachGpu((host, g) -> cb.call(g.energyMj() / 1000.0, labels(host, g)))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_gpu_sm_clock_requested_mhz")
        .help("SM clock the control plane locked the GPU at, MHz (0: not locked, the driver's default)")
        .labelNames(gpu).callback(cb -> eachGpu((host, g) -> cb.call(g.requestedMhz(), labels(host, g))))
        .register(registry);
    GaugeWithCallback.builder().name("dynamollm_gpu_held")
        .help("1 when an instance holds the GPU, else 0").labelNames("gpu", "UUID", "Hostname", "modelName",
            "instance")
        .callback(cb -> eachGpu((host, g) -> cb.call(g.instance().isEmpty() ? 0 : 1, g.index() + "", g.uuid(), host,
            g.name(), g.instance()))).register(registry);
  }

  private static String[] labels(String host, HostAgent.GpuReading g) {
    return new String[] {Integer.toString(g.index()), g.uuid(), host, g.name()};
  }

  private void eachGpu(java.util.function.BiConsumer<String, HostAgent.GpuReading> each) {
    Telemetry.Sample s = latest();
    s.gpus().ifPresent(inv -> inv.readings().forEach(g -> each.accept(s.host(), g)));
  }

  private void registerPoolGauges() {
    GaugeWithCallback.builder().name("dynamollm_pool_planned_load_rps")
        .help("Load the pool's plan is sized for, req/s (model time)").labelNames("pool")
        .callback(cb -> pools().forEach(p -> cb.call(p.plannedLoadRps(), p.pool()))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_pool_observed_load_rps")
        .help("Load the routers see on the pool's instances, req/s (model time)").labelNames("pool")
        .callback(cb -> pools().forEach(p -> cb.call(observed(p), p.pool()))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_pool_capacity_rps")
        .help("Capacity of the pool's plan within its SLOs, req/s (model time)").labelNames("pool")
        .callback(cb -> pools().forEach(p -> cb.call(p.capacityRps(), p.pool()))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_pool_capacity_correction")
        .help("The pool's learned capacity correction (1: the profile holds)").labelNames("pool")
        .callback(cb -> pools().forEach(p -> cb.call(p.capacityCorrection(), p.pool()))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_pool_profile_decode_time_factor")
        .help("Observed over profiled decode-step time on the pool's engines, per TP and clock (1: the profile holds)")
        .labelNames("pool", "tp", "clock_mhz")
        .callback(cb -> pools().forEach(p -> p.profileFactors().stream().filter(f -> f.samples() > 0)
            .forEach(f -> cb.call(f.decodeTime(), p.pool(), String.valueOf(f.tp()), String.valueOf(f.clockMhz())))))
        .register(registry);
    GaugeWithCallback.builder().name("dynamollm_pool_profile_power_factor")
        .help("Observed over profiled GPU power while decoding on the pool's engines, per TP and clock")
        .labelNames("pool", "tp", "clock_mhz")
        .callback(cb -> pools().forEach(p -> p.profileFactors().stream().filter(f -> f.samples() > 0)
            .forEach(f -> cb.call(f.power(), p.pool(), String.valueOf(f.tp()), String.valueOf(f.clockMhz())))))
        .register(registry);
    GaugeWithCallback.builder().name("dynamollm_pool_profile_prefill_time_factor")
        .help("Observed over profiled prefill time (prompts an engine ran alone) on the pool's engines, per TP and"
            + " clock")
        .labelNames("pool", "tp", "clock_mhz")
        .callback(cb -> pools().forEach(p -> p.profileFactors().stream().filter(f -> f.prefillSamples() > 0)
            .forEach(f -> cb.call(f.prefillTime(), p.pool(), String.valueOf(f.tp()), String.valueOf(f.clockMhz())))))
        .register(registry);
    GaugeWithCallback.builder().name("dynamollm_pool_power_cap_watts")
        .help("The pool's share of the watt budget where the budget caps it, W (0: not capped)").labelNames("pool")
        .callback(cb -> pools().forEach(p -> cb.call(p.powerCapW(), p.pool()))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_pool_clock_ceiling_mhz")
        .help("The highest clock the pool's instances may use: the operator's limit or the power governor's lower"
            + " ceiling, MHz").labelNames("pool")
        .callback(cb -> pools().forEach(p -> cb.call(p.clockCeilingMhz(), p.pool()))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_pool_budget_gpus")
        .help("GPUs the cluster manager budgeted to the pool").labelNames("pool")
        .callback(cb -> pools().forEach(p -> cb.call(p.budgetGpus(), p.pool()))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_pool_instances")
        .help("The pool's instances by tensor parallelism and state").labelNames("pool", "tp", "state")
        .callback(cb -> pools().forEach(p -> {
          Map<String, Integer> n = new TreeMap<>();
          p.instances().forEach(i -> n.merge("TP" + i.tp() + "\u0000" + i.state().name().toLowerCase(Locale.ROOT), 1,
              Integer::sum));
          n.forEach((k, c) -> cb.call(c, p.pool(), k.substring(0, k.indexOf('\u0000')),
              k.substring(k.indexOf('\u0000') + 1)));
        })).register(registry);
    String[] inst = {"model_name", "pool", "instance", "tp"};
    GaugeWithCallback.builder().name("vllm:num_requests_running")
        .help("Requests running on the instance's engine (vLLM's name and meaning)").labelNames(inst)
        .callback(cb -> eachInstance((p, i) -> cb.call(i.running(), instanceLabels(p, i)))).register(registry);
    GaugeWithCallback.builder().name("vllm:num_requests_waiting")
        .help("Requests waiting in the instance's engine queue (vLLM's name and meaning)").labelNames(inst)
        .callback(cb -> eachInstance((p, i) -> cb.call(i.queued(), instanceLabels(p, i)))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_instance_clock_mhz")
        .help("SM clock the instance's governor chose, MHz").labelNames(inst)
        .callback(cb -> eachInstance((p, i) -> cb.call(i.freqMhz(), instanceLabels(p, i)))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_instance_power_watts")
        .help("Power of the instance's GPUs, W").labelNames(inst)
        .callback(cb -> eachInstance((p, i) -> cb.call(i.powerW(), instanceLabels(p, i)))).register(registry);
  }

  private String[] instanceLabels(PoolManager.PoolView p, PoolManager.InstanceView i) {
    return new String[] {model, p.pool(), i.id(), "TP" + i.tp()};
  }

  private List<PoolManager.PoolView> pools() {
    return latest().exportedPools();
  }

  private double observed(PoolManager.PoolView p) {
    return latest().stats().map(st -> st.loadRps(p)).orElse(0.0);
  }

  private void eachInstance(java.util.function.BiConsumer<PoolManager.PoolView, PoolManager.InstanceView> each) {
    pools().forEach(p -> p.instances().forEach(i -> each.accept(p, i)));
  }

  private void registerClusterGauges() {
    GaugeWithCallback.builder().name("dynamollm_cluster_gpu_power_watts")
        .help("Power of every GPU host's GPUs together, W (exported by the cluster manager's node only)")
        .callback(cb -> latest().exportedCluster().ifPresent(c -> cb.call(c.powerW()))).register(registry);
    CounterWithCallback.builder().name("dynamollm_cluster_gpu_energy_joules").unit(Unit.JOULES)
        .help("Energy counters of every GPU host's GPUs together, J (exported by the cluster manager's node only)")
        .callback(cb -> latest().exportedCluster().ifPresent(c -> cb.call(c.energyJ()))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_cluster_power_budget_watts")
        .help("The operator's watt budget for the cluster's GPUs, W (absent without one; exported by the cluster"
            + " manager's node only)")
        .callback(cb -> latest().exportedPower().filter(w -> w.budgetW() > 0).ifPresent(w -> cb.call(w.budgetW())))
        .register(registry);
    GaugeWithCallback.builder().name("dynamollm_cluster_power_predicted_watts")
        .help("The epoch layout's predicted peak GPU power before any cap, W (exported by the cluster manager's node"
            + " only)")
        .callback(cb -> latest().exportedPower().ifPresent(w -> cb.call(w.predictedW()))).register(registry);
    CounterWithCallback.builder().name("dynamollm_power_budget_violations")
        .help("Power governor checks (one per pool report) that found the measured GPU power over the watt budget"
            + " beyond its tolerance (exported by the cluster manager's node only)")
        .callback(cb -> latest().exportedPower().ifPresent(w -> cb.call(w.violations()))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_power_governor_steps")
        .help("Power governor steps in force: lowered clock ceilings and power caps (exported by the cluster"
            + " manager's node only)")
        .callback(cb -> latest().exportedPower().ifPresent(w -> cb.call(w.governorSteps()))).register(registry);
    GaugeWithCallback.builder().name("dynamollm_cluster_gpus")
        .help("GPUs of the listed GPU hosts (exported by the cluster manager's node only)")
        .callback(cb -> latest().exportedCluster().ifPresent(c -> cb.call(c.gpus()))).register(registry);
  }

  // ------------------------------------------------------------------------------------------------ exposition

  /** The registry (tests read snapshots from it). */
  public PrometheusRegistry registry() {
    return registry;
  }

  /** Every metric in the Prometheus text format (version 0.0.4). */
  public byte[] scrape() {
    ByteArrayOutputStream out = new ByteArrayOutputStream(16_384);
    try {
      PrometheusTextFormatWriter.create().write(out, registry.scrape(), EscapingScheme.UNDERSCORE_ESCAPING);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** The content type of {@link #scrape}. */
  public static String contentType() {
    return PrometheusTextFormatWriter.CONTENT_TYPE;
  }
}
