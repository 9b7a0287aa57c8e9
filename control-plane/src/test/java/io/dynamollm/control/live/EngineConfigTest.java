package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

/** An engine command's {profile} is the node's own profile, so engine-sim runs what the planners plan on. */
class EngineConfigTest {
  static final String PROCESS = "dynamollm.engine { kind = process, command = [\"./dynamollm\", \"engine-sim\","
      + " \"--port\", \"{port}\", \"--profile\", \"{profile}\"] }\n";

  private static Config config(String extra) {
    return ConfigFactory.parseString(PROCESS + extra).withFallback(ConfigFactory.defaultReference()).resolve();
  }

  @Test
  void theProfilePlaceholderIsTheNodesProfileFileOrName() {
    assertThat(EngineConfig.fromConfig(config("")).command())
        .containsExactly("./dynamollm", "engine-sim", "--port", "{port}", "--profile", "llama2-70b-dgx-h100");
    assertThat(EngineConfig.fromConfig(config("dynamollm.profile.name = llama2-70b-dgx-h200")).command())
        .endsWith("llama2-70b-dgx-h200");
    assertThat(EngineConfig.fromConfig(config("dynamollm.profile.file = \"/etc/dynamollm/my-gpu.json\"")).command())
        .endsWith("--profile", "/etc/dynamollm/my-gpu.json");
  }
}
