package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.profile.ProfileJson.ProfileFormatException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * What {@code profile build} measured against a live engine, one row per point of its sweep, as the journal it
 * appends to while it runs (so an interrupted run keeps every point it finished, and {@code --resume} goes on from
 * there). Times are the whole instance's as a client sees them (all-reduce included); {@link ProfileBuild} turns them
 * into a profile's shard series.
 *
 * <p>CSV columns {@value #HEADER}:
 * <ul>
 *   <li>{@code idle}: {@code power_w} per GPU with the engine loaded and doing nothing;
 *   <li>{@code kv_cache}: {@code tokens} of KV cache the engine holds (its {@code vllm:cache_config_info});
 *   <li>{@code decode}: the mean decode-step time {@code ms} and per-GPU power of {@code batch} sequences whose mean
 *       context is {@code tokens}, measured while all of them decoded (the decode series);
 *   <li>{@code decode_context}: the same at another context (the context's effect);
 *   <li>{@code first_token}: the median time to first token {@code ms} of a lone prompt of {@code tokens} tokens, with
 *       the per-GPU power and the median SM clock while it was prefilled.
 * </ul>
 * {@code samples} counts what each row summarises (steps, prompts, meter readings); {@code locked_mhz} is the SM clock
 * the GPUs were locked at for the row ({@code profile build --sweep-clocks}), 0 or empty where the GPUs ran at the
 * clocks they choose themselves. A journal of the 8 columns before {@code locked_mhz} still reads (all 0).
 */
public final class Measurements {
  /** The journal's header line. */
  public static final String HEADER = "kind,tp,batch,tokens,ms,power_w,sm_mhz,samples,locked_mhz";
  /** The header of journals written before clock sweeps. */
  static final String HEADER_UNLOCKED = "kind,tp,batch,tokens,ms,power_w,sm_mhz,samples";

  private Measurements() {}

  /** What a row measured. */
  public enum Kind {
    IDLE, KV_CACHE, DECODE, DECODE_CONTEXT, FIRST_TOKEN;

    String label() {
      return name().toLowerCase(Locale.ROOT);
    }

    static Kind parse(String text, String where) {
      for (Kind k : values()) {
        if (k.label().equals(text)) {
          return k;
        }
      }
      throw new ProfileFormatException(where + ": kind must be idle, kv_cache, decode, decode_context or first_token,"
          + " got '" + text + "'");
    }
  }

  /**
   * One measured point (NaN where a column does not apply to its kind).
   *
   * @param tp the degree of the engine measured
   * @param batch sequences decoding together (decode rows), else 0
   * @param tokens the mean context (decode rows), the prompt (first_token), the KV-cache capacity (kv_cache)
   * @param ms the mean step time (decode rows) or the median time to first token (first_token)
   * @param powerW per-GPU power over the measurement
   * @param smMhz median SM clock over the measurement
   * @param samples what the row summarises
   * @param lockedMhz the clock the GPUs were locked at; 0: the GPUs' own
   */
  public record Row(Kind kind, int tp, double batch, double tokens, double ms, double powerW, double smMhz,
      int samples, int lockedMhz) {
    public Row {
      Objects.requireNonNull(kind, "kind");
      if (lockedMhz < 0) {
        throw new IllegalArgumentException("locked clock must be 0 (none) or a clock, got " + lockedMhz);
      }
    }

    /** A row at the GPUs' own clocks. */
    public Row(Kind kind, int tp, double batch, double tokens, double ms, double powerW, double smMhz, int samples) {
      this(kind, tp, batch, tokens, ms, powerW, smMhz, samples, 0);
    }

    /** The same, measured with the GPUs locked at {@code mhz} (0: their own clocks). */
    public Row lockedAt(int mhz) {
      return new Row(kind, tp, batch, tokens, ms, powerW, smMhz, samples, mhz);
    }

    /** The row as a journal line. */
    public String csv() {
      return String.join(",", kind.label(), Integer.toString(tp), num(batch), num(tokens), num(ms), num(powerW),
          num(smMhz), Integer.toString(samples), Integer.toString(lockedMhz));
    }

    /** Whether {@code other} measured the same point (so a resumed run skips it). */
    public boolean samePoint(Row other) {
      return kind == other.kind && tp == other.tp && lockedMhz == other.lockedMhz
          && Double.compare(batch, other.batch) == 0
          && (kind == Kind.DECODE || kind == Kind.DECODE_CONTEXT || kind == Kind.FIRST_TOKEN
              ? Math.abs(tokens - other.tokens) <= Math.max(64, 0.1 * tokens) : true);
    }
  }

  private static String num(double v) {
    if (Double.isNaN(v)) {
      return "";
    }
    return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%.4f", v);
  }

  /**
   * The rows of a journal.
   *
   * @param source what to call it in messages (its path)
   * @throws ProfileFormatException naming the line and column of a malformed row
   */
  public static List<Row> read(String source, String text) {
    String[] lines = text.split("\\R");
    String header = lines.length == 0 ? "" : lines[0].trim();
    if (!header.equals(HEADER) && !header.equals(HEADER_UNLOCKED)) {
      throw new ProfileFormatException(source + " line 1: expected the header " + HEADER + ", got "
          + (lines.length == 0 ? "nothing" : "'" + header + "'"));
    }
    List<Row> rows = new ArrayList<>();
    String[] columns = header.split(",");
    for (int i = 1; i < lines.length; i++) {
      String line = lines[i].trim();
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      String where = source + " line " + (i + 1);
      String[] f = line.split(",", -1);
      if (f.length != columns.length) {
        throw new ProfileFormatException(where + ": expected " + columns.length + " columns (" + header + "), got "
            + f.length);
      }
      double[] v = new double[columns.length];
      for (int c = 1; c < columns.length; c++) {
        if (f[c].isEmpty()) {
          v[c] = Double.NaN;
          continue;
        }
        try {
          v[c] = Double.parseDouble(f[c]);
        } catch (NumberFormatException e) {
          throw new ProfileFormatException(where + ": " + columns[c] + " is not a number: '" + f[c] + "'");
        }
        if (!(v[c] >= 0) || Double.isInfinite(v[c])) {
          throw new ProfileFormatException(where + ": " + columns[c] + " must be a finite number >= 0, got " + f[c]);
        }
      }
      if (v[1] != Math.rint(v[1]) || Integer.bitCount((int) v[1]) != 1) {
        throw new ProfileFormatException(where + ": tp must be a power of two, got " + f[1]);
      }
      int locked = columns.length > 8 && !Double.isNaN(v[8]) ? (int) v[8] : 0;
      if (columns.length > 8 && !Double.isNaN(v[8]) && v[8] != Math.rint(v[8])) {
        throw new ProfileFormatException(where + ": locked_mhz must be a whole number of MHz, got " + f[8]);
      }
      rows.add(new Row(Kind.parse(f[0], where), (int) v[1], v[2], v[3], v[4], v[5], v[6],
          Double.isNaN(v[7]) ? 0 : (int) v[7], locked));
    }
    return rows;
  }

  /** The journal of {@code rows}: the header, then one line each. */
  public static String write(List<Row> rows) {
    StringBuilder out = new StringBuilder(HEADER).append('\n');
    rows.forEach(r -> out.append(r.csv()).append('\n'));
    return out.toString();
  }
}
