package io.dynamollm.app.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.ConfigEstimate;
import io.dynamollm.protocol.profile.LoadPoint;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.ProfileTable;
import io.dynamollm.protocol.profile.TypeTable;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/** Renders a {@link ProfileTable} for a person (a grid per request type) or a program (JSON). */
public final class ProfileReport {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private ProfileReport() {}

  /** What the load level means, in a sentence. */
  public static String loadDefinition(ProfileTable table) {
    return String.format(Locale.ROOT,
        "%s load: every configuration serves, with one instance, %.0f%% of the request rate that one TP8 instance at "
            + "the max clock can serve within the type's SLO",
        table.load().label(), 100 * table.load().fractionOfTp8Capacity());
  }

  /** The text grid: rows TP, columns clock, cells energy per request in Wh, '-' where the SLO is missed. */
  public static String text(Profile profile, ProfileTable table) {
    StringBuilder out = new StringBuilder();
    out.append(table.model()).append(" on ").append(table.hardware()).append('\n');
    out.append(loadDefinition(table)).append(".\n");
    out.append("Cells: energy per request (Wh) of the whole instance; '-' misses the SLO at this load; "
        + "'*' marks the optimum.\n");
    List<Integer> clocks = profile.clockLevelsMhz();
    for (RequestType type : RequestType.values()) {
      TypeTable t = table.of(type);
      out.append('\n');
      out.append(String.format(Locale.ROOT, "%s  SLO: TTFT p99 %.0f ms, TBT p99 %.1f ms   load: %.2f req/s%n",
          type, t.slo().ttftP99Ms(), t.slo().tbtP99Ms(), t.loadRps()));
      out.append("      ");
      for (int mhz : clocks) {
        out.append(String.format(Locale.ROOT, "%9d", mhz));
      }
      out.append("  MHz\n");
      for (TensorParallelism tp : profile.tensorParallelisms()) {
        out.append(String.format(Locale.ROOT, "  %-4s", tp));
        for (int mhz : clocks) {
          ConfigEstimate c = cell(t, tp, mhz);
          boolean best = t.optimum().map(o -> o == c).orElse(false);
          String v = c.feasible() ? String.format(Locale.ROOT, "%.4f%s", c.energyWh(), best ? "*" : " ") : "-  ";
          out.append(String.format(Locale.ROOT, "%9s", v));
        }
        out.append('\n');
      }
      Optional<ConfigEstimate> best = t.optimum();
      if (best.isPresent()) {
        ConfigEstimate c = best.get();
        LoadPoint p = c.point();
        out.append(String.format(Locale.ROOT,
            "  optimum: %s at %d MHz, %.4f Wh/request, %.0f W per GPU (TTFT p99 %.0f ms, TBT p99 %.1f ms)%n",
            c.tp(), c.clockMhz(), c.energyWh(), p.powerPerGpuW(), p.ttftP99Ms(), p.tbtP99Ms()));
      } else {
        out.append("  optimum: none — no configuration meets the SLO at this load with one instance\n");
      }
    }
    return out.toString();
  }

  /** The JSON document (stable field names, snake_case; unknown or infinite numbers are null). */
  public static String json(Profile profile, ProfileTable table) {
    ObjectNode root = JSON.createObjectNode();
    root.put("model", table.model());
    root.put("hardware", table.hardware());
    root.put("load", table.load().label());
    root.put("load_definition", loadDefinition(table));
    ArrayNode clocks = root.putArray("clocks_mhz");
    profile.clockLevelsMhz().forEach(clocks::add);
    ObjectNode types = root.putObject("types");
    for (RequestType type : RequestType.values()) {
      TypeTable t = table.of(type);
      ObjectNode n = types.putObject(type.name());
      ObjectNode slo = n.putObject("slo");
      slo.put("ttft_p99_ms", t.slo().ttftP99Ms());
      slo.put("tbt_p99_ms", t.slo().tbtP99Ms());
      number(n, "load_rps", t.loadRps());
      if (t.optimum().isPresent()) {
        ConfigEstimate c = t.optimum().get();
        ObjectNode o = n.putObject("optimum");
        o.put("tp", c.tp().degree());
        o.put("freq_mhz", c.clockMhz());
        number(o, "energy_wh", c.energyWh());
      } else {
        n.putNull("optimum");
      }
      ArrayNode configs = n.putArray("configs");
      for (ConfigEstimate c : t.configs()) {
        ObjectNode cn = configs.addObject();
        cn.put("tp", c.tp().degree());
        cn.put("freq_mhz", c.clockMhz());
        cn.put("feasible", c.feasible());
        LoadPoint p = c.point();
        number(cn, "energy_wh", p.stable() ? p.energyPerRequestWh() : Double.NaN);
        number(cn, "ttft_p99_ms", p.ttftP99Ms());
        number(cn, "tbt_p99_ms", p.tbtP99Ms());
        number(cn, "power_per_gpu_w", p.stable() ? p.powerPerGpuW() : Double.NaN);
        number(cn, "capacity_rps", c.capacityRps());
        number(cn, "energy_at_capacity_wh", c.energyAtCapacityWh());
      }
    }
    try {
      return JSON.writeValueAsString(root) + "\n";
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException("cannot render profile JSON", e);
    }
  }

  private static ConfigEstimate cell(TypeTable t, TensorParallelism tp, int mhz) {
    for (ConfigEstimate c : t.configs()) {
      if (c.tp().equals(tp) && c.clockMhz() == mhz) {
        return c;
      }
    }
    throw new IllegalStateException("profile table lacks " + tp + " at " + mhz + " MHz");
  }

  private static void number(ObjectNode n, String field, double v) {
    if (Double.isFinite(v)) {
      n.put(field, Math.round(v * 1e6) / 1e6);
    } else {
      n.putNull(field);
    }
  }
}
