package io.dynamollm.sim;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Grid carbon intensity over the simulated time, gCO2/kWh: a constant, or a CSV of {@code hour,g_per_kwh} rows (hours
 * from the workload's start, ascending; each value holds until the next row; the last one to the end).
 */
public final class GridIntensity {
  private final double[] hours;
  private final double[] values;
  private final String description;

  private GridIntensity(double[] hours, double[] values, String description) {
    this.hours = hours;
    this.values = values;
    this.description = description;
  }

  public static GridIntensity constant(double gPerKwh) {
    if (!(gPerKwh >= 0) || Double.isInfinite(gPerKwh)) {
      throw new IllegalArgumentException("grid carbon intensity must be >= 0 g/kWh, got " + gPerKwh);
    }
    return new GridIntensity(new double[] {0}, new double[] {gPerKwh},
        String.format(Locale.ROOT, "constant %.0f gCO2/kWh", gPerKwh));
  }

  public static GridIntensity csv(Path file) {
    List<double[]> rows = new ArrayList<>();
    List<String> lines;
    try {
      lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new WorkloadException("cannot read grid-intensity file " + file + ": " + e.getMessage());
    }
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).trim();
      if (line.isEmpty() || (i == 0 && !Character.isDigit(line.charAt(0)))) {
        continue; // blank lines and a header
      }
      String[] f = line.split(",");
      if (f.length < 2) {
        throw new WorkloadException(file + ":" + (i + 1) + ": expected hour,g_per_kwh, got '" + line + "'");
      }
      double h;
      double g;
      try {
        h = Double.parseDouble(f[0].trim());
        g = Double.parseDouble(f[1].trim());
      } catch (NumberFormatException e) {
        throw new WorkloadException(file + ":" + (i + 1) + ": hour and g_per_kwh must be numbers, got '" + line + "'");
      }
      if (h < 0 || g < 0 || !Double.isFinite(h) || !Double.isFinite(g)) {
        throw new WorkloadException(file + ":" + (i + 1) + ": hour and g_per_kwh must be finite and >= 0, got '" + line + "'");
      }
      if (!rows.isEmpty() && h <= rows.get(rows.size() - 1)[0]) {
        throw new WorkloadException(file + ":" + (i + 1) + ": hours must increase, got " + h + " after "
            + rows.get(rows.size() - 1)[0]);
      }
      rows.add(new double[] {h, g});
    }
    if (rows.isEmpty()) {
      throw new WorkloadException(file + " has no hour,g_per_kwh rows");
    }
    double[] hs = new double[rows.size()];
    double[] vs = new double[rows.size()];
    for (int i = 0; i < hs.length; i++) {
      hs[i] = rows.get(i)[0];
      vs[i] = rows.get(i)[1];
    }
    return new GridIntensity(hs, vs, file.getFileName() + " (" + rows.size() + " hourly values)");
  }

  /** Intensity at {@code hour} from the workload's start. */
  public double at(double hour) {
    int i = java.util.Arrays.binarySearch(hours, hour);
    int idx = i >= 0 ? i : Math.max(0, -i - 2);
    return values[idx];
  }

  /** kg CO2 of a per-minute power series (W). */
  double carbonKg(double[] powerPerMinuteW) {
    double grams = 0;
    for (int m = 0; m < powerPerMinuteW.length; m++) {
      double kwh = powerPerMinuteW[m] * 60 / 3.6e6;
      grams += kwh * at(m / 60.0);
    }
    return grams / 1000;
  }

  public String describe() {
    return description;
  }
}
