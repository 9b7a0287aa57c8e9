package io.dynamollm.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.protocol.profile.Profiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Profiles as files on the command line. The golden outputs were written by {@code profile show --json} before the
 * bundled profile became a file (issue 15): the planner's view of the bundled profile is unchanged.
 */
class ProfileFileCliTest {

  @Test
  void profileShowIsUnchangedByTheBundledProfileBecomingAFile(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("h100.json");
    Files.writeString(file, Profiles.bundledText(Profiles.H100));
    for (String load : new String[] {"low", "medium", "high"}) {
      String golden = resource("/profiles/llama2-70b-dgx-h100-show-" + load + ".json");
      CliTest.Result bundled = CliTest.run("profile", "show", "--json", "--load", load);
      assertThat(bundled.code()).isZero();
      assertThat(bundled.out()).as(load).isEqualTo(golden);
      CliTest.Result fromFile = CliTest.run("profile", "show", "--json", "--load", load, "--profile", file.toString());
      assertThat(fromFile.out()).as(load + " from a file").isEqualTo(golden);
    }
  }

  @Test
  void aMalformedProfileFileIsRefusedNamingTheField(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("bad.json");
    Files.writeString(file, Profiles.bundledText(Profiles.H100).replace("\"max_batch\" : 256", "\"max_batch\" : \"x\""));
    for (String[] args : new String[][] {
        {"profile", "show", "--profile", file.toString()},
        {"simulate", "--profile", file.toString(), "--workload", "conversation", "--days", "0.01"}}) {
      CliTest.Result r = CliTest.run(args);
      assertThat(r.code()).as(String.join(" ", args)).isEqualTo(1);
      assertThat(r.err()).contains("dynamollm.profile.file: profile file " + file
          + ": tensor_parallel[0].max_batch: expected a number").doesNotContain("Exception");
    }
  }

  @Test
  void aBundledNameWorksInPlaceOfAFile() {
    CliTest.Result r = CliTest.run("profile", "show", "--profile", Profiles.H100);
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("Llama2-70B");
    CliTest.Result unknown = CliTest.run("profile", "show", "--profile", "llama9");
    assertThat(unknown.code()).isEqualTo(1);
    assertThat(unknown.err()).contains("profile file llama9 does not exist");
  }

  private static String resource(String name) throws IOException {
    try (InputStream in = ProfileFileCliTest.class.getResourceAsStream(name)) {
      assertThat(in).as(name).isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
