package io.dynamollm.multijvm;

import static io.dynamollm.multijvm.MultiJvmCluster.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 13, scenario 1: a control node and two 8-GPU hosts, a GPU budget of 8: one TP8 instance serves on one host,
 * under client load through the control node's front door (4 short completions a second). SIGKILL that host: its
 * instance leaves the pools' routes once the node is downed, a replacement starts on the other host, the requests
 * the dead host had are re-routed to it (failed client requests at most those in flight at the kill), and the killed
 * host, restarted with its own command, comes back with its GPUs free (clocks reset) and holds nothing of the old
 * instance.
 */
class HostLossTest {

  private static List<JsonNode> instances(MultiJvmCluster c, NodeProcess control) {
    List<JsonNode> out = new ArrayList<>();
    c.get(control, "/api/v1/instances").ifPresent(j -> j.forEach(out::add));
    return out;
  }

  private static List<JsonNode> ready(MultiJvmCluster c, NodeProcess control) {
    return instances(c, control).stream().filter(i -> i.path("state").asText().equals("ready")).toList();
  }

  @Test
  @Timeout(480)
  void theInstancesOfAKilledHostAreDroppedAndReplacedOnTheSurvivor() throws Exception {
    var perNode = Map.of("control", List.of("--roles", "control"),
        "host-1", List.of("--roles", "gpu-host", "--gpus-per-host", "8"),
        "host-2", List.of("--roles", "gpu-host", "--gpus-per-host", "8"));
    try (var c = new MultiJvmCluster("host-loss", List.of("control", "host-1", "host-2"), 3, List.of(), perNode,
        "dynamollm.live.engine-startup = 5s\n")) {
      c.startAll();
      NodeProcess control = c.node("control");
      boolean formed = await(Duration.ofSeconds(120), () -> c.sees(control, c.nodes()));
      assertThat(formed).as("cluster formed (log " + control.log + ")").isTrue();
      // the cluster may use 8 of its 16 GPUs: one TP8 instance serves, the other host is the spare capacity
      var put = c.put(control, "/api/v1/limits", "{\"min_mhz\": 1005, \"max_mhz\": 1980, \"gpu_budget\": 8}",
          Duration.ofSeconds(20));
      c.note("PUT limits gpu_budget 8 -> " + put.getKey() + " " + put.getValue());
      assertThat(put.getKey()).as(put.getValue()).isEqualTo(200);
      boolean serving = await(Duration.ofSeconds(240), () -> instances(c, control).size() == 1
          && ready(c, control).size() == 1);
      assertThat(serving).as("one ready instance; instances: " + instances(c, control)).isTrue();
      FrontDoorLoad load = new FrontDoorLoad(c, List.of(control), FrontDoorLoad.modelOf(control), 4,
          Duration.ofSeconds(150));
      Thread.sleep(10_000); // steady load on the one instance
      JsonNode first = ready(c, control).get(0);
      String firstId = first.path("id").asText();
      NodeProcess victim = c.byHost(first.path("host").asText()).orElseThrow();
      NodeProcess survivor = c.nodes().stream().filter(n -> n != victim && n != control).findFirst().orElseThrow();
      c.note("SERVING " + firstId + " on " + victim.name);
      int inFlight = load.outstanding();
      victim.kill();
      double killedAt = c.seconds();
      c.note("FAULT SIGKILL " + victim.name + " with " + inFlight + " client requests in flight");
      boolean dropped = await(Duration.ofSeconds(60),
          () -> instances(c, control).stream().noneMatch(i -> i.path("id").asText().equals(firstId)));
      double droppedAfter = c.seconds() - killedAt;
      c.note(String.format(Locale.ROOT, "%s left the pools after %.1f s: %s", firstId, droppedAfter, dropped));
      assertThat(dropped).as("the dead host's instance leaves the pools; instances: " + instances(c, control))
          .isTrue();
      String survivorHost = "127.0.0.1:" + survivor.clusterPort;
      boolean replaced = await(Duration.ofSeconds(60), () -> ready(c, control).stream()
          .anyMatch(i -> i.path("host").asText().equals(survivorHost)));
      double replacedAfter = c.seconds() - killedAt;
      c.note(String.format(Locale.ROOT, "replacement ready on %s %.1f s after the kill: %s (%s)", survivor.name,
          replacedAfter, replaced, ready(c, control)));
      assertThat(replaced).as("a replacement serves on the surviving host; instances: " + instances(c, control))
          .isTrue();
      boolean answered = load.finish(Duration.ofSeconds(160));
      load.noteFailures(20);
      int failed = load.failed().size();
      c.note(String.format(Locale.ROOT, "LOAD %d requests sent, %d failed (%d in flight at the kill), SLO attainment"
          + " %.1f %%", load.sent(), failed, inFlight, load.attainment() * 100));
      assertThat(answered).as("every client request came back").isTrue();
      assertThat(failed).as("failed client requests at most those in flight on the dead host").isLessThanOrEqualTo(
          inFlight);
      load.close();
      c.start(victim);
      boolean back = await(Duration.ofSeconds(120), () -> c.sees(control, c.nodes()));
      assertThat(back).as("the killed host rejoins").isTrue();
      assertThat(victim.logText()).contains("gpu-host: 8 GPUs, clocks reset");
      Thread.sleep(5000); // a pool that still listed the old instance would have adopted or re-listed it by now
      String victimHost = "127.0.0.1:" + victim.clusterPort;
      assertThat(instances(c, control)).as("nothing of the old instance on the restarted host")
          .noneMatch(i -> i.path("id").asText().equals(firstId))
          .noneMatch(i -> i.path("host").asText().equals(victimHost) && !i.path("state").asText().equals("ready")
              && !i.path("state").asText().equals("starting"));
      c.note(String.format(Locale.ROOT, "RESULT instance dropped %.1f s after SIGKILL, replacement serving %.1f s"
          + " after it; %d client requests, %d failed of %d in flight at the kill, attainment %.1f %%; the host"
          + " rejoined with its GPUs reset", droppedAfter, replacedAfter, load.sent(), failed, inFlight,
          load.attainment() * 100));
    }
  }
}
