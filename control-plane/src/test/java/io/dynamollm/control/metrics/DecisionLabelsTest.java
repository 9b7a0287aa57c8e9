package io.dynamollm.control.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class DecisionLabelsTest {
  @Test
  void aLabelKeepsTheTemplatesLeadingWordsSoThatFiguresAndNamesNeverMultiplyItsValues() {
    assertThat(DecisionLabels.action("start 127.0.0.1:40035~LL-4a96-1 (TP8)")).isEqualTo("start");
    assertThat(DecisionLabels.action("start 10.0.0.9:2551~SS-77aa-12 (TP2)")).isEqualTo("start");
    assertThat(DecisionLabels.action("2×TP4@1605 + 1×TP8@1980")).isEqualTo("plan");
    assertThat(DecisionLabels.action("capacity correction x1.00 -> x1.15")).isEqualTo("capacity_correction");
    assertThat(DecisionLabels.action("top up LL: 8 -> 16 GPUs")).isEqualTo("top_up");
    assertThat(DecisionLabels.action("re-shard 10.0.0.1:2551~LL-3f2a-1 into TP4")).isEqualTo("re_shard");
    assertThat(DecisionLabels.action("clock 1980 -> 1395 MHz: 1395 MHz at 2.1 req/s")).isEqualTo("clock");
    assertThat(DecisionLabels.reason("capacity short (91.38 of 137.19 req/s): grows")).isEqualTo("capacity_short");
    assertThat(DecisionLabels.reason("too soon after the last change")).isEqualTo("too_soon_after_the_last");
    assertThat(DecisionLabels.reason("saves 234 W over 300 s")).isEqualTo("saves");
    assertThat(DecisionLabels.reason("")).isEqualTo("other");
  }
}
