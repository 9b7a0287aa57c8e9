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

  @Test
  void aMisdatedRowOrATraceWithoutTimesIsRefusedNamingTheLine() throws IOException {
    Path far = csv("TIMESTAMP,ContextTokens,GeneratedTokens", "2023-11-16 18:15:45.00,10,10",
        "2023-11-16 18:15:46.00,10,10", "2025-11-16 18:15:46.00,10,10");
    assertThatThrownBy(() -> AzureTraceWorkload.read(far, 1, 0, 0)).isInstanceOf(WorkloadException.class)
        .hasMessageContaining("trace.csv:4: timestamp 2025-11-16 18:15:46.00 is 731 days after the first row's (line 2)");
    Path same = csv("TIMESTAMP,ContextTokens,GeneratedTokens", "2023-11-16 18:15:45,10,10", "2023-11-16 18:15:45,20,10",
        "2023-11-16 18:15:45,30,10");
    assertThatThrownBy(() -> AzureTraceWorkload.read(same, 1, 0, 0)).isInstanceOf(WorkloadException.class)
        .hasMessageContaining("all 3 rows carry the same TIMESTAMP");
  }

  @Test
  void rowsThatShareATimestampArriveSpreadOverIt() throws IOException {
    // whole-second timestamps: the four requests of 18:15:45 arrive 250 ms apart, not in one instant
    Path f = csv("TIMESTAMP,ContextTokens,GeneratedTokens", "2023-11-16 18:15:45,10,10", "2023-11-16 18:15:45,20,10",
        "2023-11-16 18:15:45,30,10", "2023-11-16 18:15:45,40,10", "2023-11-16 18:15:47,50,10");
    List<TraceRequest> r = new ArrayList<>();
    AzureTraceWorkload.read(f, 1, 0, 0).forEach(r::add);
    assertThat(r).extracting(TraceRequest::arrivalMs).containsExactly(0.0, 250.0, 500.0, 750.0, 2000.0);
    assertThat(r).extracting(TraceRequest::promptTokens).containsExactly(10, 20, 30, 40, 50);
    // a trace of a single row is a workload too
    assertThat(AzureTraceWorkload.read(csv("TIMESTAMP,ContextTokens,GeneratedTokens", "2023-11-16 18:15:45,10,10"), 1,
        0, 0).size()).isEqualTo(1);
  }

  @Test
  void everyZooWorkloadIsReproducibleAndHasItsAdvertisedShape() {
    for (WorkloadZoo.Entry e : WorkloadZoo.entries()) {
      double days = Math.min(e.defaultDays(), 1 / 24.0);
      Workload w = WorkloadZoo.create(e.name(), days, null, 1, 3);
      Summary s = Summary.of(w, 10_000);
      assertThat(s.n).as(e.name() + " requests").isGreaterThan(1000);
      assertThat(Summary.of(WorkloadZoo.create(e.name(), days, null, 1, 3), 10_000).n).as(e.name() + " again")
          .isEqualTo(s.n);
      assertThat(w.synthetic()).isTrue();
      assertThat(w.name()).contains("synthetic " + e.name());
      if (!e.name().equals("conversation") && !e.name().equals("coding")) {
        // the week shapes, like the Azure traces, have a few requests over the context limit (rejected and counted)
        assertThat(s.maxContext).as(e.name() + " prompt + output").isLessThanOrEqualTo(WorkloadZoo.MAX_CONTEXT);
        assertThat(s.n / 3600.0).as(e.name() + " mean rate").isCloseTo(e.defaultAverageRps(),
            within(e.defaultAverageRps() * (e.name().contains("burst") ? 0.25 : 0.1))); // bursts: an hour holds ~16
      }
    }
    Summary bursty = Summary.of(WorkloadZoo.create("bursty", null, null, 1, 3), 10_000);
    assertThat(bursty.peakWindowRps / (bursty.n / 3600.0)).as("bursty: busiest 10 s over the mean").isGreaterThan(10);
    Summary coding = Summary.of(WorkloadZoo.create("coding-bursty", null, null, 1, 3), 10_000);
    assertThat(coding.medianOutput).isBetween(12, 18);
    assertThat(coding.medianPrompt).isGreaterThan(1800);
    assertThat(coding.peakWindowPromptTokensPerS / (coding.promptTokens / 3600.0)).as("coding: prompt-token burst")
        .isGreaterThan(6);
    Summary longCtx = Summary.of(WorkloadZoo.create("long-context", null, null, 1, 3), 10_000);
    assertThat(longCtx.medianPrompt).isGreaterThan(3000);
    assertThat(longCtx.maxPrompt).isGreaterThan(7000);
    // shifting mix: short prompts in the first 15 minutes, long ones from minute 20 to 35
    Workload mix = WorkloadZoo.create("shifting-mix", null, null, 1, 3);
    assertThat(Summary.of(new WindowedWorkload(mix, 0, 15 * 60_000.0), 10_000).medianPrompt).isLessThan(300);
    assertThat(Summary.of(new WindowedWorkload(mix, 20 * 60_000.0, 15 * 60_000.0), 10_000).medianPrompt)
        .isGreaterThan(2000);
    assertThatThrownBy(() -> WorkloadZoo.create("chat", null, null, 1, 1)).isInstanceOf(WorkloadException.class)
        .hasMessageContaining("unknown workload 'chat': expected one of conversation, coding, bursty");
    assertThatThrownBy(() -> WorkloadZoo.create("bursty", 40.0, null, 1, 1)).hasMessageContaining("--days");
  }

  @Test
  void shiftingMixHandsOverLinearly() {
    double phase = 20 * 60_000.0;
    double blend = 5 * 60_000.0;
    assertThat(WorkloadZoo.phaseWeights(60_000, phase, blend)).containsExactly(1, 0, 0);
    assertThat(WorkloadZoo.phaseWeights(17.5 * 60_000, phase, blend)).containsExactly(0.5, 0.5, 0);
    assertThat(WorkloadZoo.phaseWeights(59.9 * 60_000, phase, blend)[0]).isCloseTo(0.98, within(0.01));
  }

  /** Counts, medians and the busiest short window of a workload. */
  record Summary(long n, long promptTokens, int medianPrompt, int medianOutput, int maxPrompt, int maxContext,
      double peakWindowRps, double peakWindowPromptTokensPerS) {
    static Summary of(Workload w, double windowMs) {
      List<Integer> prompts = new ArrayList<>();
      List<Integer> outputs = new ArrayList<>();
      java.util.Map<Long, long[]> windows = new java.util.HashMap<>();
      long tokens = 0;
      int maxContext = 0;
      for (TraceRequest r : w) {
        prompts.add(r.promptTokens());
        outputs.add(r.outputTokens());
        tokens += r.promptTokens();
        maxContext = Math.max(maxContext, r.promptTokens() + r.outputTokens());
        long[] c = windows.computeIfAbsent((long) (r.arrivalMs() / windowMs), k -> new long[2]);
        c[0]++;
        c[1] += r.promptTokens();
      }
      prompts.sort(null);
      outputs.sort(null);
      double peakN = windows.values().stream().mapToLong(c -> c[0]).max().orElse(0) / (windowMs / 1000);
      double peakT = windows.values().stream().mapToLong(c -> c[1]).max().orElse(0) / (windowMs / 1000);
      return new Summary(prompts.size(), tokens, prompts.get(prompts.size() / 2), outputs.get(outputs.size() / 2),
          prompts.get(prompts.size() - 1), maxContext, peakN, peakT);
    }
  }
}
