package io.dynamollm.protocol;

import static org.assertj.core.api.Assertions.assertThat;

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
    InstanceConfiguration config = new InstanceConfiguration(
        TensorParallelism.TP4,
        List.of(GpuRef.of("host-a", 0), GpuRef.of("host-a", 1), new GpuRef("host-a", 2, "GPU-2"), GpuRef.of("host-a", 3)),
        GpuClock.mhz(1395));
    EnumMap<RequestType, Slo> slos = new EnumMap<>(RequestType.class);
    for (RequestType t : RequestType.values()) {
      slos.put(t, new Slo(100 + t.ordinal(), 50.5));
    }
    return Stream.of(
        new PoolBudget("SS", 7, 16, Set.of(RequestType.SS, RequestType.SM), Map.of(RequestType.SS, 3.5, RequestType.SM, 1.25),
            Map.of(RequestType.SS, new Slo(100, 50), RequestType.SM, new Slo(120, 55)), FrequencyBounds.H100_DEFAULT),
        new InstanceTarget("ss-1", "SS", 3, InstanceAction.START, config, new FrequencyBounds(800, 1980), 2.5),
        new InstanceTelemetry("ss-1", "SS", 1_700_000_000_000L, InstanceState.READY, 3, 17, 812.5, 88.1, 31.2, 1650.0, 1.5e6, 1395, List.of("GPU-a", "GPU-b")),
        new PoolTelemetry("SS", 1_700_000_000_000L, Map.of(RequestType.SS, 4.0), 0.995, 3300.0, 9.9e6, 2, 8, 4.8, 5.0, 1.2),
        config,
        new SloTable(slos),
        ClassThresholds.DEFAULT,
        TensorParallelism.TP8,
        GpuClock.mhz(1980),
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
