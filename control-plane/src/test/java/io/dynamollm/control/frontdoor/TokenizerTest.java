package io.dynamollm.control.frontdoor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Both tokenizer kinds count what their vocabularies say; a bad file or encoding is refused, naming the setting. */
class TokenizerTest {

  private static Path wordLevel() throws Exception {
    return Paths.get(TokenizerTest.class.getResource("/tokenizers/word-level.json").toURI());
  }

  @Test
  void aHuggingFaceTokenizerJsonCountsItsOwnTokensWithTheSpecialOnes() throws Exception {
    try (Tokenizer t = Tokenizer.huggingFace(wordLevel())) {
      // "<s>" + hello , world ! : the template's special token is counted, as the engine counts it
      assertThat(t.count("Hello, world!")).isEqualTo(5);
      // words not in the vocabulary are one <unk> each, not characters / 4
      assertThat(t.count("the door opens slowly")).isEqualTo(5);
      assertThat(t.describe()).contains("word-level.json");
    }
  }

  @Test
  void theBundledEncodingCountsBpeTokens() {
    Tokenizer t = Tokenizer.bundled("cl100k_base");
    assertThat(t.count("Hello, world!")).isEqualTo(4); // Hello | , | world | !
    assertThat(t.count("")).isZero();
  }

  @Test
  void anUnreadableFileOrUnknownEncodingIsRefusedNamingTheSetting(@TempDir Path dir) throws Exception {
    Path bad = Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": 3}");
    assertThatThrownBy(() -> Tokenizer.huggingFace(bad))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("dynamollm.front-door.tokenizer.file").hasMessageContaining(bad.toString());
    assertThatThrownBy(() -> Tokenizer.huggingFace(dir.resolve("missing.json")))
        .hasMessageContaining("missing.json");
    assertThatThrownBy(() -> Tokenizer.bundled("llama"))
        .hasMessageContaining("dynamollm.front-door.tokenizer.encoding").hasMessageContaining("cl100k_base");
  }
}
