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
 * bundled profile became a file (issue 15) and held equal across that change; they were written once more when the
 * H100's KV-read bandwidth took the H200's measured efficiency (the same optimum for every type at every load).
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

  @Test
  void compareShowsBothOptimaPerTypeAsTextJsonAndSvg(@TempDir Path dir) throws IOException {
    Path svg = dir.resolve("cmp.svg");
    CliTest.Result text = CliTest.run("profile", "compare", Profiles.H100, Profiles.H200, "--svg", svg.toString());
    assertThat(text.code()).as(text.err()).isZero();
    assertThat(text.out()).contains("A: Llama2-70B on DGX H100").contains("B: Llama2-70B on DGX H200")
        .contains("B / A energy");
    assertThat(Files.readString(svg)).startsWith("<svg").contains("<title>LL B: TP");
    CliTest.Result json = CliTest.run("profile", "compare", Profiles.H100, Profiles.H200, "--json", "--load", "high");
    var root = CliTest.JSON.readTree(json.out());
    assertThat(root.get("types").size()).isEqualTo(9);
    for (var type : root.get("types")) {
      assertThat(type.get("a").get("energy_wh").asDouble()).isPositive();
      assertThat(type.get("b").get("energy_wh").asDouble()).isPositive();
      assertThat(type.get("energy_ratio_b_over_a").asDouble())
          .isCloseTo(type.get("b").get("energy_wh").asDouble() / type.get("a").get("energy_wh").asDouble(),
              org.assertj.core.api.Assertions.within(1e-9));
    }
    // a profile compared with itself: the same optimum, ratio 1
    CliTest.Result self = CliTest.run("profile", "compare", Profiles.H200, Profiles.H200, "--json");
    for (var type : CliTest.JSON.readTree(self.out()).get("types")) {
      assertThat(type.get("energy_ratio_b_over_a").asDouble()).isEqualTo(1.0);
    }
    CliTest.Result missing = CliTest.run("profile", "compare", Profiles.H100, "nope.json");
    assertThat(missing.code()).isEqualTo(1);
    assertThat(missing.err()).contains("profile file nope.json does not exist");
  }

  private static String resource(String name) throws IOException {
    try (InputStream in = ProfileFileCliTest.class.getResourceAsStream(name)) {
      assertThat(in).as(name).isNotNull();
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
