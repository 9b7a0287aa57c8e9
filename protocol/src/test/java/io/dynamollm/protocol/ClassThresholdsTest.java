package io.dynamollm.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class ClassThresholdsTest {

  @ParameterizedTest(name = "{0} prompt + {1} output tokens -> {2}")
  @CsvSource({
    "0, 0, SS",
    "255, 99, SS",
    "256, 99, MS",
    "1023, 100, MM",
    "1024, 349, LM",
    "1024, 350, LL",
    "8000, 10, LS",
    "100, 5000, SL",
  })
  void classifiesByThePapersThresholds(int prompt, int output, RequestType expected) {
    assertThat(ClassThresholds.DEFAULT.typeOf(prompt, output)).isEqualTo(expected);
  }

  @Test
  void customThresholdsMoveTheBoundaries() {
    ClassThresholds t = new ClassThresholds(100, 2000, 50, 500, 16384);
    assertThat(t.typeOf(99, 49)).isEqualTo(RequestType.SS);
    assertThat(t.typeOf(100, 50)).isEqualTo(RequestType.MM);
    assertThat(t.typeOf(2000, 500)).isEqualTo(RequestType.LL);
  }

  @Test
  void rejectsInconsistentThresholdsWithAMessageNamingThem() {
    assertThatThrownBy(() -> new ClassThresholds(1024, 256, 100, 350, 8192))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("medium-from=1024");
    assertThatThrownBy(() -> new ClassThresholds(256, 1024, 100, 350, 1000))
        .hasMessageContaining("max-context-tokens");
    assertThatThrownBy(() -> ClassThresholds.DEFAULT.inputClass(-1)).hasMessageContaining("negative");
  }

  @Test
  void typesKnowTheirClassesAndWhichTypesTheyCover() {
    assertThat(RequestType.of(SizeClass.M, SizeClass.L)).isEqualTo(RequestType.ML);
    assertThat(RequestType.LL.covers(RequestType.SS)).isTrue();
    assertThat(RequestType.ML.covers(RequestType.SM)).isTrue();
    assertThat(RequestType.ML.covers(RequestType.LS)).isFalse();
    assertThat(RequestType.parse(" lm ")).isEqualTo(RequestType.LM);
    assertThatThrownBy(() -> RequestType.parse("XX")).hasMessageContaining("expected one of SS");
  }

  @Test
  void valueTypesValidate() {
    assertThatThrownBy(() -> TensorParallelism.of(3)).hasMessageContaining("1, 2, 4 or 8");
    assertThatThrownBy(() -> new Slo(0, 10)).hasMessageContaining("ttft_p99_ms");
    assertThatThrownBy(() -> new Slo(10, Double.NaN)).hasMessageContaining("tbt_p99_ms");
    assertThatThrownBy(() -> new FrequencyBounds(1980, 800)).hasMessageContaining("min <= max");
    assertThatThrownBy(() -> new Decision(0, 0, "rack", "x", "y", "z", 0)).hasMessageContaining("cluster, pool");
  }
}
