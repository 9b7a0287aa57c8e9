package io.dynamollm.control.live;

import io.dynamollm.decision.cluster.PlanPreview;
import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A plan preview as the admin API answers it (docs/admin-api.md: {@code POST /api/v1/plan/preview}). */
final class PreviewJson {
  private PreviewJson() {}

  static Map<String, Object> of(ClusterManager.PreviewAnswer a, SloTable proposedSlos) {
    Map<String, Object> out = new LinkedHashMap<>();
    if (a.now().isEmpty() || a.proposed().isEmpty()) {
      out.put("error", a.error());
      return out;
    }
    PlanPreview.Result now = a.now().get();
    PlanPreview.Result next = a.proposed().get();
    out.put("host_gpus", a.hostGpus());
    out.put("now", result(now, null));
    out.put("proposed", result(next, proposedSlos));
    Map<String, Object> diff = new LinkedHashMap<>();
    diff.put("power_w", round(next.predictedPowerW() - now.predictedPowerW(), 10));
    diff.put("energy_per_hour_kwh", round(next.energyPerHourKwh() - now.energyPerHourKwh(), 1000));
    diff.put("power_percent", now.predictedPowerW() > 0
        ? round(100 * (next.predictedPowerW() / now.predictedPowerW() - 1), 10) : 0.0);
    diff.put("gpus_used", next.gpusUsed() - now.gpusUsed());
    List<String> changed = new ArrayList<>();
    for (RequestType t : RequestType.values()) {
      if (!plan(now, t).equals(plan(next, t)) || meets(now, t) != meets(next, t)) {
        changed.add(t.name());
      }
    }
    diff.put("types_changed", changed);
    out.put("difference", diff);
    return out;
  }

  private static Map<String, Object> result(PlanPreview.Result r, SloTable slos) {
    Map<String, Object> o = new LinkedHashMap<>();
    o.put("predicted_power_w", round(r.predictedPowerW(), 10));
    o.put("energy_per_hour_kwh", round(r.energyPerHourKwh(), 1000));
    o.put("gpus_used", r.gpusUsed());
    o.put("layout_reason", r.layoutReason());
    List<Map<String, Object>> pools = new ArrayList<>();
    Map<String, Object> types = new LinkedHashMap<>();
    for (PlanPreview.Pool p : r.pools()) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("pool", p.pool());
      m.put("types", p.types().stream().sorted().map(Enum::name).toList());
      m.put("gpus", p.gpus());
      m.put("load_rps", round(p.plan().plannedLoadRps(), 1000));
      m.put("capacity_rps", round(p.capacityRps(), 1000));
      m.put("meets_slos", p.meetsSlos());
      m.put("plan", p.plan().describe());
      List<Map<String, Object>> groups = new ArrayList<>();
      for (PoolPlan.Group g : p.plan().groups()) {
        Map<String, Object> x = new LinkedHashMap<>();
        x.put("tp", g.tp().degree());
        x.put("clock_mhz", g.clockMhz());
        x.put("instances", g.instances());
        groups.add(x);
      }
      m.put("instances", groups);
      m.put("predicted_power_w", round(p.plan().predictedPowerW(), 10));
      m.put("power_cap_w", p.powerCapW() > 0 ? round(p.powerCapW(), 10) : null);
      m.put("planner", p.outcome());
      pools.add(m);
      for (RequestType t : p.types()) {
        Map<String, Object> tj = new LinkedHashMap<>();
        tj.put("pool", p.pool());
        if (slos != null) {
          Slo s = slos.of(t);
          tj.put("ttft_p99_ms", s.ttftP99Ms());
          tj.put("tbt_p99_ms", s.tbtP99Ms());
        }
        // the planner sizes a pool for its SLOs at p99 (with its margin): a pool that carries its load meets them
        tj.put("predicted_attainment", p.meetsSlos() ? "meets its SLO (planned for p99)"
            : String.format(java.util.Locale.ROOT, "short: capacity for %.0f %% of its load",
                100 * Math.min(1, p.capacityRps() / Math.max(1e-9, p.plan().plannedLoadRps()))));
        types.put(t.name(), tj);
      }
    }
    o.put("pools", pools);
    o.put("types", types);
    return o;
  }

  private static String plan(PlanPreview.Result r, RequestType t) {
    // instances per (TP, clock), whatever groups the planner split them into
    return r.pools().stream().filter(p -> p.types().contains(t)).map(p -> {
      java.util.Map<String, Integer> n = new java.util.TreeMap<>();
      p.plan().groups().forEach(g -> n.merge(g.tp() + "@" + g.clockMhz(), g.instances(), Integer::sum));
      return p.pool() + " " + n;
    }).findFirst().orElse("");
  }

  private static boolean meets(PlanPreview.Result r, RequestType t) {
    return r.pools().stream().filter(p -> p.types().contains(t)).map(PlanPreview.Pool::meetsSlos).findFirst()
        .orElse(false);
  }

  private static double round(double v, double scale) {
    return Math.round(v * scale) / scale;
  }
}
