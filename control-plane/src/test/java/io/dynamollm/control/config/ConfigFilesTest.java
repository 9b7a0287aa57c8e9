package io.dynamollm.control.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigFilesTest {
  @TempDir Path dir;

  private Path file(String text) throws Exception {
    Path p = dir.resolve("user.conf");
    Files.writeString(p, text);
    return p;
  }

  @Test
  void aMisspelledKeyIsAnErrorNamingItWhereItWasSetAndWhatItMeant() throws Exception {
    Path f = file("dynamollm.node.admin.tokn = \"secret\"\n");
    assertThatThrownBy(() -> ConfigFiles.load(Optional.of(f)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("unknown configuration key dynamollm.node.admin.tokn")
        .hasMessageContaining("user.conf")
        .hasMessageContaining("did you mean dynamollm.node.admin.token?");
  }

  @Test
  void keysOfEveryModulesReferenceAreKnownAndSloOverridesAreTheUsersOwn() throws Exception {
    Path f = file("""
        dynamollm.decisions.governor.step-down-after = 2
        dynamollm.gpu.simulated-count = 4
        dynamollm.live.speedup = 10
        dynamollm.slo.overrides { SS { ttft-p99-ms = 120, tbt-p99-ms = 60 } }
        """);
    var c = ConfigFiles.load(Optional.of(f));
    assertThat(c.getInt("dynamollm.decisions.governor.step-down-after")).isEqualTo(2);
    assertThat(c.getDouble("dynamollm.slo.overrides.SS.ttft-p99-ms")).isEqualTo(120);
  }

  @Test
  void aKeyThatMovedSaysWhereItIsNow() throws Exception {
    Path f = file("dynamollm.live.pool-epoch = 2m\n");
    assertThatThrownBy(() -> ConfigFiles.load(Optional.of(f)))
        .hasMessageContaining("unknown configuration key dynamollm.live.pool-epoch")
        .hasMessageContaining("dynamollm.decisions.pool-epoch");
  }
}
