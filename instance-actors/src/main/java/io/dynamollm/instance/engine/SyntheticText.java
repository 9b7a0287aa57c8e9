package io.dynamollm.instance.engine;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * What a simulated engine answers an API call with: English-looking sentences, one word (or punctuation mark) per
 * token, drawn from the call's seed — the same prompt at temperature 0 gets the same answer. The length is the
 * call's limit when it asks to ignore the end of sequence; else the model "stops" after a log-normal number of tokens
 * (median {@value #MEDIAN_EOS_TOKENS}, the order of a chat answer), at most the limit. A stop string ends the output
 * before it (finish reason {@code stop}), as vLLM does.
 */
public final class SyntheticText {
  static final int MEDIAN_EOS_TOKENS = 120;
  private static final double EOS_SIGMA = 0.9;
  private static final String[] WORDS = ("the of and to in a is that for it as was with be by on not he this are or "
      + "his from at which but have an they you were her she there been one all we their has would when if so no "
      + "will more can out up other into could time only new some these two may first then do any like my now over "
      + "such our man me even most made after also did many before must through back years where much your way well "
      + "down should because each just those people how too little state good very make world still own see men work "
      + "long get here between both life being under never day same another know while last might us great old year "
      + "off come since against go came right used take three energy cluster model token clock power pool request")
      .split(" ");

  /** The tokens of an answer and why it ended. */
  public record Plan(List<String> tokens, String finishReason) {
    public Plan {
      tokens = List.copyOf(tokens);
    }

    public String text() {
      return String.join("", tokens);
    }
  }

  private SyntheticText() {}

  /** The answer to {@code call} with at most {@code maxTokens} tokens (at least one). */
  public static Plan plan(Engine.OpenAiCall call, int maxTokens) {
    SplittableRandom rnd = new SplittableRandom(call.seed());
    int n = maxTokens;
    String reason = "length";
    if (!call.ignoreEos()) {
      int eos = (int) Math.max(1, Math.round(MEDIAN_EOS_TOKENS * Math.exp(EOS_SIGMA * gaussian(rnd))));
      if (eos < maxTokens) {
        n = eos;
        reason = "stop";
      }
    }
    List<String> tokens = new ArrayList<>(n);
    int sinceStop = 0;
    int sentences = 0;
    for (int k = 0; k < n; k++) {
      String t;
      if (sinceStop >= 6 && rnd.nextInt(10) == 0) {
        t = ".";
        sinceStop = 0;
        sentences++;
      } else if (sinceStop == 0 && sentences > 0 && sentences % 4 == 0 && rnd.nextBoolean()) {
        t = "\n\n";
        sentences++;
      } else {
        String w = WORDS[rnd.nextInt(WORDS.length)];
        String prefix = k == 0 || tokens.get(k - 1).endsWith("\n") ? "" : " ";
        t = prefix + (sinceStop == 0 ? Character.toUpperCase(w.charAt(0)) + w.substring(1) : w);
        sinceStop++;
      }
      tokens.add(t);
    }
    return cutAtStop(tokens, call.stop(), reason);
  }

  /** Ends the output before the first stop string in it. */
  static Plan cutAtStop(List<String> tokens, List<String> stop, String reason) {
    if (stop.isEmpty()) {
      return new Plan(tokens, reason);
    }
    String text = String.join("", tokens);
    int cut = -1;
    for (String s : stop) {
      int i = s.isEmpty() ? -1 : text.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) {
        cut = i;
      }
    }
    if (cut < 0) {
      return new Plan(tokens, reason);
    }
    List<String> kept = new ArrayList<>();
    int at = 0;
    for (String t : tokens) {
      if (at + t.length() <= cut) {
        kept.add(t);
        at += t.length();
      } else {
        if (at < cut) {
          kept.add(t.substring(0, cut - at));
        }
        break;
      }
    }
    if (kept.isEmpty()) {
      kept.add(""); // the model's first token was the stop string: one (empty) token out
    }
    return new Plan(kept, "stop");
  }

  private static double gaussian(SplittableRandom r) {
    double u = Math.max(1e-12, r.nextDouble());
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.nextDouble());
  }
}
