package io.dynamollm.multijvm;

import static io.dynamollm.multijvm.MultiJvmCluster.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 13, scenario 6: a rolling restart of every node (the first seed and the cluster manager's node included)
 * under steady client load through the front doors. The client is a load balancer over the three front doors
 * ({@link FrontDoorLoad}): it takes a node out of rotation before it is stopped (SIGTERM: the node drains and leaves
 * the cluster) and back once it is up again, as an operator's rolling restart does. Every request sent must come back
 * completed (none lost), and the share answered within its SLO (the router's own verdict) stays at 95 % or more.
 */
class RollingRestartTest {
  /** Client requests per wall second (at 20x: 0.4 model req/s, short prompts). */
  private static final int RATE = 8;

  @Test
  @Timeout(600)
  void everyNodeRestartedInTurnUnderLoadLosesNoRequestAndKeepsTheSlos() throws Exception {
    // DGX-like hosts of 8 GPUs (the bootstrap pool plans TP8 instances)
    List<String> all = List.of("--speedup", "20", "--gpus-per-host", "8");
    try (var c = new MultiJvmCluster("rolling-restart", List.of("a", "b", "c"), 3, all, Map.of(), "")) {
      c.startAll();
      c.awaitFormed(Duration.ofSeconds(120));
      NodeProcess first = c.node("a");
      boolean serving = await(Duration.ofSeconds(120), () -> c.get(first, "/api/v1/instances").map(j -> {
        for (JsonNode i : j) {
          if (i.path("state").asText().equals("ready")) {
            return true;
          }
        }
        return false;
      }).orElse(false));
      assertThat(serving).as("an instance serves").isTrue();
      String model = FrontDoorLoad.modelOf(first);
      c.note("SERVING model " + model);
      try (var load = new FrontDoorLoad(c, c.nodes(), model, RATE, Duration.ofSeconds(60))) {
        Thread.sleep(15_000); // steady state before the first restart
        int answeredBefore = load.outcomes().size();
        c.note("LOAD steady: " + answeredBefore + " answered of " + load.sent());
        List<String> stops = new ArrayList<>();
        for (NodeProcess n : c.nodes()) {
          load.rotation(n, false);
          Thread.sleep(2000); // the load balancer drains it: requests it already took finish meanwhile
          n.terminate();
          double stopAt = c.seconds();
          c.note("RESTART " + n.name + ": out of rotation, SIGTERM");
          OptionalInt status = n.awaitExit(Duration.ofSeconds(60));
          double exitedAfter = c.seconds() - stopAt;
          c.note(n.name + " exited " + status);
          assertThat(status).as(n.name + " leaves and exits on SIGTERM (log " + n.log + ")").hasValue(0);
          c.start(n);
          double startAt = c.seconds();
          c.awaitFormed(Duration.ofSeconds(120));
          boolean door = await(Duration.ofSeconds(60), () -> FrontDoorLoad.modelOf(n).equals(model));
          assertThat(door).as(n.name + "'s front door answers again").isTrue();
          load.rotation(n, true);
          stops.add(String.format(Locale.ROOT, "%s exited %.1f s after SIGTERM, back %.1f s after its start", n.name,
              exitedAfter, c.seconds() - startAt));
          c.note("BACK " + n.name + " in rotation; " + load.outcomes().size() + " answered of " + load.sent());
          Thread.sleep(5000);
        }
        boolean drained = load.finish(Duration.ofSeconds(90));
        assertThat(drained).as("every request sent came back").isTrue();
        // the decisions of the run, for a person to read next to the timeline
        c.get(first, "/api/v1/decisions?limit=500").ifPresent(j -> {
          List<String> lines = new ArrayList<>();
          j.forEach(d -> lines.add(0, d.path("at").asLong() + " " + d.path("level").asText() + " "
              + d.path("target").asText() + ": " + d.path("action").asText() + " — " + d.path("reason").asText()));
          try {
            java.nio.file.Files.write(c.dir.resolve("decisions.txt"), lines);
          } catch (java.io.IOException e) {
            c.note("decisions not written: " + e);
          }
        });
        load.noteFailures(30);
        var failed = load.failed();
        c.note(String.format(Locale.ROOT, "RESULT %d requests sent during the rolling restart of a, b, c (%d before"
            + " the first restart), %d completed, %d failed; SLO attainment %.1f %% (failures count as misses); %s",
            load.sent(), answeredBefore, load.outcomes().size() - failed.size(), failed.size(),
            load.attainment() * 100, stops));
        assertThat(load.outcomes()).hasSize(load.sent());
        assertThat(failed).as("no request lost").isEmpty();
        assertThat(load.attainment()).as("attainment through the restarts").isGreaterThanOrEqualTo(0.95);
      }
    }
  }
}
