package io.dynamollm.multijvm;

import static io.dynamollm.multijvm.MultiJvmCluster.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Real node processes (the built jar), three per scenario, each with its own data dir and ports, all listing the same
 * seeds; faults by signals. Each scenario's timeline and node logs are in {@code src/multi-jvm/target/multi-jvm/NAME/}.
 */
class NodeFailureTest {
  private static final Duration FORM = Duration.ofSeconds(120);

  private static void formed(MultiJvmCluster c, List<NodeProcess> members) throws InterruptedException {
    for (NodeProcess n : members) {
      boolean ok = await(FORM, () -> c.sees(n, members));
      assertThat(ok).as(n.name + " sees " + members.stream().map(m -> m.name).toList() + " up; it sees "
          + c.upMembers(n) + " (log: " + n.log + ")").isTrue();
    }
    c.note("FORMED " + members.stream().map(m -> m.name).toList() + " (every one sees all up, all reachable)");
  }

  private static String slo(double ttft) {
    return "{\"ttft_p99_ms\": " + ttft + ", \"tbt_p99_ms\": 60}";
  }

  private static double ttftOf(MultiJvmCluster c, NodeProcess n, String type) {
    return c.get(n, "/api/v1/slos").map(j -> j.path(type).path("ttft_p99_ms").asDouble(Double.NaN))
        .orElse(Double.NaN);
  }

  /** Issue 13, scenario 3: SIGSTOP 30 s, SIGCONT — downed, stops itself with a non-zero status saying why, rejoins. */
  @Test
  @Timeout(420)
  void aFrozenNodeIsDownedStopsItselfNonZeroAndRejoinsWhenRestarted() throws Exception {
    try (var c = new MultiJvmCluster("frozen-node", List.of("a", "b", "c"), 3, List.of())) {
      c.startAll();
      NodeProcess a = c.node("a");
      NodeProcess b = c.node("b");
      NodeProcess frozen = c.node("c");
      formed(c, c.nodes());
      frozen.freeze();
      double frozenAt = c.seconds();
      c.note("FAULT SIGSTOP c");
      boolean downed = await(Duration.ofSeconds(60), () -> c.sees(a, List.of(a, b)) && c.sees(b, List.of(a, b)));
      c.note("a and b see only themselves: " + downed);
      assertThat(downed).as("a and b down the frozen node").isTrue();
      double downedAfter = c.seconds() - frozenAt;
      Thread.sleep(Math.max(0, (long) ((30 - (c.seconds() - frozenAt)) * 1000)));
      frozen.thaw();
      c.note(String.format(java.util.Locale.ROOT, "FAULT SIGCONT c (frozen %.1f s; downed by the others after %.1f s)",
          c.seconds() - frozenAt, downedAfter));
      OptionalInt status = frozen.awaitExit(Duration.ofSeconds(90));
      c.note("c exited: " + status);
      assertThat(status).as("the frozen node stops itself (log: " + frozen.log + ")").isPresent();
      assertThat(status.getAsInt()).as("not 0: a supervisor must restart it").isEqualTo(75);
      assertThat(frozen.logText()).contains("the cluster downed this node").contains("restart it");
      c.start(frozen);
      formed(c, c.nodes());
      c.note(String.format(java.util.Locale.ROOT, "RESULT downed after %.1f s frozen; exit status 75; rejoined",
          downedAfter));
    }
  }

  /**
   * Issue 13, scenario 5: each node restarted with its own command — the first seed included, killed — rejoins the
   * running cluster; none forms a second one: a write acknowledged anywhere is read everywhere after the restarts.
   */
  @Test
  @Timeout(600)
  void everyNodeRestartedWithItsOwnCommandRejoinsTheOneCluster() throws Exception {
    try (var c = new MultiJvmCluster("restart-each", List.of("a", "b", "c"), 3, List.of())) {
      c.startAll();
      formed(c, c.nodes());
      double ttft = 400;
      for (NodeProcess restarted : c.nodes()) {
        NodeProcess other = c.nodes().stream().filter(n -> n != restarted).findFirst().orElseThrow();
        List<NodeProcess> rest = c.nodes().stream().filter(n -> n != restarted).toList();
        restarted.kill();
        c.note("FAULT SIGKILL " + restarted.name);
        boolean removed = await(Duration.ofSeconds(90), () -> rest.stream().allMatch(n -> c.sees(n, rest)));
        c.note("the others removed " + restarted.name + ": " + removed);
        assertThat(removed).isTrue();
        // a write while it is gone: the restarted node must see it, so it must join this cluster, not start its own
        ttft += 10;
        Map.Entry<Integer, String> put = c.put(other, "/api/v1/slos/LS", slo(ttft), Duration.ofSeconds(20));
        c.note("PUT LS ttft " + ttft + " on " + other.name + " -> " + put.getKey());
        assertThat(put.getKey()).as(put.getValue()).isEqualTo(200);
        c.start(restarted);
        formed(c, c.nodes());
        double want = ttft;
        boolean read = await(Duration.ofSeconds(30), () -> ttftOf(c, restarted, "LS") == want);
        c.note(restarted.name + " reads LS ttft " + ttftOf(c, restarted, "LS"));
        assertThat(read).as(restarted.name + " reads the write made while it was gone").isTrue();
        // and a write acknowledged by the restarted node reaches the others
        ttft += 10;
        put = c.put(restarted, "/api/v1/slos/LS", slo(ttft), Duration.ofSeconds(20));
        c.note("PUT LS ttft " + ttft + " on " + restarted.name + " -> " + put.getKey());
        assertThat(put.getKey()).as(put.getValue()).isEqualTo(200);
        double want2 = ttft;
        boolean everywhere = await(Duration.ofSeconds(30),
            () -> c.nodes().stream().allMatch(n -> ttftOf(c, n, "LS") == want2));
        assertThat(everywhere).as("every node reads the restarted node's write").isTrue();
      }
      c.note("RESULT each of a (the first seed), b, c killed and restarted with its own command: one cluster, "
          + "every write read everywhere");
    }
  }
}
