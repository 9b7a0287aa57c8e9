package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.sim.TraceRequest;
import io.dynamollm.sim.Workload;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class LoadGeneratorTest {
  private static final ActorTestKit KIT = ActorTestKit.create();

  @AfterAll
  static void stop() {
    KIT.shutdownTestKit();
  }

  @Test
  void aRequestTheModelCannotServeIsNotSentButCountedApartAsTheSimulatorLeavesItOut() {
    int max = ClassThresholds.DEFAULT.maxContextTokens();
    Workload w = Workload.of("three", List.of(new TraceRequest(1, 0, 100, 50),
        new TraceRequest(2, 1, max - 10, 11), // one token over the context with its output
        new TraceRequest(3, 2, max - 10, 10)), 10);
    TestProbe<Router.Command> router = KIT.createTestProbe();
    List<String> progress = new CopyOnWriteArrayList<>();
    LoadGenerator load = new LoadGenerator(ClassThresholds.DEFAULT).start(KIT.system(), router.getRef(), w,
        new ModelClock(1000), 1, progress::add, false, Optional.empty());
    Router.Request first = router.expectMessageClass(Router.Request.class, Duration.ofSeconds(10));
    Router.Request last = router.expectMessageClass(Router.Request.class, Duration.ofSeconds(10));
    router.expectNoMessage(Duration.ofMillis(200));
    assertThat(List.of(first.id(), last.id())).containsExactly(1L, 3L);
    assertThat(load.sent()).isEqualTo(2);
    assertThat(load.unservable()).isEqualTo(1);
    assertThat(progress).anyMatch(l -> l.contains("1 left out: longer than the model's context"));
  }
}
