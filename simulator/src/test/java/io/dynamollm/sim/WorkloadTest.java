package io.dynamollm.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class WorkloadTest {
  @TempDir Path dir;

  Path csv(String... lines) throws IOException {
    Path f = dir.resolve("trace.csv");
    Files.writeString(f, String.join("\n", lines) + "\n");
    return f;
  }

  @Test
  void readsTheAzureFormatRelativeToTheFirstRequest() throws IOException {
    Path f = csv("TIMESTAMP,ContextTokens,GeneratedTokens",
        "2023-11-16 18:15:46.6805900,374,44",
        "2023-11-16 18:15:47.1805900,100,7",
        "2023-11-16 18:16:46.6805900,2000,400");
    AzureTraceWorkload w = AzureTraceWorkload.read(f, 1, 0, 0);
    List<TraceRequest> r = new ArrayList<>();
    w.forEach(r::add);
    assertThat(r).hasSize(3);
    assertThat(r.get(0).arrivalMs()).isZero();
    assertThat(r.get(1).arrivalMs()).isCloseTo(500, within(0.01));
    assertThat(r.get(2).arrivalMs()).isCloseTo(60_000, within(0.01));
    assertThat(r.get(2).promptTokens()).isEqualTo(2000);
    assertThat(r.get(2).outputTokens()).isEqualTo(400);
    // rate scale 3: every row three times, the time shape kept (copies within 30 s, never before 0)
    AzureTraceWorkload tripled = AzureTraceWorkload.read(f, 3, 0, 0);
    assertThat(tripled.size()).isEqualTo(9);
    // a window: only the second minute
    assertThat(AzureTraceWorkload.read(f, 1, 30_000, 60_000).size()).isEqualTo(1);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
    "malformed row | 2023-11-16 18:15:46.68,374 | trace.csv:3: expected 3 fields, got 2",
    "not a number | 2023-11-16 18:15:46.68,abc,5 | trace.csv:3: ContextTokens 'abc' is not a whole number",
    "negative | 2023-11-16 18:15:46.68,-4,5 | trace.csv:3: ContextTokens -4 is out of range",
    "absurd | 2023-11-16 18:15:46.68,5,99999999 | trace.csv:3: GeneratedTokens 99999999 is out of range",
    "bad time | yesterday,5,5 | trace.csv:3: TIMESTAMP 'yesterday' is not a time",
    "unsorted | 2023-11-16 18:15:40.00,5,5 | trace.csv:3: timestamp 2023-11-16 18:15:40.00 is earlier than the previous row's",
  })
  void badRowsNameFileLineAndProblem(String what, String row, String message) throws IOException {
    Path f = csv("TIMESTAMP,ContextTokens,GeneratedTokens", "2023-11-16 18:15:45.00,10,10", row);
    assertThatThrownBy(() -> AzureTraceWorkload.read(f, 1, 0, 0))
        .isInstanceOf(WorkloadException.class)
        .hasMessageContaining(message);
  }

  @Test
  void emptyOrHeaderlessFilesAreRefused() throws IOException {
    Path empty = dir.resolve("empty.csv");
    Files.writeString(empty, "");
    assertThatThrownBy(() -> AzureTraceWorkload.read(empty, 1, 0, 0)).hasMessageContaining("is empty");
    Path noRows = csv("TIMESTAMP,ContextTokens,GeneratedTokens");
    assertThatThrownBy(() -> AzureTraceWorkload.read(noRows, 1, 0, 0)).hasMessageContaining("has no requests");
    Path wrong = csv("time,prompt,output", "1,2,3");
    assertThatThrownBy(() -> AzureTraceWorkload.read(wrong, 1, 0, 0)).hasMessageContaining(":1: header must name TIMESTAMP");
    assertThatThrownBy(() -> AzureTraceWorkload.read(dir.resolve("missing.csv"), 1, 0, 0)).hasMessageContaining("does not exist");
    assertThatThrownBy(() -> AzureTraceWorkload.read(noRows, 0, 0, 0)).hasMessageContaining("--rate-scale");
  }

  @Test
  void gridIntensityFollowsItsHourlyRows() throws IOException {
    Path f = dir.resolve("grid.csv");
    Files.writeString(f, "hour,g_per_kwh\n0,100\n1,300\n");
    GridIntensity g = GridIntensity.csv(f);
    assertThat(g.at(0.5)).isEqualTo(100);
    assertThat(g.at(1.0)).isEqualTo(300);
    assertThat(g.at(7)).isEqualTo(300);
    // two hours at 6 kW: 6 kWh at 100 g + 6 kWh at 300 g = 2.4 kg
    double[] power = new double[120];
    java.util.Arrays.fill(power, 6000);
    assertThat(g.carbonKg(power)).isCloseTo(2.4, within(1e-9));
    Path bad = dir.resolve("bad.csv");
    Files.writeString(bad, "0,100\n0,200\n");
    assertThatThrownBy(() -> GridIntensity.csv(bad)).hasMessageContaining("bad.csv:2: hours must increase");
    assertThatThrownBy(() -> GridIntensity.constant(-1)).hasMessageContaining(">= 0");
  }

  @Test
  void syntheticShapesMatchThePublishedRatios() {
    for (var kind : SyntheticWorkload.Kind.values()) {
      SyntheticWorkload w = new SyntheticWorkload(kind, 7, 10, 1);
      double peak = 0;
      double valley = Double.POSITIVE_INFINITY;
      double sum = 0;
      int n = 24 * 60;
      for (int m = 0; m < n; m++) { // a Monday
        double r = w.rateAt(m * 60_000.0);
        peak = Math.max(peak, r);
        valley = Math.min(valley, r);
        sum += r;
      }
      double mean = sum / n;
      assertThat(mean).as(kind + " weekday average").isCloseTo(10, within(0.05));
      assertThat(peak / mean).as(kind + " peak/average").isCloseTo(kind.peakOverAverage, within(0.02));
      assertThat(peak / valley).as(kind + " peak/valley").isCloseTo(kind.peakOverValley, within(0.05));
      // Saturday runs lower
      assertThat(w.rateAt(5 * 86_400_000.0 + 15 * 3_600_000.0)).isLessThan(peak);
    }
  }

  @Test
  void syntheticArrivalsFollowTheRateAndAreReproducible() {
    SyntheticWorkload w = new SyntheticWorkload(SyntheticWorkload.Kind.CONVERSATION, 1, 5, 42);
    long n = 0;
    long promptSum = 0;
    double last = -1;
    for (TraceRequest r : w) {
      assertThat(r.arrivalMs()).isGreaterThanOrEqualTo(last);
      last = r.arrivalMs();
      n++;
      promptSum += r.promptTokens();
    }
    assertThat((double) n).isCloseTo(5 * 86_400, within(5 * 86_400 * 0.02));
    assertThat(promptSum / (double) n).isGreaterThan(1020); // log-normal: mean above the median
    long again = 0;
    for (TraceRequest r : new SyntheticWorkload(SyntheticWorkload.Kind.CONVERSATION, 1, 5, 42)) {
      again++;
    }
    assertThat(again).isEqualTo(n);
    assertThatThrownBy(() -> new SyntheticWorkload(SyntheticWorkload.Kind.CODING, 0, 5, 1)).hasMessageContaining("--days");
  }
}
