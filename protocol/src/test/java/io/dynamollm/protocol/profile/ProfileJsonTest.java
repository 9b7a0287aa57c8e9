package io.dynamollm.protocol.profile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dynamollm.protocol.profile.ProfileJson.ProfileFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A profile file that is malformed or incomplete is refused with a message naming the field. */
class ProfileJsonTest {
  static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void everyProblemNamesItsField() {
    refused(r -> r.remove("hardware"), "hardware: missing");
    refused(r -> r.put("format", "dynamollm-profile/9"), "format: this build reads 'dynamollm-profile/1'");
    refused(r -> r.put("idle_power_w", "78"), "idle_power_w: expected a number");
    refused(r -> r.put("idle_pwr_w", 78), "idle_pwr_w: not a field of the profile format here");
    refused(r -> tp(r, 1).with("prefill").withArray("ms").remove(0),
        "tensor_parallel[1].prefill.ms: expected 6 numbers (one per prefill.tokens), got 5");
    refused(r -> tp(r, 0).with("decode").withArray("batch").set(2, 4),
        "tensor_parallel[0].decode.batch: must increase strictly; entry 2 (4) follows 8");
    refused(r -> tp(r, 2).with("decode").withArray("power_w").set(0, -1),
        "tensor_parallel[2].decode.power_w: entry 0 must be a positive number, got -1");
    refused(r -> tp(r, 2).put("tp", 6), "tensor_parallel[2].tp: a tensor-parallel degree is a power of two");
    refused(r -> r.withArray("tensor_parallel").remove(2), "tensor_parallel: TP8 is needed");
    refused(r -> r.with("clocks").withArray("levels_mhz").add(2100),
        "clocks.levels_mhz: entry 7 must be from 800 to 1980, got 2100");
    refused(r -> r.with("request_shapes").remove("LM"), "request_shapes.LM: missing");
    refused(r -> r.with("request_shapes").with("SS").put("p99_input_tokens", 10),
        "request_shapes.SS.p99_input_tokens: must be from 181 to");
    refused(r -> r.with("provenance").put("decode", " "), "provenance.decode: say where the series comes from");
    refused(r -> tp(r, 0).withArray("decode_context").addObject().put("batch", 32).put("context_tokens", 4096)
        .put("ms", 1.0), "tensor_parallel[0].decode_context: the points must show the decode step growing");
  }

  @Test
  void notJsonAndEmptyFilesSaySo(@TempDir Path dir) throws Exception {
    Path bad = dir.resolve("bad.json");
    Files.writeString(bad, "{\"format\": ");
    assertThatThrownBy(() -> Profiles.load(bad)).isInstanceOf(ProfileFormatException.class)
        .hasMessageContaining("profile file " + bad + ": not JSON");
    Files.writeString(bad, "");
    assertThatThrownBy(() -> Profiles.load(bad)).hasMessageContaining("empty file");
    assertThatThrownBy(() -> Profiles.load(dir.resolve("none.json"))).hasMessageContaining("does not exist");
  }

  @Test
  void aFileLoadsAsTheProfileItDescribes(@TempDir Path dir) throws Exception {
    ObjectNode root = bundled();
    root.put("model", "Llama2-70B (a copy)");
    Path file = dir.resolve("copy.json");
    Files.writeString(file, JSON.writeValueAsString(root));
    TableProfile copy = Profiles.load(file);
    assertThat(copy.model()).isEqualTo("Llama2-70B (a copy)");
    assertThat(BundledProfileTest.grid(copy)).isEqualTo(BundledProfileTest.grid(Profiles.h100()));
  }

  private static ObjectNode tp(ObjectNode root, int i) {
    return (ObjectNode) ((ArrayNode) root.get("tensor_parallel")).get(i);
  }

  private static ObjectNode bundled() {
    try {
      return (ObjectNode) JSON.readTree(Profiles.bundledText(Profiles.H100));
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  private static void refused(Consumer<ObjectNode> change, String message) {
    ObjectNode root = bundled();
    change.accept(root);
    assertThatThrownBy(() -> {
      ProfileDocument d = ProfileJson.read("test.json", JSON.writeValueAsString(root));
      new TableProfile(d);
    }).isInstanceOf(ProfileFormatException.class).hasMessageContaining(message);
  }
}
