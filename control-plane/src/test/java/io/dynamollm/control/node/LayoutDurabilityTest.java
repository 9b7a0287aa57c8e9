package io.dynamollm.control.node;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.dynamollm.control.cluster.LayoutStore;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.protocol.PoolLayout;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.profile.TypeShape;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pool layout survives a restart of the node: written with majority into LMDB, read back by a new node. */
class LayoutDurabilityTest {
  private static final Profile P = MemoizedProfile.of(Profiles.h100());

  @TempDir Path dir;

  private Node start() {
    Config root = ConfigFactory.parseString("pekko.loglevel = WARNING\npekko.actor.serialize-messages = on")
        .withFallback(ConfigFiles.load(Optional.empty()));
    return Node.start(NodeSettings.fromConfig(root, Map.of()).withPort(0).withAdminPort(0).withOpsPort(0).withDataDir(dir)
        .withAdminToken("t").withRoles(Set.of("control")), root, P, P.defaultSlos(5));
  }

  private static ActorRef<LayoutStore.Command> store(Node n) {
    return n.system().systemActorOf(LayoutStore.create(Duration.ofSeconds(5)), "layout-test-" + System.nanoTime(),
        Props.empty());
  }

  @Test
  void aStoredLayoutIsReadBackAfterARestart() throws Exception {
    var slos = P.defaultSlos(5);
    var layout = new PoolLayout(7, List.of(
        new PoolBudget("MM", 7, 8, RequestType.MM, Set.of(RequestType.SS, RequestType.MM),
            Map.of(RequestType.MM, 4.5, RequestType.SS, 0.5), 5.1,
            Map.of(RequestType.MM, slos.of(RequestType.MM), RequestType.SS, slos.of(RequestType.SS)),
            Map.of(RequestType.MM, new TypeShape(455, 973, 122, 200), RequestType.SS, new TypeShape(181, 251, 55, 98)),
            FrequencyBounds.H100_DEFAULT),
        new PoolBudget("LL", 7, 8, RequestType.LL, Set.of(RequestType.LL), Map.of(RequestType.LL, 2.0), 2.0,
            Map.of(RequestType.LL, slos.of(RequestType.LL)), Map.of(RequestType.LL, new TypeShape(1111, 1339, 428, 673)),
            FrequencyBounds.H100_DEFAULT)));
    Node a = start();
    try {
      Boolean ok = AskPattern.<LayoutStore.Command, Boolean>ask(store(a), r -> new LayoutStore.Save(layout, r),
          Duration.ofSeconds(10), a.system().scheduler()).toCompletableFuture().get();
      assertThat(ok).isTrue();
    } finally {
      a.stop(Duration.ofSeconds(20));
    }
    Node b = start();
    try {
      Optional<PoolLayout> back = AskPattern.<LayoutStore.Command, Optional<PoolLayout>>ask(store(b),
          LayoutStore.Load::new, Duration.ofSeconds(15), b.system().scheduler()).toCompletableFuture().get();
      assertThat(back).contains(layout);
    } finally {
      b.stop(Duration.ofSeconds(20));
    }
  }
}
