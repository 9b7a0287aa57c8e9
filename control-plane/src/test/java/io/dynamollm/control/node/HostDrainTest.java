package io.dynamollm.control.node;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.control.live.ThreeNodeCluster;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profiles;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A GPU host's drain when the whole cluster stops at once (every node SIGTERMed, as a 3-node demo stopped together):
 * every host withdraws, no host is left to take another's instances, and none may wait out its drain timeout.
 */
class HostDrainTest {
  @TempDir Path dir;

  @Test
  void hostsThatAllLeaveAtOnceDoNotWaitForEachOther() throws Exception {
    try (var cluster = new ThreeNodeCluster(dir, MemoizedProfile.of(Profiles.h100()), 50)) {
      cluster.awaitHosts();
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (cluster.hostTotals()[1] == 0 && System.nanoTime() < deadline) {
        Thread.sleep(200);
      }
      assertThat(cluster.hostTotals()[1]).as("the bootstrap layout's instances hold GPUs").isPositive();

      // both hosts start draining together, each with a timeout far longer than the wait below
      Duration timeout = Duration.ofMinutes(10);
      CompletableFuture<?>[] drains = cluster.nodes.stream().filter(n -> n.hostAgent().isPresent())
          .map(n -> HostDrain.run(n.system(), n.hostAgent().get(), timeout).toCompletableFuture())
          .toArray(CompletableFuture[]::new);
      assertThat(drains).hasSize(2);
      CompletableFuture.allOf(drains).get(2, TimeUnit.MINUTES);

      // they ended because nothing could move, not because the instances had gone
      assertThat(cluster.hostTotals()[1]).as("instances still on the hosts").isPositive();
    }
  }
}
