package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.dynamollm.control.node.Node;
import io.dynamollm.sim.SyntheticWorkload;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The live control plane end to end on a real 3-node cluster in one JVM (one control node, two simulated 8-GPU hosts),
 * 50× faster than real time: a conversation workload drives budgets to pools, instances start on the hosts through
 * sharding, clocks change, requests are served, and the admin API shows it all.
 */
class LiveClusterTest {
  private static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  private ThreeNodeCluster cluster;

  @TempDir Path dir;

  @AfterEach
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void aWorkloadDrivesPoolsInstancesAndClocksAcrossNodes() throws Exception {
    cluster = new ThreeNodeCluster(dir, PROFILE, 50);
    Node control = cluster.control;
    ModelClock clock = cluster.clock;
    LoadGenerator load = new LoadGenerator().start(control.system(), control.live().router().orElseThrow(),
        new SyntheticWorkload(SyntheticWorkload.Kind.CONVERSATION, 1, 3.0, 7), clock, 1_000_000, line -> {});

    // within a minute of wall time (50 minutes of model time): pools with serving instances on the hosts' GPUs
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    JsonNode pools = null;
    Set<String> levels = new HashSet<>();
    boolean clockChange = false;
    while (System.nanoTime() < deadline) {
      pools = cluster.get("/api/v1/pools");
      for (JsonNode d : cluster.get("/api/v1/decisions?limit=500")) {
        levels.add(d.get("level").asText());
        clockChange |= d.get("level").asText().equals("instance") && d.get("action").asText().contains("->");
      }
      boolean serving = false;
      for (JsonNode p : pools) {
        for (JsonNode i : p.get("instances")) {
          serving |= i.get("state").asText().equals("ready");
        }
      }
      if (serving && levels.containsAll(Set.of("cluster", "pool", "instance")) && clockChange && load.served() > 200) {
        break;
      }
      Thread.sleep(500);
    }
    load.stop();
    assertThat(levels).contains("cluster", "pool", "instance");
    assertThat(clockChange).as("an instance changed its clock").isTrue();
    assertThat(load.served()).isGreaterThan(200);
    Set<String> hosts = new HashSet<>();
    for (JsonNode p : pools) {
      for (JsonNode i : p.get("instances")) {
        hosts.add(i.get("host").asText());
        assertThat(i.get("tp").asInt()).isIn(2, 4, 8);
      }
    }
    // instances live on the GPU hosts, never on the control node
    String controlHost = io.dynamollm.instance.InstanceManager.hostId(control.system().address());
    assertThat(hosts).isNotEmpty().doesNotContain(controlHost);
    JsonNode instances = cluster.get("/api/v1/instances");
    assertThat(instances.size()).isGreaterThan(0);
    assertThat(instances.get(0).has("pool")).isTrue();
  }
}
