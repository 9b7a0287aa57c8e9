package io.dynamollm.control.frontdoor;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * Counts a prompt's tokens for the served model: the front door classifies requests by it and refuses prompts over
 * the context. Two kinds, both maintained libraries ({@code dynamollm.front-door.tokenizer}):
 *
 * <ul>
 *   <li>{@code huggingface}: the model's own {@code tokenizer.json}, read by DJL's binding of Hugging Face tokenizers
 *       (the Rust library vLLM uses too): exact counts, special tokens (Llama's {@code <s>}) included;
 *   <li>{@code bundled}: a BPE encoding shipped in the jar (JTokkit's OpenAI encodings), needing no download — the
 *       simulated demo's default. For English prose it counts within a few per cent of Llama 2's SentencePiece
 *       (docs/front-door.md measures it).
 * </ul>
 */
public interface Tokenizer extends AutoCloseable {

  /** Tokens of {@code text} as the model would see them. */
  int count(String text);

  /** What it is, for a person (the startup line, docs). */
  String describe();

  @Override
  default void close() {}

  /** The tokenizer {@code settings} name; a file that cannot be read fails here, naming it. */
  static Tokenizer of(FrontDoorSettings settings) {
    if (settings.tokenizer().equals("huggingface")) {
      return huggingFace(settings.tokenizerFile());
    }
    return bundled(settings.encoding());
  }

  /** One of JTokkit's encodings ({@code cl100k_base}, …). */
  static Tokenizer bundled(String encodingName) {
    Optional<Encoding> e = Encodings.newDefaultEncodingRegistry().getEncoding(encodingName);
    if (e.isEmpty()) {
      throw new IllegalArgumentException("dynamollm.front-door.tokenizer.encoding: unknown encoding '" + encodingName
          + "' (cl100k_base, o200k_base, p50k_base, r50k_base)");
    }
    Encoding enc = e.get();
    return new Tokenizer() {
      @Override
      public int count(String text) {
        return enc.countTokensOrdinary(text);
      }

      @Override
      public String describe() {
        return "bundled " + encodingName;
      }
    };
  }

  /** A Hugging Face {@code tokenizer.json}. */
  static Tokenizer huggingFace(Path file) {
    HuggingFaceTokenizer t;
    try {
      t = HuggingFaceTokenizer.newInstance(file, Map.of("addSpecialTokens", "true", "truncation", "false",
          "padding", "false"));
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException("dynamollm.front-door.tokenizer.file: cannot read '" + file
          + "' as a Hugging Face tokenizer.json: " + e.getMessage(), e);
    }
    return new Tokenizer() {
      @Override
      public int count(String text) {
        return t.encode(text).getIds().length;
      }

      @Override
      public String describe() {
        return "Hugging Face " + file.getFileName();
      }

      @Override
      public void close() {
        t.close();
      }
    };
  }
}
