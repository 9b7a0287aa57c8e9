package io.dynamollm.sim;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dynamollm.protocol.RequestType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Writes a comparison as JSON (for programs) and as an HTML page of charts (for people). */
public final class ReportWriter {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  /** Points per line at most; longer series are thinned so a week's report stays small. */
  private static final int MAX_POINTS = 1200;
  private static final String[] COLORS = {"#444444", "#a6761d", "#e6ab02", "#7570b3", "#1b9e77", "#d95f02", "#e7298a"};

  private ReportWriter() {}

  public static String json(SimulationRunner.Report r) {
    ObjectNode root = JSON.createObjectNode();
    root.put("profile", r.profile());
    root.put("workload", r.workload());
    root.put("synthetic", r.synthetic());
    root.put("requests_in_workload", r.requestsInWorkload());
    root.put("servers", r.servers());
    root.put("sizing", r.sizing());
    root.put("predictor", r.predictor());
    root.put("duration_s", r.durationMs() / 1000);
    root.put("oracle_check", r.oracleCheck());
    ObjectNode policies = root.putObject("policies");
    PolicyResult base = r.policies().get("singlepool");
    for (PolicyResult p : r.policies().values()) {
      ObjectNode n = policies.putObject(p.name());
      num(n, "energy_kwh", p.energyKwh());
      num(n, "gpu_hours", p.gpuHours());
      num(n, "avg_servers", p.avgServers());
      n.put("requests", p.requests());
      n.put("rejected", p.rejected());
      n.put("dropped", p.dropped());
      num(n, "slo_attainment", p.sloAttainment());
      num(n, "ttft_p50_ms", p.ttftP50Ms());
      num(n, "ttft_p99_ms", p.ttftP99Ms());
      num(n, "tbt_p50_ms", p.tbtP50Ms());
      num(n, "tbt_p99_ms", p.tbtP99Ms());
      num(n, "power_p50_w", p.powerP50W());
      num(n, "power_p99_w", p.powerP99W());
      ObjectNode rc = n.putObject("reconfigurations");
      rc.put("scale", p.scaleChanges());
      rc.put("reshard", p.reshards());
      rc.put("frequency", p.frequencyChanges());
      num(n, "carbon_kg", p.carbonKg());
      num(n, "cost_usd", p.costUsd());
      if (base != null && base != p && base.energyKwh() > 0) {
        num(n, "energy_vs_singlepool", p.energyKwh() / base.energyKwh() - 1);
      }
      ObjectNode byType = n.putObject("attainment_by_type");
      ObjectNode misses = n.putObject("misses_by_type");
      for (RequestType t : RequestType.values()) {
        long served = p.byType()[0][t.ordinal()];
        if (served > 0) {
          num(byType, t.name(), (double) p.byType()[1][t.ordinal()] / served);
          ObjectNode m = misses.putObject(t.name());
          m.put("served", served);
          m.put("ttft", p.byType()[2][t.ordinal()]);
          m.put("tbt", p.byType()[3][t.ordinal()]);
        }
      }
    }
    try {
      return JSON.writeValueAsString(root) + "\n";
    } catch (IOException e) {
      throw new IllegalStateException("cannot render the report", e);
    }
  }

  private static void num(ObjectNode n, String f, double v) {
    if (Double.isFinite(v)) {
      n.put(f, Math.round(v * 1e6) / 1e6);
    } else {
      n.putNull(f);
    }
  }

  /** Writes index.html into {@code dir}. */
  public static Path html(SimulationRunner.Report r, Path dir) throws IOException {
    Files.createDirectories(dir);
    StringBuilder h = new StringBuilder();
    h.append("<!doctype html><html><head><meta charset=\"utf-8\"><title>dynamollm simulation</title><style>")
        .append("body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}")
        .append("td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}")
        .append("h2{margin-top:32px}.note{color:#555;font-size:13px}</style></head><body>");
    h.append("<h1>dynamollm simulation</h1>");
    h.append("<p>Workload: <b>").append(esc(r.workload())).append("</b>").append(r.synthetic() ? " (synthetic)" : "")
        .append(String.format(Locale.ROOT, "; %d requests; %d servers (%s); predictor: %s.</p>", r.requestsInWorkload(),
            r.servers(), esc(r.sizing()), esc(r.predictor())));
    h.append("<p>Profile: ").append(esc(r.profile())).append(".</p>");
    h.append("<p class=\"note\">").append(esc(r.oracleCheck()))
        .append(". Energy counts GPUs only. Trace data: Azure Public Dataset. Clock-dependent numbers rest on the profile's"
            + " frequency model (docs/profile.md).</p>");
    // table
    h.append("<table><tr><th>policy</th><th>energy kWh</th><th>vs singlepool</th><th>SLO attainment</th>"
        + "<th>avg servers</th><th>TTFT p50/p99 ms</th><th>TBT p50/p99 ms</th><th>power p50/p99 kW</th>"
        + "<th>scale / reshard / clock</th><th>CO2 kg</th><th>cost $</th></tr>");
    PolicyResult base = r.policies().get("singlepool");
    for (PolicyResult p : r.policies().values()) {
      String vs = base != null && base.energyKwh() > 0 ? String.format(Locale.ROOT, "%+.1f %%", 100 * (p.energyKwh() / base.energyKwh() - 1)) : "";
      h.append(String.format(Locale.ROOT,
          "<tr><td style=\"text-align:left\">%s</td><td>%.2f</td><td>%s</td><td>%.2f %%</td><td>%.2f</td><td>%.0f / %.0f</td>"
              + "<td>%.1f / %.1f</td><td>%.1f / %.1f</td><td>%d / %d / %d</td><td>%.2f</td><td>%.2f</td></tr>",
          p.name(), p.energyKwh(), vs, 100 * p.sloAttainment(), p.avgServers(), p.ttftP50Ms(), p.ttftP99Ms(), p.tbtP50Ms(),
          p.tbtP99Ms(), p.powerP50W() / 1000, p.powerP99W() / 1000, p.scaleChanges(), p.reshards(), p.frequencyChanges(),
          p.carbonKg(), p.costUsd()));
    }
    h.append("</table>");
    List<PolicyResult> all = new ArrayList<>(r.policies().values());
    h.append("<h2>Energy and SLO attainment</h2>");
    h.append(bars(all, "energy (kWh)", true)).append(bars(all, "SLO attainment (%)", false));
    h.append("<h2>Cluster power over time</h2>").append(powerChart(all));
    for (PolicyResult p : all) {
      if (p.poolSeries().size() > 1 || p.name().equals("dynamollm")) {
        h.append("<h2>").append(esc(p.name())).append(": pools over time</h2>");
        h.append(poolChart(p, 1, "instances per pool"));
        h.append(poolChart(p, 3, "mean TP of a pool's instances"));
        h.append(poolChart(p, 4, "mean clock per pool (MHz)"));
      }
    }
    h.append("</body></html>\n");
    Path out = dir.resolve("index.html");
    Files.writeString(out, h.toString());
    return out;
  }

  private static String bars(List<PolicyResult> ps, String title, boolean energy) {
    int w = 520;
    int rowH = 24;
    int h = 30 + rowH * ps.size();
    double max = 0;
    for (PolicyResult p : ps) {
      max = Math.max(max, energy ? p.energyKwh() : 100);
    }
    double min = energy ? 0 : Math.max(0, Math.floor(ps.stream().mapToDouble(p -> 100 * p.sloAttainment()).min().orElse(90)) - 1);
    StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
        "<svg width=\"%d\" height=\"%d\" style=\"margin-right:24px\" font-size=\"12\"><text x=\"0\" y=\"14\" font-weight=\"bold\">%s</text>",
        w, h, esc(title)));
    for (int i = 0; i < ps.size(); i++) {
      PolicyResult p = ps.get(i);
      double v = energy ? p.energyKwh() : 100 * p.sloAttainment();
      double len = (w - 200) * Math.max(0, v - min) / Math.max(1e-9, max - min);
      int y = 24 + i * rowH;
      s.append(String.format(Locale.ROOT, "<text x=\"0\" y=\"%d\">%s</text><rect x=\"90\" y=\"%d\" width=\"%.1f\" height=\"16\" fill=\"%s\"/>"
          + "<text x=\"%.1f\" y=\"%d\">%s</text>", y + 12, p.name(), y, len, COLORS[i % COLORS.length], 95 + len, y + 12,
          String.format(Locale.ROOT, energy ? "%.2f" : "%.2f", v)));
    }
    if (!energy) {
      s.append(String.format(Locale.ROOT, "<text x=\"90\" y=\"%d\" fill=\"#777\">axis from %.0f %%</text>", h - 2, min));
    }
    return s.append("</svg>").toString();
  }

  private static String powerChart(List<PolicyResult> ps) {
    int w = 900;
    int h = 320;
    int l = 60;
    int t = 20;
    int pw = w - l - 150;
    int ph = h - t - 40;
    int n = ps.stream().mapToInt(p -> p.powerSeriesW().length).max().orElse(1);
    double max = ps.stream().flatMapToDouble(p -> java.util.Arrays.stream(p.powerSeriesW())).max().orElse(1) / 1000;
    max = Math.max(1e-9, niceCeil(max));
    StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "<svg width=\"%d\" height=\"%d\" font-size=\"11\">", w, h));
    axes(s, l, t, pw, ph, max, "kW", n, "minute");
    int step = Math.max(1, (int) Math.ceil(n / (double) MAX_POINTS)); // long runs: average over several minutes
    for (int i = 0; i < ps.size(); i++) {
      double[] v = ps.get(i).powerSeriesW();
      StringBuilder d = new StringBuilder();
      for (int k = 0; k < v.length; k += step) {
        double sum = 0;
        int cnt = 0;
        for (int j = k; j < Math.min(v.length, k + step); j++) {
          sum += v[j];
          cnt++;
        }
        double x = l + pw * (k + cnt / 2.0) / n;
        double y = t + ph - ph * (sum / cnt / 1000) / max;
        d.append(k == 0 ? "M" : "L").append(String.format(Locale.ROOT, "%.1f %.1f ", x, y));
      }
      s.append(String.format(Locale.ROOT, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"/>", d, COLORS[i % COLORS.length]));
      s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"3\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>",
          l + pw + 12, t + 10 + i * 16, COLORS[i % COLORS.length], l + pw + 30, t + 14 + i * 16, ps.get(i).name()));
    }
    return s.append("</svg>").toString();
  }

  private static String poolChart(PolicyResult p, int column, String title) {
    int w = 900;
    int h = 240;
    int l = 60;
    int t = 24;
    int pw = w - l - 150;
    int ph = h - t - 40;
    double max = 0;
    int n = 1;
    for (List<double[]> series : p.poolSeries().values()) {
      for (double[] row : series) {
        max = Math.max(max, row[column]);
        n = Math.max(n, (int) Math.ceil(row[0]) + 1);
      }
    }
    max = Math.max(1e-9, niceCeil(max));
    StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "<svg width=\"%d\" height=\"%d\" font-size=\"11\">"
        + "<text x=\"%d\" y=\"14\" font-weight=\"bold\">%s</text>", w, h, l, esc(title)));
    axes(s, l, t, pw, ph, max, "", n, "minute");
    int i = 0;
    for (Map.Entry<String, List<double[]>> e : p.poolSeries().entrySet()) {
      StringBuilder d = new StringBuilder();
      boolean first = true;
      int every = Math.max(1, (int) Math.ceil(e.getValue().size() / (double) MAX_POINTS));
      int idx = 0;
      for (double[] row : e.getValue()) {
        if (idx++ % every != 0) {
          continue; // long runs: one sample in every few minutes
        }
        double x = l + pw * row[0] / n;
        double y = t + ph - ph * row[column] / max;
        d.append(first ? "M" : "L").append(String.format(Locale.ROOT, "%.1f %.1f ", x, y));
        first = false;
      }
      String color = COLORS[(i + 1) % COLORS.length];
      s.append(String.format(Locale.ROOT, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\"/>", d, color));
      s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"3\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>",
          l + pw + 12, t + 10 + i * 16, color, l + pw + 30, t + 14 + i * 16, esc(e.getKey())));
      i++;
    }
    return s.append("</svg>").toString();
  }

  private static void axes(StringBuilder s, int l, int t, int pw, int ph, double max, String unit, int n, String xLabel) {
    s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>", l, t, pw, ph));
    for (int k = 0; k <= 4; k++) {
      double v = max * k / 4;
      double y = t + ph - ph * k / 4.0;
      s.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
          + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s %s</text>", l, l + pw, y, y, l - 4, y + 4, trim(v), unit));
    }
    int step = Math.max(1, (int) niceCeil(n / 8.0));
    for (int m = 0; m <= n; m += step) {
      double x = l + pw * (double) m / n;
      s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>", x, t + ph + 14, m));
    }
    s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>", l + pw / 2, t + ph + 30, xLabel));
  }

  private static String trim(double v) {
    return java.math.BigDecimal.valueOf(v).setScale(2, java.math.RoundingMode.HALF_UP).stripTrailingZeros().toPlainString();
  }

  static double niceCeil(double v) {
    if (!(v > 0)) {
      return 1;
    }
    double p = Math.pow(10, Math.floor(Math.log10(v)));
    for (double m : new double[] {1, 2, 2.5, 4, 5, 8, 10}) {
      if (m * p >= v) {
        return m * p;
      }
    }
    return 10 * p;
  }

  private static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }
}
