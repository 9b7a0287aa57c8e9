package io.dynamollm.protocol;

/**
 * Token-count boundaries between length classes, and the longest context a request may have.
 *
 * <p>A prompt of {@code n} tokens is S when {@code n < inputMediumFrom}, M when {@code n < inputLongFrom}, else L;
 * likewise for outputs. The defaults are the paper's: input S &lt; 256 ≤ M &lt; 1024 ≤ L, output S &lt; 100 ≤ M &lt;
 * 350 ≤ L, at most 8192 tokens of context.
 *
 * @param inputMediumFrom first prompt length that is M
 * @param inputLongFrom first prompt length that is L
 * @param outputMediumFrom first output length that is M
 * @param outputLongFrom first output length that is L
 * @param maxContextTokens the longest prompt + output a request may have
 */
public record ClassThresholds(
    int inputMediumFrom, int inputLongFrom, int outputMediumFrom, int outputLongFrom, int maxContextTokens)
    implements CborSerializable {

  /** The paper's thresholds. */
  public static final ClassThresholds DEFAULT = new ClassThresholds(256, 1024, 100, 350, 8192);

  public ClassThresholds {
    if (inputMediumFrom < 1 || inputLongFrom <= inputMediumFrom) {
      throw new IllegalArgumentException(
          "input thresholds must satisfy 1 <= medium-from < long-from, got medium-from="
              + inputMediumFrom + ", long-from=" + inputLongFrom);
    }
    if (outputMediumFrom < 1 || outputLongFrom <= outputMediumFrom) {
      throw new IllegalArgumentException(
          "output thresholds must satisfy 1 <= medium-from < long-from, got medium-from="
              + outputMediumFrom + ", long-from=" + outputLongFrom);
    }
    if (maxContextTokens <= inputLongFrom) {
      throw new IllegalArgumentException(
          "max-context-tokens (" + maxContextTokens + ") must exceed the input long-from threshold (" + inputLongFrom + ")");
    }
  }

  /** Class of a prompt of {@code tokens} tokens. */
  public SizeClass inputClass(int tokens) {
    requireNonNegative(tokens, "prompt");
    return tokens < inputMediumFrom ? SizeClass.S : tokens < inputLongFrom ? SizeClass.M : SizeClass.L;
  }

  /** Class of an output of {@code tokens} tokens. */
  public SizeClass outputClass(int tokens) {
    requireNonNegative(tokens, "output");
    return tokens < outputMediumFrom ? SizeClass.S : tokens < outputLongFrom ? SizeClass.M : SizeClass.L;
  }

  /** The type of a request with these prompt and output lengths. */
  public RequestType typeOf(int promptTokens, int outputTokens) {
    return RequestType.of(inputClass(promptTokens), outputClass(outputTokens));
  }

  private static void requireNonNegative(int tokens, String what) {
    if (tokens < 0) {
      throw new IllegalArgumentException(what + " length must not be negative, got " + tokens);
    }
  }
}
