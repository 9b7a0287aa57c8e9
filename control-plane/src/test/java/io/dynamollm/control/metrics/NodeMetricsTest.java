package io.dynamollm.control.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.instance.engine.Engine;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class NodeMetricsTest {
  private static Engine.Completion served(double ttftMs, double tbtMs) {
    return new Engine.Completion(1, ttftMs, tbtMs, 20, "", "length", 100);
  }

  @Test
  void aMissIsCountedByWhichOfTheTwoObjectivesItMissed() {
    NodeMetrics m = new NodeMetrics("model");
    Slo slo = new Slo(100, 50);
    m.served("p", RequestType.SS, served(90, 40), slo); // met
    m.served("p", RequestType.SS, served(150, 40), slo);
    m.served("p", RequestType.SS, served(160, 40), slo);
    m.served("p", RequestType.SS, served(90, 60), slo);
    m.served("p", RequestType.LL, served(150, 60), slo);
    String text = new String(m.scrape(), StandardCharsets.UTF_8);
    assertThat(text)
        .contains("dynamollm_slo_misses_total{pool=\"p\",slo=\"ttft\",type=\"SS\"} 2.0")
        .contains("dynamollm_slo_misses_total{pool=\"p\",slo=\"tbt\",type=\"SS\"} 1.0")
        .contains("dynamollm_slo_misses_total{pool=\"p\",slo=\"both\",type=\"LL\"} 1.0")
        .contains("dynamollm_requests_total{outcome=\"served\",pool=\"p\",type=\"SS\"} 4.0")
        .doesNotContain("slo=\"tbt\",type=\"LL\"");
  }
}
