package io.dynamollm.decision.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.profile.TypeShape;
import org.junit.jupiter.api.Test;

class ShapeLearnerTest {
  static final TypeShape PRIOR = new TypeShape(3000, 5000, 60, 99);

  @Test
  void thePriorFadesAsRequestsAreSeen() {
    var l = new ShapeLearner(new ShapeLearner.Settings(200, 3_600_000, 0.0), t -> PRIOR);
    assertThat(l.shapes(0).get(RequestType.LS)).isEqualTo(PRIOR);
    // a coding service: prompts of 2,000 tokens, outputs of 15
    for (int i = 0; i < 200; i++) {
      l.observe(RequestType.LS, 2000, 15, i);
    }
    TypeShape half = l.shapes(200).get(RequestType.LS);
    // as many requests seen as the prior weighs: halfway (within the histogram's bin)
    assertThat(half.meanInputTokens()).isCloseTo(2500, within(10));
    assertThat(half.meanOutputTokens()).isCloseTo(38, within(1));
    for (int i = 0; i < 19_800; i++) {
      l.observe(RequestType.LS, 2000, 15, 200 + i);
    }
    TypeShape learned = l.shapes(20_000).get(RequestType.LS);
    assertThat(learned.meanInputTokens()).isCloseTo(2010, within(15));
    assertThat(learned.meanOutputTokens()).isEqualTo(15);
    assertThat(learned.p99OutputTokens()).isBetween(15, 17); // one log bin wide
    // types nobody sent keep the prior
    assertThat(l.shapes(20_000).get(RequestType.SS)).isEqualTo(PRIOR);
  }

  @Test
  void theP99FollowsTheTail() {
    var l = new ShapeLearner(new ShapeLearner.Settings(0, 3_600_000, 0.0), t -> PRIOR);
    for (int i = 0; i < 1000; i++) {
      l.observe(RequestType.LL, i < 985 ? 1000 : 7000, 500, 0);
    }
    TypeShape s = l.shapes(0).get(RequestType.LL);
    assertThat(s.meanInputTokens()).isCloseTo(1090, within(2));
    assertThat(s.p99InputTokens()).isGreaterThan(5000); // 1.5 % of the prompts are 7,000 tokens long
  }

  @Test
  void oldRequestsFadeWithTheHalfLife() {
    var l = new ShapeLearner(new ShapeLearner.Settings(0, 60_000, 0.0), t -> PRIOR);
    for (int i = 0; i < 1000; i++) {
      l.observe(RequestType.MM, 500, 100, 0);
    }
    assertThat(l.observed(RequestType.MM, 60_000)).isCloseTo(500, within(1e-6));
    for (int i = 0; i < 1000; i++) {
      l.observe(RequestType.MM, 900, 100, 600_000); // ten half-lives later: the old ones weigh 1/1024
    }
    assertThat(l.shapes(600_000).get(RequestType.MM).meanInputTokens()).isCloseTo(900, within(2));
  }

  @Test
  void smallMovesAreNotHandedOut() {
    var l = new ShapeLearner(new ShapeLearner.Settings(0, 3_600_000, 0.05), t -> PRIOR);
    for (int i = 0; i < 1000; i++) {
      l.observe(RequestType.SM, 200, 150, 0);
    }
    TypeShape first = l.shapes(0).get(RequestType.SM);
    for (int i = 0; i < 50; i++) {
      l.observe(RequestType.SM, 205, 151, 0); // the numbers move by under 5 %
    }
    assertThat(l.shapes(0).get(RequestType.SM)).isEqualTo(first);
    assertThatThrownBy(() -> new ShapeLearner.Settings(-1, 1000, 0.05)).hasMessageContaining("prior-requests");
  }
}
