package io.dynamollm.instance.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class TokenEnergyLedgerTest {
  @Test
  void eachIntervalsEnergyIsChargedByTheTokensEachRequestHadInIt() {
    var l = new TokenEnergyLedger();
    l.open(1);
    l.open(2);
    l.tokens(1, 300); // a prefill
    l.tokens(2, 100);
    l.interval(800, 400); // 2 J a token
    l.tokens(1, 10);
    l.interval(100, 100); // 1 J a token: the server processed tokens of others too (90)
    l.tokens(2, 5); // after the last interval: at the last rate
    assertThat(l.close(1)).isCloseTo(300 * 2 + 10 * 1, within(1e-9));
    assertThat(l.close(2)).isCloseTo(100 * 2 + 5 * 1, within(1e-9));
    assertThat(l.close(3)).isNaN(); // never opened
  }

  @Test
  void beforeAnyRateIsMeasuredTheEnergyIsUnknownAndIdleIntervalsAreChargedToNobody() {
    var l = new TokenEnergyLedger();
    l.open(1);
    l.tokens(1, 50);
    assertThat(l.close(1)).isNaN();
    l.open(2);
    l.interval(500, 0); // idle: no tokens
    l.tokens(2, 10);
    l.interval(20, 10);
    assertThat(l.close(2)).isCloseTo(20, within(1e-9));
  }
}
