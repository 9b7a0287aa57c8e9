package io.dynamollm.sim;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeFormatterBuilder;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoField;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * A trace in the Azure LLM inference trace format: CSV with columns {@code TIMESTAMP, ContextTokens,
 * GeneratedTokens}, one row per request, sorted by time (credit: Azure Public Dataset).
 *
 * <p>Bad input stops the read with a message naming the file, the line and what is wrong: a malformed row, a
 * timestamp earlier than the previous one, a row dated more than {@value #MAX_SPAN_DAYS} days after the first (a
 * mis-dated row would otherwise make a years-long simulation), a negative or absurd token count (more than
 * {@value #MAX_TOKENS}), an empty file, a trace of several rows that all carry one timestamp (its times were lost).
 * Rows that share a timestamp (timestamps of whole seconds) arrive spread evenly over the time to the next
 * timestamp, at most one second, instead of all at once. Rows whose prompt plus output exceed the maximum context are
 * kept; the classifier rejects them and the report counts them.
 */
public final class AzureTraceWorkload implements Workload {
  static final int MAX_TOKENS = 1_000_000;
  /** The longest span a trace may have (as the synthetic workloads). */
  static final int MAX_SPAN_DAYS = 28;
  private static final DateTimeFormatter TIMESTAMP = new DateTimeFormatterBuilder()
      .appendPattern("yyyy-MM-dd HH:mm:ss")
      .optionalStart().appendFraction(ChronoField.NANO_OF_SECOND, 0, 9, true).optionalEnd()
      .toFormatter(Locale.ROOT);

  private final String name;
  private final float[] arrivalMs;
  private final int[] prompt;
  private final int[] output;
  private final double durationMs;

  private AzureTraceWorkload(String name, float[] arrivalMs, int[] prompt, int[] output, double durationMs) {
    this.name = name;
    this.arrivalMs = arrivalMs;
    this.prompt = prompt;
    this.output = output;
    this.durationMs = durationMs;
  }

  /**
   * Reads {@code file}.
   *
   * @param rateScale request rate multiplier that keeps the trace's time shape: each row is replayed
   *     {@code floor(rateScale)} times, once more with probability {@code rateScale - floor(rateScale)} (so 0.5 keeps
   *     about half the rows); copies arrive up to 30 s before or after the original, so the minute-level shape is kept
   *     without copies arriving in bursts (seeded, reproducible)
   * @param fromMs keep requests at or after this offset from the trace's first request
   * @param lengthMs keep this long a window (0 = to the end)
   */
  public static AzureTraceWorkload read(Path file, double rateScale, double fromMs, double lengthMs) {
    if (!(rateScale > 0) || Double.isInfinite(rateScale)) {
      throw new WorkloadException("--rate-scale must be a positive number, got " + rateScale);
    }
    if (!Files.isRegularFile(file)) {
      throw new WorkloadException("trace file " + file + " does not exist or is not a file");
    }
    List<double[]> rows = new ArrayList<>();
    int distinctTimes = 1;
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String header = in.readLine();
      if (header == null || header.isBlank()) {
        throw new WorkloadException(file + " is empty: expected a header TIMESTAMP,ContextTokens,GeneratedTokens");
      }
      String[] cols = header.replace("\uFEFF", "").split(",");
      int ts = indexOf(cols, "TIMESTAMP");
      int ctx = indexOf(cols, "ContextTokens");
      int gen = indexOf(cols, "GeneratedTokens");
      if (ts < 0 || ctx < 0 || gen < 0) {
        throw new WorkloadException(file + ":1: header must name TIMESTAMP, ContextTokens and GeneratedTokens, got '"
            + header + "'");
      }
      String line;
      int lineNo = 1;
      double first = Double.NaN;
      int firstLine = 0;
      double lastOffset = 0;
      double previous = Double.NEGATIVE_INFINITY;
      while ((line = in.readLine()) != null) {
        lineNo++;
        if (line.isBlank()) {
          continue;
        }
        String[] f = line.split(",", -1);
        if (f.length < cols.length) {
          throw new WorkloadException(file + ":" + lineNo + ": expected " + cols.length + " fields, got " + f.length
              + ": '" + line + "'");
        }
        double t = parseTime(f[ts].trim(), file, lineNo);
        int p = parseTokens(f[ctx].trim(), "ContextTokens", file, lineNo);
        int o = parseTokens(f[gen].trim(), "GeneratedTokens", file, lineNo);
        if (t < previous) {
          throw new WorkloadException(file + ":" + lineNo + ": timestamp " + f[ts].trim()
              + " is earlier than the previous row's; the trace must be sorted by time");
        }
        previous = t;
        if (Double.isNaN(first)) {
          first = t;
          firstLine = lineNo;
        }
        double offset = t - first;
        if (offset > MAX_SPAN_DAYS * 86_400_000.0) {
          throw new WorkloadException(String.format(Locale.ROOT, "%s:%d: timestamp %s is %.0f days after the first row's"
              + " (line %d); a trace may span at most %d days — is this row mis-dated?", file, lineNo, f[ts].trim(),
              offset / 86_400_000.0, firstLine, MAX_SPAN_DAYS));
        }
        distinctTimes += offset > lastOffset ? 1 : 0;
        lastOffset = offset;
        if (offset < fromMs || (lengthMs > 0 && offset >= fromMs + lengthMs)) {
          continue;
        }
        // {offset from the first row, prompt, output}; copies for a rate scale are made once ties are spread
        rows.add(new double[] {offset - fromMs, p, o});
      }
    } catch (IOException e) {
      throw new WorkloadException("cannot read trace " + file + ": " + e.getMessage());
    }
    if (rows.size() > 1 && distinctTimes == 1) {
      throw new WorkloadException(file + ": all " + rows.size() + " rows carry the same TIMESTAMP; a trace needs each"
          + " request's arrival time (were the times cut to the date?)");
    }
    spreadTies(rows);
    rows = scaled(rows, rateScale);
    rows.sort(java.util.Comparator.comparingDouble(r -> r[0]));
    if (rows.isEmpty()) {
      throw new WorkloadException(file + " has no requests" + (fromMs > 0 || lengthMs > 0 ? " in the chosen window" : ""));
    }
    int n = rows.size();
    float[] a = new float[n];
    int[] p = new int[n];
    int[] o = new int[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) rows.get(i)[0];
      p[i] = (int) rows.get(i)[1];
      o[i] = (int) rows.get(i)[2];
    }
    double duration = lengthMs > 0 ? lengthMs : a[n - 1] + 1;
    String label = String.format(Locale.ROOT, "%s (%d requests, %.1f min%s)", file.getFileName(), n, duration / 60_000,
        rateScale != 1 ? String.format(Locale.ROOT, ", rate x%.2f", rateScale) : "");
    return new AzureTraceWorkload(label, a, p, o, duration);
  }

  /**
   * Rows that share a timestamp arrive evenly spread over the time to the next distinct timestamp (at most one second):
   * with whole-second timestamps a second's requests would otherwise arrive in the same instant. {@code rows} are in
   * file order.
   */
  private static void spreadTies(List<double[]> rows) {
    int i = 0;
    while (i < rows.size()) {
      double t = rows.get(i)[0];
      int j = i + 1;
      while (j < rows.size() && rows.get(j)[0] == t) {
        j++;
      }
      if (j - i > 1) {
        double gap = Math.min(1000, (j < rows.size() ? rows.get(j)[0] : t + 1000) - t);
        for (int k = i; k < j; k++) {
          rows.get(k)[0] = t + gap * (k - i) / (j - i);
        }
      }
      i = j;
    }
  }

  /**
   * Each row {@code floor(rateScale)} times, once more with probability {@code rateScale - floor(rateScale)}; copies
   * arrive up to 30 s before or after the original (seeded), never before the start.
   */
  private static List<double[]> scaled(List<double[]> rows, double rateScale) {
    if (rateScale == 1) {
      return rows;
    }
    java.util.SplittableRandom jitter = new java.util.SplittableRandom(0x5eed);
    List<double[]> out = new ArrayList<>((int) Math.min(Integer.MAX_VALUE - 8, rows.size() * Math.ceil(rateScale)));
    for (double[] r : rows) {
      int copies = (int) Math.floor(rateScale);
      if (jitter.nextDouble() < rateScale - copies) {
        copies++;
      }
      for (int c = 0; c < copies; c++) {
        double shift = c == 0 ? 0 : (jitter.nextDouble() - 0.5) * 60_000;
        out.add(new double[] {Math.max(0, r[0] + shift), r[1], r[2]});
      }
    }
    return out;
  }

  private static int indexOf(String[] cols, String name) {
    for (int i = 0; i < cols.length; i++) {
      if (cols[i].trim().equals(name)) {
        return i;
      }
    }
    return -1;
  }

  private static double parseTime(String s, Path file, int line) {
    try {
      LocalDateTime t = LocalDateTime.parse(s, TIMESTAMP);
      return t.toEpochSecond(ZoneOffset.UTC) * 1000.0 + t.getNano() / 1e6;
    } catch (DateTimeParseException e) {
      throw new WorkloadException(file + ":" + line + ": TIMESTAMP '" + s
          + "' is not a time like 2023-11-16 18:15:46.6805900");
    }
  }

  private static int parseTokens(String s, String column, Path file, int line) {
    long v;
    try {
      v = Long.parseLong(s);
    } catch (NumberFormatException e) {
      throw new WorkloadException(file + ":" + line + ": " + column + " '" + s + "' is not a whole number");
    }
    if (v < 0 || v > MAX_TOKENS) {
      throw new WorkloadException(file + ":" + line + ": " + column + " " + v + " is out of range (0.." + MAX_TOKENS + ")");
    }
    return (int) v;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public boolean synthetic() {
    return false;
  }

  @Override
  public double durationMs() {
    return durationMs;
  }

  public int size() {
    return arrivalMs.length;
  }

  @Override
  public Iterator<TraceRequest> iterator() {
    return new Iterator<>() {
      int i;

      @Override
      public boolean hasNext() {
        return i < arrivalMs.length;
      }

      @Override
      public TraceRequest next() {
        TraceRequest r = new TraceRequest(i, arrivalMs[i], prompt[i], output[i]);
        i++;
        return r;
      }
    };
  }
}
