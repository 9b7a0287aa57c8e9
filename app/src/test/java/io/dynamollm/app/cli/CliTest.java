package io.dynamollm.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CliTest {
  static final ObjectMapper JSON = new ObjectMapper();

  record Result(int code, String out, String err) {}

  static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = DynamoLlmCli.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
    return new Result(code, out.toString(), err.toString());
  }

  @Test
  void helpListsTheCommandsAndEachCommandHasHelp() {
    Result r = run("--help");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("profile").contains("gpu");
    for (String[] cmd : List.of(new String[] {"profile", "--help"}, new String[] {"profile", "show", "--help"},
        new String[] {"gpu", "--help"}, new String[] {"gpu", "list", "--help"})) {
      Result h = run(cmd);
      assertThat(h.code()).as(String.join(" ", cmd)).isZero();
      assertThat(h.out()).startsWith("Usage: dynamollm " + cmd[0]);
    }
  }

  @Test
  void planRefusesAMalformedSloAndSaysWhenNoClusterAnswers() throws Exception {
    Result bad = run("plan", "--slo", "LS:500");
    assertThat(bad.code()).isEqualTo(2);
    assertThat(bad.err()).contains("--slo must look like LS=500/60");
    int free;
    try (var s = new java.net.ServerSocket(0)) {
      free = s.getLocalPort();
    }
    // one limit alone is a proposal over the limits in force, which are read first
    Result half = run("plan", "--url", "http://127.0.0.1:" + free, "--power-budget-w", "9000");
    assertThat(half.code()).isEqualTo(1);
    assertThat(half.err()).contains("no answer from").doesNotContain("Exception");
    Result none = run("plan", "--url", "http://127.0.0.1:" + free, "--slo", "LS=500/60");
    assertThat(none.code()).isEqualTo(1);
    assertThat(none.err()).contains("no answer from").contains("is a control node running there");
    assertThat(none.err()).doesNotContain("Exception");
  }

  @Test
  void everyCommandsHelpRendersWithoutAPicocliWarning() {
    // picocli formats descriptions with String.format and warns on System.err when one has a bare '%'
    java.io.PrintStream saved = System.err;
    java.io.ByteArrayOutputStream stderr = new java.io.ByteArrayOutputStream();
    System.setErr(new java.io.PrintStream(stderr, true, java.nio.charset.StandardCharsets.UTF_8));
    try {
      for (String[] cmd : List.of(new String[] {"--help"}, new String[] {"simulate", "--help"},
          new String[] {"node", "--help"}, new String[] {"engine-sim", "--help"}, new String[] {"profile", "--help"},
          new String[] {"profile", "show", "--help"}, new String[] {"gpu", "--help"},
          new String[] {"gpu", "list", "--help"})) {
        Result h = run(cmd);
        assertThat(h.code()).as(String.join(" ", cmd)).isZero();
        assertThat(h.out()).as(String.join(" ", cmd)).doesNotContain("%n");
      }
    } finally {
      System.setErr(saved);
    }
    assertThat(stderr.toString(java.nio.charset.StandardCharsets.UTF_8)).doesNotContain("picocli WARN");
  }

  @Test
  void aNodePortOutOfRangeIsAFlagMistakeWithExitCode2() {
    for (String flag : java.util.List.of("--port", "--http-port", "--front-door-port")) {
      Result r = run("node", flag, "-5");
      assertThat(r.code()).as(flag).isEqualTo(2);
      assertThat(r.err().lines().findFirst().orElseThrow()).isEqualTo("error: " + flag + " must be 0-65535, got -5");
      assertThat(r.err()).contains("Usage: dynamollm node");
    }
  }

  @Test
  void aNodeOnAPortInUseSaysWhichPortAndFlagInOneLine(@TempDir Path dir) throws Exception {
    // a second node started on the first one's ports: the mistake is named before anything starts
    try (var taken = new java.net.ServerSocket()) {
      taken.bind(new java.net.InetSocketAddress("127.0.0.1", 0));
      int port = taken.getLocalPort();
      for (String flag : List.of("--port", "--http-port", "--ops-port", "--front-door-port")) {
        List<String> args = new ArrayList<>(List.of("node", "--data-dir", dir.resolve(flag).toString(), "--port", "0",
            "--http-port", "0", "--ops-port", "0", "--front-door-port", "0"));
        args.set(args.indexOf(flag) + 1, Integer.toString(port));
        Result r = run(args.toArray(String[]::new));
        assertThat(r.code()).as(flag).isEqualTo(1);
        assertThat(r.err().lines().count()).as(r.err()).isEqualTo(1);
        assertThat(r.err()).startsWith("error: 127.0.0.1:" + port + " (").contains(flag)
            .contains("is another node running with the same ports?").doesNotContain("Exception");
      }
    }
  }

  @Test
  void aWrongFlagGivesOneLineAndTheUsageWithExitCode2() {
    Result r = run("profile", "show", "--bogus");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err().lines().findFirst().orElseThrow()).isEqualTo("error: Unknown option: '--bogus'");
    assertThat(r.err()).contains("Usage: dynamollm profile show");
    Result load = run("profile", "show", "--load", "extreme");
    assertThat(load.code()).isEqualTo(2);
    assertThat(load.err()).startsWith("error: Invalid value for option '--load': expected low, medium or high, got 'extreme'");
  }

  @Test
  void badConfigSaysWhatIsWrongWithoutAStackTrace(@TempDir Path dir) throws IOException {
    Path bad = dir.resolve("bad.conf");
    Files.writeString(bad, "dynamollm.slo.overrides.SS { ttft-p99-ms = -5, tbt-p99-ms = 40 }\n");
    Result r = run("profile", "show", "--config", bad.toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err().strip()).isEqualTo(
        "error: dynamollm.slo.overrides.SS: ttft_p99_ms must be a positive, finite number of milliseconds, got -5.0");
    Result missing = run("profile", "show", "--config", dir.resolve("nope.conf").toString());
    assertThat(missing.err()).startsWith("error: config file").doesNotContain("\tat ");
    Path unknownProfile = dir.resolve("profile.conf");
    Files.writeString(unknownProfile, "dynamollm.profile.name = gpt-5-on-abacus\n");
    Result u = run("profile", "show", "--config", unknownProfile.toString());
    assertThat(u.err().strip()).isEqualTo("error: dynamollm.profile.name: unknown profile 'gpt-5-on-abacus': "
        + "known profiles are llama2-70b-dgx-h100, llama2-70b-dgx-h200");
    Path malformed = dir.resolve("malformed.conf");
    Files.writeString(malformed, "dynamollm.slo { multiplier = \n");
    Result m = run("profile", "show", "--config", malformed.toString());
    assertThat(m.code()).isEqualTo(1);
    assertThat(m.err()).startsWith("error: cannot read config file").doesNotContain("\tat ");
  }

  @Test
  void profileTableShowsEveryTypeWithItsOptimum() {
    Result r = run("profile", "show", "--load", "medium");
    assertThat(r.code()).isZero();
    for (String t : List.of("SS", "SM", "SL", "MS", "MM", "ML", "LS", "LM", "LL")) {
      assertThat(r.out()).contains("\n" + t + "  SLO: TTFT p99");
    }
    assertThat(r.out()).contains("optimum: TP4 at").contains("*");
  }

  @Test
  void profileJsonHoldsThePapersFacts() throws IOException {
    JsonNode medium = JSON.readTree(run("profile", "show", "--load", "medium", "--json").out());
    assertThat(medium.get("model").asText()).isEqualTo("Llama2-70B");
    assertThat(medium.get("types").size()).isEqualTo(9);
    JsonNode ss = medium.get("types").get("SS");
    assertThat(ss.get("slo").get("ttft_p99_ms").asDouble()).isPositive();
    assertThat(ss.get("configs").size()).isEqualTo(21);
    // SS at medium load: a small TP at a reduced clock
    assertThat(ss.get("optimum").get("tp").asInt()).isLessThan(8);
    assertThat(ss.get("optimum").get("freq_mhz").asInt()).isLessThan(1980);
    // LL at high load: only TP8 is feasible
    JsonNode high = JSON.readTree(run("profile", "show", "--load", "high", "--json").out());
    List<Integer> feasibleTps = new ArrayList<>();
    high.get("types").get("LL").get("configs").forEach(c -> {
      if (c.get("feasible").asBoolean() && !feasibleTps.contains(c.get("tp").asInt())) {
        feasibleTps.add(c.get("tp").asInt());
      }
    });
    assertThat(feasibleTps).containsExactly(8);
    // LL on TP8: energy per request at each clock's capacity is U-shaped
    List<double[]> tp8 = new ArrayList<>();
    high.get("types").get("LL").get("configs").forEach(c -> {
      if (c.get("tp").asInt() == 8) {
        tp8.add(new double[] {c.get("freq_mhz").asInt(), c.get("energy_at_capacity_wh").asDouble()});
      }
    });
    double lowest = tp8.get(0)[1];
    double highest = tp8.get(tp8.size() - 1)[1];
    double min = tp8.stream().mapToDouble(a -> a[1]).min().orElseThrow();
    assertThat(min).isLessThan(lowest).isLessThan(highest);
    // infeasible cells carry null latencies rather than Infinity (which is not JSON)
    assertThat(run("profile", "show", "--load", "high", "--json").out()).doesNotContain("Infinity").doesNotContain("NaN");
  }

  @Test
  void profileChartHasAPanelPerTypeAndRingsEachOptimum(@TempDir Path dir) throws IOException {
    Path svg = dir.resolve("charts/profile.svg");
    Result r = run("profile", "show", "--load", "low", "--svg", svg.toString());
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("chart written to " + svg);
    String chart = Files.readString(svg);
    assertThat(chart).startsWith("<svg").contains("low load");
    for (String t : List.of("SS", "SM", "SL", "MS", "MM", "ML", "LS", "LM", "LL")) {
      assertThat(chart).contains(">" + t + "</text>");
    }
    // one ring (r=7) per type that has an optimum
    assertThat(chart.split("r=\"7\"", -1).length - 1).isEqualTo(9);
    Result bad = run("profile", "show", "--svg", "/proc/forbidden/profile.svg");
    assertThat(bad.code()).isEqualTo(1);
    assertThat(bad.err()).startsWith("error: cannot write the chart to /proc/forbidden/profile.svg");
  }

  @Test
  void simulateWritesJsonAndHtmlWithEveryRequestedPolicy(@TempDir Path dir) throws IOException {
    // 20 minutes of a conversation-like trace at 2 req/s
    StringBuilder csv = new StringBuilder("TIMESTAMP,ContextTokens,GeneratedTokens\n");
    java.util.SplittableRandom r = new java.util.SplittableRandom(3);
    double t = 0;
    while (t < 1_200) {
      t += -Math.log(1 - r.nextDouble()) / 2;
      int s = (int) t;
      csv.append(String.format(java.util.Locale.ROOT, "2023-11-16 18:%02d:%02d.%07d,%d,%d%n", 10 + s / 60, s % 60,
          (int) ((t - s) * 1e7), 50 + r.nextInt(3000), 5 + r.nextInt(600)));
    }
    Path trace = dir.resolve("trace.csv");
    Files.writeString(trace, csv);
    Path json = dir.resolve("out/report.json");
    Result res = run("simulate", "--trace", trace.toString(), "--policies", "singlepool,scalefreq,dynamollm,oracle",
        "--report-json", json.toString(), "--report-html", dir.resolve("html").toString());
    assertThat(res.code()).as(res.err()).isZero();
    JsonNode report = JSON.readTree(Files.readString(json));
    assertThat(report.get("servers").asInt()).isPositive();
    assertThat(report.get("profile").asText()).isEqualTo("Llama2-70B on DGX H100 (8x H100 80GB HBM3, NVLink)");
    assertThat(report.get("policies").size()).isEqualTo(4);
    JsonNode dyn = report.get("policies").get("dynamollm");
    for (String field : List.of("energy_kwh", "gpu_hours", "avg_servers", "requests", "rejected", "slo_attainment",
        "ttft_p50_ms", "ttft_p99_ms", "tbt_p50_ms", "tbt_p99_ms", "power_p50_w", "power_p99_w", "carbon_kg", "cost_usd")) {
      assertThat(dyn.has(field)).as(field).isTrue();
    }
    assertThat(dyn.get("reconfigurations").has("frequency")).isTrue();
    assertThat(report.get("oracle_check").asText()).startsWith("oracle: ").contains("no policy as good uses less energy");
    assertThat(Files.readString(dir.resolve("html/index.html"))).contains("<svg").contains("Cluster power over time");
    assertThat(res.out()).contains("dynamollm").contains("JSON report: ");
  }

  @Test
  void simulateSaysWhatIsWrongWithItsInput(@TempDir Path dir) throws IOException {
    Path bad = dir.resolve("bad.csv");
    Files.writeString(bad, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,10,10\n2023-11-16 18:15:47,x,3\n");
    Result r = run("simulate", "--trace", bad.toString(), "--report-json", dir.resolve("r.json").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("error: " + bad + ":3: ContextTokens 'x' is not a whole number").doesNotContain("\tat ");
    Result both = run("simulate", "--trace", bad.toString(), "--workload", "coding", "--report-json", "x.json");
    assertThat(both.code()).isEqualTo(2);
    Result policy = run("simulate", "--workload", "coding", "--days", "0.01", "--policies", "greedy",
        "--report-json", dir.resolve("p.json").toString());
    assertThat(policy.code()).isEqualTo(1);
    assertThat(policy.err()).contains("unknown policy 'greedy'");
  }

  @Test
  void simulateWithoutReportFilesPrintsItsSummary() {
    Result r = run("simulate", "--workload", "coding", "--days", "0.01", "--average-rps", "2", "--policies",
        "singlepool,dynamollm");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("singlepool").contains("dynamollm").contains("attainment")
        .doesNotContain("JSON report");
  }

  @Test
  void gpuListReadsSimulatedGpusAndSaysWhenNvmlIsMissing() throws IOException {
    Result sim = run("gpu", "list", "--backend", "simulated", "--json");
    assertThat(sim.code()).isZero();
    JsonNode gpus = JSON.readTree(sim.out()).get("gpus");
    assertThat(gpus.size()).isEqualTo(8);
    assertThat(gpus.get(0).get("supported_graphics_clocks_mhz").get(0).asInt()).isEqualTo(1980);
    assertThat(gpus.get(0).get("power_mw").asLong()).isEqualTo(77_700);
    Result none = run("gpu", "list", "--backend", "nvml", "--nvml-library", "/nonexistent/libnvidia-ml.so.1");
    assertThat(none.code()).isEqualTo(1);
    assertThat(none.err()).startsWith("error: NVML is not available here").doesNotContain("\tat ");
    Result wrong = run("gpu", "list", "--backend", "cuda");
    assertThat(wrong.code()).isEqualTo(2);
    assertThat(wrong.err()).startsWith("error: Invalid value for option '--backend': expected auto, nvml or simulated");
  }
}
