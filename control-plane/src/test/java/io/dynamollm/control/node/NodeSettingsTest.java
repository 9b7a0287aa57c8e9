package io.dynamollm.control.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.typesafe.config.ConfigFactory;
import io.dynamollm.control.config.ConfigFiles;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class NodeSettingsTest {
  private static final com.typesafe.config.Config ROOT = ConfigFiles.load(Optional.empty());

  @Test
  void defaultsAreOneNodeWithBothRoles() {
    NodeSettings s = NodeSettings.fromConfig(ROOT, Map.of());
    assertThat(s.roles()).containsExactlyInAnyOrder("control", "gpu-host");
    assertThat(s.seeds()).isEmpty();
    assertThat(s.port()).isEqualTo(2551);
    assertThat(s.adminPort()).isEqualTo(8080);
  }

  @Test
  void environmentOverridesSeedsAndRoles() {
    NodeSettings s = NodeSettings.fromConfig(ROOT,
        Map.of("DYNAMOLLM_SEEDS", "10.0.0.1:2551, 10.0.0.2:2552", "DYNAMOLLM_ROLES", "gpu-host"));
    assertThat(s.seeds()).containsExactly("10.0.0.1:2551", "10.0.0.2:2552");
    assertThat(s.roles()).containsExactly("gpu-host");
    assertThat(s.isControl()).isFalse();
  }

  @Test
  void pekkoConfigCarriesAddressRolesSeedsAndADurableFolderPerNode() {
    NodeSettings s = NodeSettings.fromConfig(ROOT, Map.of()).withHost("10.1.2.3").withPort(2600)
        .withSeeds(List.of("10.1.2.4:2551")).withRoles(Set.of("control"));
    var c = s.pekkoConfig(ROOT);
    assertThat(c.getString("pekko.actor.provider")).isEqualTo("cluster");
    assertThat(c.getString("pekko.remote.artery.canonical.hostname")).isEqualTo("10.1.2.3");
    assertThat(c.getInt("pekko.remote.artery.canonical.port")).isEqualTo(2600);
    assertThat(c.getStringList("pekko.cluster.seed-nodes")).containsExactly("pekko://dynamollm@10.1.2.4:2551");
    assertThat(c.getStringList("pekko.cluster.roles")).containsExactly("control");
    assertThat(c.getStringList("pekko.cluster.distributed-data.durable.keys")).contains("slos");
    assertThat(c.getString("pekko.cluster.distributed-data.durable.lmdb.dir")).endsWith("ddata-10.1.2.3-2600");
    assertThat(c.getString("pekko.cluster.split-brain-resolver.active-strategy")).isEqualTo("keep-majority");
  }

  @Test
  void mistakesNameTheKey() {
    NodeSettings s = NodeSettings.fromConfig(ROOT, Map.of());
    assertThatThrownBy(() -> s.withRoles(Set.of("gpu")))
        .hasMessageContaining("dynamollm.node.roles: unknown role 'gpu'");
    assertThatThrownBy(() -> s.withRoles(Set.of())).hasMessageContaining("at least one role");
    assertThatThrownBy(() -> s.withSeeds(List.of("10.0.0.1"))).hasMessageContaining("seed '10.0.0.1' must look like host:port");
    assertThatThrownBy(() -> s.withSeeds(List.of("h:99999"))).hasMessageContaining("port 1-65535");
    assertThatThrownBy(() -> s.withAdminPort(70000)).hasMessageContaining("dynamollm.node.admin.port");
    assertThatThrownBy(() -> NodeSettings.fromConfig(
        ConfigFactory.parseString("dynamollm.node.port = lots").withFallback(ROOT), Map.of()))
        .hasMessageContaining("port");
  }
}
