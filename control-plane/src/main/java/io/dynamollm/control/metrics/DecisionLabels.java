package io.dynamollm.control.metrics;

import java.util.Locale;

/**
 * Bounded metric labels for decisions. A decision's action and reason are sentences built from fixed templates with
 * figures and names filled in ("start 10.0.0.7:25520~LL-3f2a-4 (TP4)", "capacity short (91.38 of 137.19 req/s): …");
 * a label keeps the template's leading words — up to the first word that carries a figure, a name or punctuation —
 * so that each template gives one label value: {@code start}, {@code capacity_short}. An action that starts with a
 * figure is a pool plan ("2×TP4@1605 + …"): {@code plan}.
 */
public final class DecisionLabels {
  private static final int MAX_WORDS = 5;

  private DecisionLabels() {}

  /** The action's label, e.g. "clock 1980 -> 1395 MHz: …" → {@code clock}. */
  public static String action(String action) {
    String l = leadingWords(action);
    return l.isEmpty() ? "plan" : l;
  }

  /** The reason's label, e.g. "too soon after the last change" → {@code too_soon_after_the_last}. */
  public static String reason(String reason) {
    String l = leadingWords(reason);
    return l.isEmpty() ? "other" : l;
  }

  static String leadingWords(String text) {
    StringBuilder out = new StringBuilder();
    int words = 0;
    for (String w : text.trim().split("\\s+")) {
      if (words == MAX_WORDS || w.isEmpty() || !plain(w)) {
        break;
      }
      if (out.length() > 0) {
        out.append('_');
      }
      out.append(w.toLowerCase(Locale.ROOT).replace('-', '_').replace('\'', '_'));
      words++;
    }
    return out.toString();
  }

  /** A template word: letters, with inner hyphens or apostrophes ("re-shard", "profile's"). */
  private static boolean plain(String w) {
    for (int k = 0; k < w.length(); k++) {
      char c = w.charAt(k);
      boolean inner = (c == '-' || c == '\'') && k > 0 && k < w.length() - 1;
      if (!Character.isLetter(c) && !inner) {
        return false;
      }
    }
    return true;
  }
}
