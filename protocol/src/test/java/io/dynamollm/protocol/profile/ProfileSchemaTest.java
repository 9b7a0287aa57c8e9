package io.dynamollm.protocol.profile;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** docs/profile.schema.json describes the files this build reads and writes. */
class ProfileSchemaTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final Path SCHEMA = Path.of("..", "docs", "profile.schema.json");

  @Test
  void everyBundledProfileIsValidUnderTheSchema() throws Exception {
    Schema schema = schema();
    for (String name : Profiles.names()) {
      List<Error> errors = schema.validate(JSON.readTree(Profiles.bundledText(name)));
      assertThat(errors).as(name).isEmpty();
    }
  }

  @Test
  void aBuiltProfileIsValidUnderTheSchema() throws Exception {
    ProfileDocument built = ProfileBuild.apply(Profiles.h200().document(), "tp8.csv",
        ProfileBuildTest.measured(8, false), new ProfileBuild.Options("", "a test run"));
    assertThat(schema().validate(JSON.readTree(ProfileJson.write(built)))).isEmpty();
  }

  @Test
  void theSchemaRefusesWhatTheReaderRefuses() throws Exception {
    Schema schema = schema();
    ObjectNode missing = bundled();
    missing.remove("hardware");
    ObjectNode unknown = bundled();
    unknown.put("idle_pwr_w", 78);
    ObjectNode wrongType = bundled();
    wrongType.put("idle_power_w", "78");
    for (ObjectNode broken : List.of(missing, unknown, wrongType)) {
      assertThat(schema.validate(broken)).isNotEmpty();
    }
  }

  @Test
  void theSchemaAsksForTheProvenanceTheReaderAsksFor() throws Exception {
    JsonNode required = JSON.readTree(Files.readString(SCHEMA)).at("/properties/provenance/required");
    List<String> keys = new ArrayList<>();
    required.forEach(k -> keys.add(k.asText()));
    assertThat(keys).isEqualTo(ProfileDocument.PROVENANCE_KEYS);
  }

  private static Schema schema() throws Exception {
    return SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12)
        .getSchema(JSON.readTree(Files.readString(SCHEMA)));
  }

  private static ObjectNode bundled() throws Exception {
    return (ObjectNode) JSON.readTree(Profiles.bundledText(Profiles.H100));
  }
}
