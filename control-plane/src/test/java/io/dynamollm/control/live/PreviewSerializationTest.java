package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.decision.cluster.PlanPreview;
import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** A plan preview's answer crosses nodes (the admin API of any control node asks the singleton): it round-trips. */
class PreviewSerializationTest {
  static final ActorTestKit testKit = ActorTestKit.create();

  @AfterAll
  static void cleanup() {
    testKit.shutdownTestKit();
  }

  @Test
  void aPreviewAnswerSurvivesTheConfiguredSerializer() {
    PoolPlan plan = new PoolPlan(List.of(new PoolPlan.Group(TensorParallelism.TP4, 1395, 2, 3.5, 1.2)), 2100.5, 2.4);
    PlanPreview.Result r = new PlanPreview.Result(List.of(new PlanPreview.Pool("SS", Set.of(RequestType.SS,
        RequestType.SM), 8, 2.4, plan, 7.0, true, "OPTIMAL", 1500)), 2100.5, "one pool per type");
    var answer = new ClusterManager.PreviewAnswer(Optional.of(r), Optional.of(r), 16, "");
    Serialization serialization = SerializationExtension.get(testKit.system());
    Serializer serializer = serialization.findSerializerFor(answer);
    assertThat(serializer.getClass().getSimpleName()).isEqualTo("JacksonCborSerializer");
    byte[] bytes = serializer.toBinary(answer);
    Object back = serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer,
        answer)).get();
    assertThat(back).isEqualTo(answer);
  }

  @Test
  void thePoolsAnswerWithTheWattBudgetsStateSurvivesTheConfiguredSerializer() {
    var pools = new ClusterManager.Pools(List.of("SS"), java.util.Map.of(),
        new io.dynamollm.decision.cluster.ClusterStep.PowerStatus(9000, 11_000, 3, 1));
    Serialization serialization = SerializationExtension.get(testKit.system());
    Serializer serializer = serialization.findSerializerFor(pools);
    byte[] bytes = serializer.toBinary(pools);
    assertThat(serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, pools))
        .get()).isEqualTo(pools);
  }
}
