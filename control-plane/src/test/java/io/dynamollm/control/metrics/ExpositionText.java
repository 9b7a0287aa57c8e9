package io.dynamollm.control.metrics;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict reader of the Prometheus text exposition format (0.0.4) for tests: every line must be a HELP or TYPE
 * comment or a sample {@code name{label="value",…} value}; every sample must belong to a family declared by a TYPE
 * line before it (its name, or the name with _bucket/_count/_sum/_total/_created for histograms and counters). The
 * Java client writes the format and has no reader of its own; CI also runs {@code promtool check metrics} on a scrape.
 */
public final class ExpositionText {
  /** One sample. */
  public record Sample(String family, String name, Map<String, String> labels, double value) {}

  private static final Pattern NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
  private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");
  private static final List<String> SUFFIXES = List.of("_bucket", "_count", "_sum", "_total", "_created");

  public final Map<String, String> types = new LinkedHashMap<>();
  public final List<Sample> samples = new ArrayList<>();

  public static ExpositionText parse(String text) {
    ExpositionText out = new ExpositionText();
    int n = 0;
    for (String line : text.split("\n", -1)) {
      n++;
      if (line.isEmpty()) {
        continue;
      }
      if (line.startsWith("# TYPE ")) {
        String[] p = line.substring(7).split(" ");
        if (p.length != 2 || !NAME.matcher(p[0]).matches()
            || !List.of("counter", "gauge", "histogram", "summary", "untyped", "info", "stateset",
                "gaugehistogram", "unknown").contains(p[1])) {
          throw new IllegalArgumentException("line " + n + ": bad TYPE line: " + line);
        }
        if (out.types.put(p[0], p[1]) != null) {
          throw new IllegalArgumentException("line " + n + ": family " + p[0] + " declared twice");
        }
        continue;
      }
      if (line.startsWith("#")) {
        continue; // HELP, other comments
      }
      out.samples.add(out.sample(line, n));
    }
    return out;
  }

  private Sample sample(String line, int n) {
    Matcher m = NAME.matcher(line);
    if (!m.lookingAt()) {
      throw new IllegalArgumentException("line " + n + ": no metric name: " + line);
    }
    String name = m.group();
    int at = m.end();
    Map<String, String> labels = new LinkedHashMap<>();
    if (at < line.length() && line.charAt(at) == '{') {
      int close = line.indexOf("} ", at);
      if (close < 0) {
        throw new IllegalArgumentException("line " + n + ": unclosed labels: " + line);
      }
      String body = line.substring(at + 1, close);
      Matcher l = LABEL.matcher(body);
      int pos = 0;
      while (pos < body.length()) {
        if (!l.find(pos) || l.start() != pos) {
          throw new IllegalArgumentException("line " + n + ": bad label at " + body.substring(pos) + ": " + line);
        }
        labels.put(l.group(1), l.group(2));
        pos = l.end();
        if (pos < body.length()) {
          if (body.charAt(pos) != ',') {
            throw new IllegalArgumentException("line " + n + ": labels must be comma-separated: " + line);
          }
          pos++;
        }
      }
      at = close + 1;
    }
    String[] rest = line.substring(at).trim().split(" ");
    double value;
    try {
      value = switch (rest[0]) {
        case "+Inf" -> Double.POSITIVE_INFINITY;
        case "-Inf" -> Double.NEGATIVE_INFINITY;
        case "NaN" -> Double.NaN;
        default -> Double.parseDouble(rest[0]);
      };
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("line " + n + ": bad value '" + rest[0] + "': " + line);
    }
    String family = family(name);
    if (family == null) {
      throw new IllegalArgumentException("line " + n + ": sample " + name + " of no declared family");
    }
    return new Sample(family, name, labels, value);
  }

  private String family(String name) {
    if (types.containsKey(name)) {
      return name;
    }
    for (String s : SUFFIXES) {
      if (name.endsWith(s) && types.containsKey(name.substring(0, name.length() - s.length()))) {
        return name.substring(0, name.length() - s.length());
      }
    }
    return null;
  }

  /** The samples named {@code name} exactly. */
  public List<Sample> named(String name) {
    return samples.stream().filter(s -> s.name().equals(name)).toList();
  }

  /** The sum of the samples named {@code name}. */
  public double sum(String name) {
    return named(name).stream().mapToDouble(Sample::value).sum();
  }
}
