package io.dynamollm.app.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.profile.ConfigEstimate;
import io.dynamollm.protocol.profile.LoadLevel;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.ProfileTable;
import io.dynamollm.protocol.profile.TypeTable;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Two profiles on the same grid (e.g. H100 against H200): per request type, both asked to serve the same load within
 * the same SLO — the first profile's load level and SLOs — with the optimum (TP, clock) of each and its energy per
 * request. As text, JSON and an SVG bar chart.
 */
public final class ProfileComparison {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private final Profile a;
  private final Profile b;
  private final ProfileTable tableA;
  private final ProfileTable tableB;

  private ProfileComparison(Profile a, Profile b, ProfileTable tableA, ProfileTable tableB) {
    this.a = a;
    this.b = b;
    this.tableA = tableA;
    this.tableB = tableB;
  }

  /** {@code a} and {@code b} at {@code a}'s load level {@code level}, both against {@code slos}. */
  public static ProfileComparison of(Profile a, Profile b, SloTable slos, LoadLevel level) {
    Map<RequestType, Double> loads = ProfileTable.loads(a, slos, level);
    return new ProfileComparison(a, b, ProfileTable.build(a, slos, level, loads),
        ProfileTable.build(b, slos, level, loads));
  }

  private static String name(Profile p) {
    return p.model() + " on " + p.hardware();
  }

  private static String cell(Optional<ConfigEstimate> o) {
    return o.map(c -> String.format(Locale.ROOT, "%s %4d MHz %.4f Wh", c.tp(), c.clockMhz(), c.energyWh()))
        .orElse("none meets the SLO");
  }

  /** Energy of b's optimum over a's, NaN where either has none. */
  private static double ratio(TypeTable ta, TypeTable tb) {
    if (ta.optimum().isEmpty() || tb.optimum().isEmpty()) {
      return Double.NaN;
    }
    return tb.optimum().get().energyWh() / ta.optimum().get().energyWh();
  }

  public String text() {
    StringBuilder s = new StringBuilder();
    s.append("A: ").append(name(a)).append('\n').append("B: ").append(name(b)).append('\n');
    s.append(ProfileReport.loadDefinition(tableA)).append(", on A; B serves the same load within the same SLOs.\n");
    s.append("Cells: the optimum (TP, clock) and its energy per request of the whole instance.\n\n");
    s.append(String.format(Locale.ROOT, "%-4s %9s  %-28s %-28s %s%n", "type", "load/s", "A optimum", "B optimum",
        "B / A energy"));
    for (RequestType t : RequestType.values()) {
      TypeTable ta = tableA.of(t);
      TypeTable tb = tableB.of(t);
      double r = ratio(ta, tb);
      s.append(String.format(Locale.ROOT, "%-4s %9.2f  %-28s %-28s %s%n", t, ta.loadRps(), cell(ta.optimum()),
          cell(tb.optimum()), Double.isNaN(r) ? "-" : String.format(Locale.ROOT, "%.2f", r)));
    }
    return s.toString();
  }

  public String json() {
    ObjectNode root = JSON.createObjectNode();
    root.putObject("a").put("model", a.model()).put("hardware", a.hardware());
    root.putObject("b").put("model", b.model()).put("hardware", b.hardware());
    root.put("load", tableA.load().label());
    root.put("load_definition", ProfileReport.loadDefinition(tableA));
    ObjectNode types = root.putObject("types");
    for (RequestType t : RequestType.values()) {
      TypeTable ta = tableA.of(t);
      TypeTable tb = tableB.of(t);
      ObjectNode n = types.putObject(t.name());
      n.put("load_rps", ta.loadRps());
      n.putObject("slo").put("ttft_p99_ms", ta.slo().ttftP99Ms()).put("tbt_p99_ms", ta.slo().tbtP99Ms());
      optimum(n, "a", ta.optimum());
      optimum(n, "b", tb.optimum());
      double r = ratio(ta, tb);
      if (Double.isNaN(r)) {
        n.putNull("energy_ratio_b_over_a");
      } else {
        n.put("energy_ratio_b_over_a", r);
      }
    }
    try {
      return JSON.writeValueAsString(root) + "\n";
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void optimum(ObjectNode n, String field, Optional<ConfigEstimate> o) {
    if (o.isEmpty()) {
      n.putNull(field);
      return;
    }
    ConfigEstimate c = o.get();
    n.putObject(field).put("tp", c.tp().degree()).put("freq_mhz", c.clockMhz()).put("energy_wh", c.energyWh())
        .put("power_w_per_gpu", c.point().powerPerGpuW());
  }

  /** Energy per request at each type's optimum, A and B side by side, labelled with the optimum's TP and clock. */
  public String svg() {
    RequestType[] types = RequestType.values();
    int left = 60;
    int top = 70;
    int plotH = 260;
    int group = 92;
    int bar = 34;
    int width = left + group * types.length + 20;
    int height = top + plotH + 70;
    double max = 0;
    for (RequestType t : types) {
      for (ProfileTable table : new ProfileTable[] {tableA, tableB}) {
        max = Math.max(max, table.of(t).optimum().map(ConfigEstimate::energyWh).orElse(0.0));
      }
    }
    double yMax = max <= 0 ? 1 : max * 1.15;
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        + "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">%n", width, height,
        width, height));
    s.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    s.append(ProfileChart.text(10, 18, 14, "bold", "start", "Energy per request at each type's optimum, "
        + tableA.load().label() + " load"));
    String[] colors = {"#1b9e77", "#7570b3"};
    for (int i = 0; i < 2; i++) {
      s.append(String.format(Locale.ROOT, "<rect x=\"10\" y=\"%d\" width=\"12\" height=\"10\" fill=\"%s\"/>%n",
          27 + i * 16, colors[i]));
      s.append(ProfileChart.text(26, 36 + i * 16, 11, "normal", "start", (i == 0 ? "A: " + name(a) : "B: " + name(b))
          + (i == 0 ? "   (both at A's load and SLOs; bar label: TP/clock)" : "")));
    }
    for (int i = 0; i <= 4; i++) {
      double v = yMax * i / 4;
      double y = top + plotH - plotH * i / 4.0;
      s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>%n",
          left, y, width - 20, y));
      s.append(ProfileChart.text(left - 4, (int) y + 4, 10, "normal", "end", String.format(Locale.ROOT, "%.3f", v)));
    }
    s.append(String.format(Locale.ROOT, "<text x=\"14\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\" "
        + "transform=\"rotate(-90 14 %d)\">Wh / request</text>%n", top + plotH / 2, top + plotH / 2));
    for (int k = 0; k < types.length; k++) {
      int gx = left + k * group + 10;
      ProfileTable[] tables = {tableA, tableB};
      for (int i = 0; i < 2; i++) {
        Optional<ConfigEstimate> o = tables[i].of(types[k]).optimum();
        int x = gx + i * (bar + 4);
        if (o.isEmpty()) {
          s.append(ProfileChart.text(x + bar / 2, top + plotH - 4, 9, "normal", "middle", "none"));
          continue;
        }
        double h = plotH * o.get().energyWh() / yMax;
        s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\">"
            + "<title>%s %s: %s</title></rect>%n", x, top + plotH - h, bar, h, colors[i], types[k], i == 0 ? "A" : "B",
            cell(o)));
        s.append(ProfileChart.text(x + bar / 2, (int) (top + plotH - h) - 3, 9, "normal", "middle",
            o.get().tp().degree() + "/" + o.get().clockMhz()));
      }
      s.append(ProfileChart.text(gx + bar + 2, top + plotH + 16, 11, "bold", "middle", types[k].name()));
      double r = ratio(tableA.of(types[k]), tableB.of(types[k]));
      if (!Double.isNaN(r)) {
        s.append(ProfileChart.text(gx + bar + 2, top + plotH + 30, 10, "normal", "middle",
            String.format(Locale.ROOT, "B/A %.2f", r)));
      }
    }
    s.append("</svg>\n");
    return s.toString();
  }
}
