package io.dynamollm.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.protocol.profile.TypeShape;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every message that crosses nodes survives Pekko's configured serializer (jackson-cbor) unchanged. */
class MessageSerializationTest {
  static final ActorTestKit testKit = ActorTestKit.create();

  @AfterAll
  static void cleanup() {
    testKit.shutdownTestKit();
  }

  static Stream<CborSerializable> messages() {
    EnumMap<RequestType, Slo> slos = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      slos.put(t, new Slo(100 + t.ordinal(), 50.5));
    }
    return Stream.of(
        new PoolBudget("SM", 7, 16, RequestType.SM, Set.of(RequestType.SS, RequestType.SM),
            Map.of(RequestType.SS, 3.5, RequestType.SM, 1.25), 3.1,
            Map.of(RequestType.SS, new Slo(100, 50), RequestType.SM, new Slo(120, 55)),
            Map.of(RequestType.SS, new TypeShape(180, 250, 55, 98), RequestType.SM, new TypeShape(170, 240, 170, 270)),
            FrequencyBounds.H100_DEFAULT),
        new PoolLayout(7, List.of(PoolBudget.retire("LL", 7, FrequencyBounds.H100_DEFAULT))),
        new MixSpec(Map.of(RequestType.SS, 2.0), Map.of(RequestType.SS, new TypeShape(180, 250, 55, 98)),
            Map.of(RequestType.SS, new Slo(100, 50))),
        new PoolRoutes("SM", RequestType.SM, Set.of(RequestType.SS, RequestType.SM),
            List.of(new PoolRoutes.Ready("h~SM-1", 3.5, 2))),
        new InstanceTelemetry("ss-1", "SS", 1_700_000_000_000L, InstanceState.READY, 3, 17, 812.5, 88.1, 31.2, 1650.0,
            1.5e6, 1395, List.of("GPU-a", "GPU-b"), new InstanceTelemetry.Ladder(1, 2, 3, 4)),
        new Decision(1_700_000_000_000L, 61_000, Decision.POOL, "SM", "2×TP4@1605", "saves 300 W", 300.0),
        new PoolTelemetry("SS", 1_700_000_000_000L, Map.of(RequestType.SS, 4.0), 0.995, 3300.0, 9.9e6, 2, 8, 4.0, 4.8, 5.0,
            1.2),
        new SloTable(slos),
        ClassThresholds.DEFAULT,
        TensorParallelism.TP8,
        FrequencyBounds.H100_DEFAULT);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("messages")
  void roundTripsThroughTheConfiguredSerializer(CborSerializable message) {
    Serialization serialization = SerializationExtension.get(testKit.system());
    Serializer serializer = serialization.findSerializerFor(message);
    assertThat(serializer.getClass().getSimpleName()).isEqualTo("JacksonCborSerializer");
    byte[] bytes = serializer.toBinary(message);
    String manifest = Serializers.manifestFor(serializer, message);
    Object back = serialization.deserialize(bytes, serializer.identifier(), manifest).get();
    assertThat(back).isEqualTo(message);
  }
}
