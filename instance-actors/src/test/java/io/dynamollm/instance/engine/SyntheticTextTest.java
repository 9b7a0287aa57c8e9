package io.dynamollm.instance.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class SyntheticTextTest {
  private static Engine.OpenAiCall call(long seed, boolean ignoreEos, List<String> stop) {
    return new Engine.OpenAiCall(Engine.OpenAiCall.CHAT, "{}", seed, stop, ignoreEos);
  }

  @Test
  void theSameSeedGivesTheSameAnswerAndIgnoreEosGivesExactlyTheLimit() {
    var a = SyntheticText.plan(call(42, true, List.of()), 200);
    assertThat(a.tokens()).hasSize(200);
    assertThat(a.finishReason()).isEqualTo("length");
    assertThat(SyntheticText.plan(call(42, true, List.of()), 200)).isEqualTo(a);
    assertThat(SyntheticText.plan(call(43, true, List.of()), 200).text()).isNotEqualTo(a.text());
    assertThat(a.text()).contains(".").matches("(?s)[A-Z].*"); // sentences
  }

  @Test
  void withoutIgnoreEosTheModelStopsAtItsOwnLengthOrAtTheLimit() {
    int stopped = 0;
    double sum = 0;
    for (long seed = 0; seed < 400; seed++) {
      var p = SyntheticText.plan(call(seed, false, List.of()), 10_000);
      assertThat(p.tokens()).isNotEmpty();
      sum += p.tokens().size();
      stopped += p.finishReason().equals("stop") ? 1 : 0;
    }
    assertThat(stopped).isEqualTo(400);
    assertThat(sum / 400).isBetween(100.0, 260.0); // a log-normal around a chat answer's length
    assertThat(SyntheticText.plan(call(1, false, List.of()), 3).tokens()).hasSize(3);
  }

  @Test
  void aStopStringEndsTheOutputBeforeIt() {
    var full = SyntheticText.plan(call(5, true, List.of()), 300);
    int dot = full.text().indexOf('.');
    var cut = SyntheticText.plan(call(5, true, List.of(".")), 300);
    assertThat(cut.finishReason()).isEqualTo("stop");
    assertThat(cut.text()).isEqualTo(full.text().substring(0, dot));
    // a stop string inside a token cuts that token
    var words = SyntheticText.cutAtStop(List.of("Hello", " wor", "ld", " again"), List.of("orl"), "length");
    assertThat(words.tokens()).containsExactly("Hello", " w");
    assertThat(SyntheticText.cutAtStop(List.of("a", "b"), List.of("zz"), "length").finishReason())
        .isEqualTo("length");
  }
}
