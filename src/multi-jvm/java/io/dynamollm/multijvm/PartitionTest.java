package io.dynamollm.multijvm;

import static io.dynamollm.multijvm.MultiJvmCluster.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 13, scenario 4: a partition {a, b} | {c}, cut inside the nodes by Artery's test transport (blackhole, switched
 * through the test-only {@code PUT /api/v1/test/blackhole}; {@code dynamollm.node.test-endpoints = on}). The
 * minority c downs itself and exits 75; no write is acknowledged on its side while the majority acknowledges its own;
 * after healing, c restarted with its own command rejoins and reads the majority's last write.
 */
class PartitionTest {

  private static String slo(double ttft) {
    return "{\"ttft_p99_ms\": " + ttft + ", \"tbt_p99_ms\": 60}";
  }

  private static double ttftOf(MultiJvmCluster c, NodeProcess n) {
    return c.get(n, "/api/v1/slos").map(j -> j.path("LS").path("ttft_p99_ms").asDouble(Double.NaN))
        .orElse(Double.NaN);
  }

  private static void cut(MultiJvmCluster c, NodeProcess at, List<NodeProcess> from) {
    List<String> addresses = from.stream().map(n -> "\"127.0.0.1:" + n.clusterPort + "\"").toList();
    var put = c.put(at, "/api/v1/test/blackhole", "{\"addresses\": " + addresses + "}", Duration.ofSeconds(10));
    c.note("BLACKHOLE on " + at.name + " " + from.stream().map(n -> n.name).toList() + " -> " + put.getKey() + " "
        + put.getValue());
    assertThat(put.getKey()).as(put.getValue()).isEqualTo(200);
  }

  @Test
  @Timeout(480)
  void theMinorityDownsItselfAcknowledgesNothingAndRejoinsAfterHealing() throws Exception {
    try (var c = new MultiJvmCluster("partition", List.of("a", "b", "c"), 3, List.of(), Map.of(),
        "dynamollm.node.test-endpoints = on\n")) {
      c.startAll();
      NodeProcess a = c.node("a");
      NodeProcess b = c.node("b");
      NodeProcess minority = c.node("c");
      List<NodeProcess> majority = List.of(a, b);
      c.awaitFormed(Duration.ofSeconds(120));
      var before = c.put(a, "/api/v1/slos/LS", slo(700), Duration.ofSeconds(20));
      assertThat(before.getKey()).as(before.getValue()).isEqualTo(200);

      // the partition: c cut from a and b, both ways, on every side
      cut(c, minority, majority);
      cut(c, a, List.of(minority));
      cut(c, b, List.of(minority));
      double cutAt = c.seconds();
      c.note("FAULT partition {a, b} | {c}");

      // writes to both sides while it lasts: the minority acknowledges none; the majority (once c is down) its own
      List<Integer> minorityAnswers = new ArrayList<>();
      double ttft = 700;
      double lastAcked = 700;
      int majorityAcked = 0;
      int majorityWrites = 0;
      while (minority.alive() && c.seconds() - cutAt < 90) {
        var m = c.put(minority, "/api/v1/slos/LS", slo(900 + minorityAnswers.size()), Duration.ofSeconds(8));
        minorityAnswers.add(m.getKey());
        c.note("WRITE on c (minority) -> " + m.getKey());
        ttft += 1;
        var w = c.put(majority.get(majorityWrites % 2), "/api/v1/slos/LS", slo(ttft), Duration.ofSeconds(8));
        majorityWrites++;
        c.note(String.format(Locale.ROOT, "WRITE %.0f on %s (majority) -> %d", ttft,
            majority.get((majorityWrites - 1) % 2).name, w.getKey()));
        if (w.getKey() == 200) {
          majorityAcked++;
          lastAcked = ttft;
        }
      }
      OptionalInt status = minority.awaitExit(Duration.ofSeconds(60));
      double exitedAfter = c.seconds() - cutAt;
      c.note("c exited: " + status + String.format(Locale.ROOT, " %.1f s after the cut", exitedAfter));
      assertThat(status).as("the minority stops itself (log " + minority.log + ")").isPresent();
      assertThat(status.getAsInt()).as("exit 75: downed, restart me").isEqualTo(75);
      assertThat(minority.logText()).contains("the cluster downed this node");
      assertThat(minorityAnswers).as("no write acknowledged on the minority side").doesNotContain(200);
      boolean downed = await(Duration.ofSeconds(60), () -> majority.stream().allMatch(n -> c.sees(n, majority)));
      assertThat(downed).as("the majority removed c").isTrue();
      // the majority writes on after the downing
      ttft += 1;
      var after = c.put(a, "/api/v1/slos/LS", slo(ttft), Duration.ofSeconds(20));
      majorityWrites++;
      assertThat(after.getKey()).as(after.getValue()).isEqualTo(200);
      majorityAcked++;
      lastAcked = ttft;
      c.note("WRITE " + ttft + " on a after the downing -> 200");

      // heal, restart c with its own command: it rejoins and converges on the majority's last write
      cut(c, a, List.of());
      cut(c, b, List.of());
      c.note("HEALED");
      c.start(minority);
      for (NodeProcess n : c.nodes()) {
        boolean ok = await(Duration.ofSeconds(120), () -> c.sees(n, c.nodes()));
        assertThat(ok).as(n.name + " sees all three up again").isTrue();
      }
      double want = lastAcked;
      boolean converged = await(Duration.ofSeconds(30), () -> c.nodes().stream().allMatch(n -> ttftOf(c, n) == want));
      c.note("LS ttft on a, b, c: " + c.nodes().stream().map(n -> ttftOf(c, n)).toList() + " (want " + want + ")");
      assertThat(converged).as("every node reads the majority's last acknowledged write").isTrue();
      c.note(String.format(Locale.ROOT, "RESULT minority exited 75 %.1f s after the cut; 0 of %d minority writes"
          + " acknowledged; %d of %d majority writes acknowledged; after healing c rejoined and all read %.0f",
          exitedAfter, minorityAnswers.size(), majorityAcked, majorityWrites, want));
    }
  }
}
