package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.dynamollm.control.node.Node;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.sim.Workload;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The watt budget on a live 3-node cluster (one control node, two simulated 8-GPU hosts, 60 times faster than real
 * time) under steady load: the operator puts a budget of 70 % of what the cluster draws, through the admin API as a
 * facility power manager would; the power governor brings the GPUs' measured power under it within minutes (model
 * time), the decisions say how (clock ceilings first), and /metrics shows the budget and the governor's steps. What
 * it degrades is latency: at most 1 % of requests are turned away past their TTFT deadline by the instances'
 * emergency ladder. The
 * minute-by-minute power goes to {@code target/watt-budget.txt}.
 */
class WattBudgetClusterTest {
  private static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  private static final double SPEEDUP = 60;
  private static final double DURATION_MS = 40 * 60_000;
  private static final int BUDGET_AT_MINUTE = 12;
  private ThreeNodeCluster cluster;

  @TempDir Path dir;

  @AfterEach
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  private long energyMj() throws Exception {
    return cluster.hostTotals()[0];
  }

  @Test
  void theGovernorHoldsTheMeasuredPowerUnderTheOperatorsBudget() throws Exception {
    cluster = new ThreeNodeCluster(dir, PROFILE, SPEEDUP);
    Node control = cluster.control;
    ModelClock clock = cluster.clock;
    cluster.awaitHosts();
    LoadGenerator load = new LoadGenerator().start(control.system(), control.live().router().orElseThrow(),
        Workload.of("steady", ClusterEnergyAgreementTest.workload(), DURATION_MS), clock, 1_000_000, line -> { },
        true);
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (Double.isNaN(load.startedAtMs()) && System.nanoTime() < deadline) {
      LockSupport.parkNanos(5_000_000);
    }
    assertThat(load.startedAtMs()).as("the cluster served within 30 s").isNotNaN();
    double origin = load.startedAtMs();
    List<Double> perMinute = new ArrayList<>();
    long last = energyMj();
    double budget = 0;
    HttpClient http = HttpClient.newHttpClient();
    int port = control.adminAddress().orElseThrow().getPort();
    for (int minute = 1; minute <= 30; minute++) {
      while (clock.wallMsUntil(origin + minute * 60_000.0) > 0) {
        LockSupport.parkNanos(20_000_000);
      }
      long e = energyMj();
      perMinute.add((e - last) / 1000.0 / 60);
      last = e;
      if (minute == BUDGET_AT_MINUTE) {
        // what the cluster drew over the last five minutes, and a budget of 70 % of it
        double free = perMinute.subList(minute - 5, minute).stream().mapToDouble(Double::doubleValue).average()
            .orElseThrow();
        budget = Math.round(0.7 * free);
        var r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/api/v1/limits"))
            .header("Authorization", "Bearer t").header("Content-Type", "application/json")
            .PUT(HttpRequest.BodyPublishers.ofString("{\"min_mhz\": 800, \"max_mhz\": 1980, \"power_budget_w\": "
                + budget + "}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      }
    }
    load.stop();
    StringBuilder report = new StringBuilder(String.format(Locale.ROOT, "watt budget %.0f W put at minute %d%n",
        budget, BUDGET_AT_MINUTE));
    for (int k = 0; k < perMinute.size(); k++) {
      report.append(String.format(Locale.ROOT, "minute %2d  %7.0f W%n", k + 1, perMinute.get(k)));
    }
    List<String> power = new ArrayList<>();
    for (JsonNode d : cluster.get("/api/v1/decisions?limit=500")) {
      String a = d.get("action").asText();
      if (a.startsWith("power ") || d.get("reason").asText().contains("W budget")) {
        power.add(d.get("target").asText() + ": " + a + " — " + d.get("reason").asText());
      }
    }
    report.append("decisions about the budget:\n");
    power.forEach(p -> report.append("  ").append(p).append('\n'));
    Files.createDirectories(Path.of("target"));
    Files.writeString(Path.of("target", "watt-budget.txt"), report.toString());

    // the last ten minutes: under the budget (within the governor's 2 % tolerance and a step's settling)
    double after = perMinute.subList(20, 30).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    assertThat(after).as(report.toString()).isLessThanOrEqualTo(budget * 1.05);
    assertThat(power).as("the governor's steps, clocks first").anyMatch(p -> p.contains("power clock"));
    // the budget and the governor in the metrics of the cluster manager's node
    int ops = control.opsAddress().getPort();
    String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ops + "/metrics")).GET()
        .build(), HttpResponse.BodyHandlers.ofString()).body();
    assertThat(metrics).contains("dynamollm_cluster_power_budget_watts " + String.format(Locale.ROOT, "%.1f", budget))
        .contains("dynamollm_power_governor_steps").contains("dynamollm_pool_clock_ceiling_mhz{pool=");
    // what the budget degrades is latency: a request fails only where the instance's emergency ladder turned it away
    // past its TTFT deadline (answered, not lost), and few do
    assertThat(load.failures().keySet()).as("failed: " + load.failures()).allMatch(f -> f.contains("past its TTFT"));
    assertThat(load.failed()).as("failed: " + load.failures()).isLessThanOrEqualTo(load.sent() / 100);
    assertThat(cluster.get("/api/v1/limits").get("power_budget_w").asDouble()).isEqualTo(budget);
  }
}
