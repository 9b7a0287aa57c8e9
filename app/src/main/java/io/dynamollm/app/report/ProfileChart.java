package io.dynamollm.app.report;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.ConfigEstimate;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.ProfileTable;
import io.dynamollm.protocol.profile.TypeTable;
import java.util.List;
import java.util.Locale;

/**
 * The profile as a picture: one panel per request type, energy per request against the GPU clock, one line per TP.
 * Solid points meet the SLO at the load level; hollow points miss it; the optimum is ringed. A dashed line per TP
 * shows the energy per request at that clock's own capacity, where the U shape in the clock is visible.
 */
public final class ProfileChart {
  private static final String[] COLORS = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a"};
  private static final int PANEL_W = 300;
  private static final int PANEL_H = 210;
  private static final int MARGIN_L = 52;
  private static final int MARGIN_T = 28;
  private static final int PLOT_W = 230;
  private static final int PLOT_H = 140;

  private ProfileChart() {}

  public static String svg(Profile profile, ProfileTable table) {
    List<Integer> clocks = profile.clockLevelsMhz();
    List<TensorParallelism> tps = profile.tensorParallelisms();
    int width = 3 * PANEL_W + 20;
    int height = 3 * PANEL_H + 90;
    StringBuilder s = new StringBuilder();
    s.append(String.format(Locale.ROOT,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            + "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">%n", width, height, width, height));
    s.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    s.append(text(10, 18, 14, "bold", "start",
        table.model() + " on " + table.hardware() + " — energy per request vs GPU clock, " + table.load().label() + " load"));
    s.append(text(10, 36, 11, "normal", "start", ProfileReport.loadDefinition(table) + "."));
    s.append(text(250, 56, 11, "normal", "start",
        "solid dot: meets the SLO · hollow: misses it · ring: optimum · dashed: at that clock's own capacity"));
    int legendX = 10;
    for (int i = 0; i < tps.size(); i++) {
      int x = legendX + i * 70;
      s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"52\" x2=\"%d\" y2=\"52\" stroke=\"%s\" stroke-width=\"2.5\"/>%n",
          x, x + 22, COLORS[i % COLORS.length]));
      s.append(text(x + 27, 56, 11, "normal", "start", tps.get(i).toString()));
    }
    RequestType[] types = RequestType.values();
    for (int k = 0; k < types.length; k++) {
      int ox = 10 + (k % 3) * PANEL_W;
      int oy = 70 + (k / 3) * PANEL_H;
      panel(s, ox, oy, table.of(types[k]), clocks, tps);
    }
    s.append("</svg>\n");
    return s.toString();
  }

  private static void panel(StringBuilder s, int ox, int oy, TypeTable t, List<Integer> clocks, List<TensorParallelism> tps) {
    // Scale to the energies at this load; the at-capacity curves of tiny capacities shoot up and are clipped.
    double max = 0;
    for (ConfigEstimate c : t.configs()) {
      if (Double.isFinite(c.energyWh()) && c.point().stable()) {
        max = Math.max(max, c.energyWh());
      }
    }
    double yMax = niceCeiling(max * 1.15);
    int px = ox + MARGIN_L;
    int py = oy + MARGIN_T;
    s.append(text(ox + MARGIN_L, oy + 10, 12, "bold", "start", t.type().name()));
    s.append(text(ox + MARGIN_L + 28, oy + 10, 10, "normal", "start", String.format(Locale.ROOT,
        "SLO TTFT %.0f ms, TBT %.0f ms · %.2f req/s", t.slo().ttftP99Ms(), t.slo().tbtP99Ms(), t.loadRps())));
    s.append(String.format(Locale.ROOT,
        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>%n", px, py, PLOT_W, PLOT_H));
    for (int i = 0; i <= 4; i++) {
      double v = yMax * i / 4;
      double y = py + PLOT_H - PLOT_H * i / 4.0;
      s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#eee\"/>%n",
          px, y, px + PLOT_W, y));
      s.append(text(px - 4, (int) y + 4, 10, "normal", "end",
          java.math.BigDecimal.valueOf(v).setScale(4, java.math.RoundingMode.HALF_UP).stripTrailingZeros().toPlainString()));
    }
    int minMhz = clocks.get(0);
    int maxMhz = clocks.get(clocks.size() - 1);
    for (int mhz : clocks) {
      double x = xOf(px, mhz, minMhz, maxMhz);
      s.append(text((int) x, py + PLOT_H + 14, 10, "normal", "middle", Integer.toString(mhz)));
    }
    s.append(text(px + PLOT_W / 2, py + PLOT_H + 28, 10, "normal", "middle", "GPU clock (MHz)"));
    s.append(String.format(Locale.ROOT,
        "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\" transform=\"rotate(-90 %d %d)\">Wh / request</text>%n",
        ox + 12, py + PLOT_H / 2, ox + 12, py + PLOT_H / 2));
    for (int i = 0; i < tps.size(); i++) {
      String color = COLORS[i % COLORS.length];
      TensorParallelism tp = tps.get(i);
      StringBuilder line = new StringBuilder();
      StringBuilder dashed = new StringBuilder();
      for (ConfigEstimate c : t.configs()) {
        if (!c.tp().equals(tp)) {
          continue;
        }
        double x = xOf(px, c.clockMhz(), minMhz, maxMhz);
        if (c.point().stable() && Double.isFinite(c.energyWh())) {
          line.append(line.length() == 0 ? "M" : "L").append(String.format(Locale.ROOT, "%.1f %.1f ", x, yOf(py, c.energyWh(), yMax)));
        }
        if (Double.isFinite(c.energyAtCapacityWh())) {
          dashed.append(dashed.length() == 0 ? "M" : "L")
              .append(String.format(Locale.ROOT, "%.1f %.1f ", x, yOf(py, c.energyAtCapacityWh(), yMax)));
        }
      }
      if (dashed.length() > 0) {
        s.append(String.format(Locale.ROOT,
            "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\" opacity=\"0.8\"/>%n",
            dashed.toString().trim(), color));
      }
      if (line.length() > 0) {
        s.append(String.format(Locale.ROOT, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>%n",
            line.toString().trim(), color));
      }
      for (ConfigEstimate c : t.configs()) {
        if (!c.tp().equals(tp) || !c.point().stable() || !Double.isFinite(c.energyWh())) {
          continue;
        }
        double x = xOf(px, c.clockMhz(), minMhz, maxMhz);
        double y = yOf(py, c.energyWh(), yMax);
        s.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"%s\" stroke=\"%s\" stroke-width=\"1.5\">"
                + "<title>%s %d MHz: %.4f Wh, TTFT p99 %.0f ms, TBT p99 %.1f ms%s</title></circle>%n",
            x, y, c.feasible() ? color : "white", color, c.tp(), c.clockMhz(), c.energyWh(), c.point().ttftP99Ms(),
            c.point().tbtP99Ms(), c.feasible() ? "" : " (misses the SLO)"));
      }
    }
    t.optimum().ifPresent(c -> s.append(String.format(Locale.ROOT,
        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"7\" fill=\"none\" stroke=\"black\" stroke-width=\"1.5\"/>%n",
        xOf(px, c.clockMhz(), minMhz, maxMhz), yOf(py, c.energyWh(), yMax))));
    if (t.optimum().isEmpty()) {
      s.append(text(px + PLOT_W / 2, py + 16, 10, "normal", "middle", "no configuration meets the SLO at this load"));
    }
  }

  private static double xOf(int px, int mhz, int min, int max) {
    return px + 8 + (PLOT_W - 16) * (mhz - min) / (double) (max - min);
  }

  private static double yOf(int py, double v, double yMax) {
    return py + PLOT_H - PLOT_H * Math.min(v, yMax) / yMax;
  }

  /** 1, 2 or 5 times a power of ten, at least v. */
  static double niceCeiling(double v) {
    if (!(v > 0)) {
      return 1;
    }
    double p = Math.pow(10, Math.floor(Math.log10(v)));
    for (double m : new double[] {1, 2, 4, 5, 8, 10}) {
      if (m * p >= v) {
        return m * p;
      }
    }
    return 10 * p;
  }

  /** An SVG text element, its body escaped (the comparison chart draws its labels with it too). */
  static String text(int x, int y, int size, String weight, String anchor, String body) {
    return String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"%d\" font-weight=\"%s\" text-anchor=\"%s\">%s</text>%n",
        x, y, size, weight, anchor, escape(body));
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }
}
