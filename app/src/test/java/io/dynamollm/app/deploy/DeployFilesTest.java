package io.dynamollm.app.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.dynamollm.app.cli.DynamoLlmCli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;
import picocli.CommandLine;

/**
 * The deployment files under deploy/ (docs/operations.md): the Kubernetes manifests parse and wire probes, ports,
 * seeds and the admin token as the node reads them; each systemd unit's command line is one the CLI accepts; the
 * container image's configuration (Jib, app/pom.xml profile "image") starts the same main class with the JVM flags
 * durable Distributed Data needs. (The Grafana dashboard's queries are checked against real scrapes in
 * FrontDoorClusterTest.)
 */
class DeployFilesTest {
  private static final Path DEPLOY = Path.of("..", "deploy");
  private static final List<String> OPENS = List.of("--add-opens", "java.base/java.nio=ALL-UNNAMED", "--add-opens",
      "java.base/sun.nio.ch=ALL-UNNAMED");

  private static List<JsonNode> manifests() throws Exception {
    ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
    List<JsonNode> docs = new ArrayList<>();
    try (var it = yaml.readerFor(JsonNode.class).readValues(DEPLOY.resolve("k8s/dynamollm.yaml").toFile())) {
      while (it.hasNext()) {
        docs.add((JsonNode) it.next());
      }
    }
    return docs;
  }

  @Test
  void theKubernetesManifestsRunAStatefulSetPerRoleProbedOnTheHealthEndpoints() throws Exception {
    List<JsonNode> docs = manifests();
    Map<String, JsonNode> sets = new HashMap<>();
    docs.stream().filter(d -> d.path("kind").asText().equals("StatefulSet"))
        .forEach(d -> sets.put(d.at("/metadata/name").asText(), d));
    assertThat(sets).containsOnlyKeys("dynamollm-control", "dynamollm-gpu-host");
    JsonNode secret = docs.stream().filter(d -> d.path("kind").asText().equals("Secret")).findFirst().orElseThrow();
    for (var e : sets.entrySet()) {
      JsonNode c = e.getValue().at("/spec/template/spec/containers/0");
      assertThat(c.at("/args/0").asText()).isEqualTo("node");
      assertThat(c.at("/readinessProbe/httpGet/path").asText()).isEqualTo("/ready");
      assertThat(c.at("/livenessProbe/httpGet/path").asText()).isEqualTo("/alive");
      Map<String, JsonNode> env = new HashMap<>();
      c.get("env").forEach(v -> env.put(v.get("name").asText(), v));
      Map<String, Integer> ports = new HashMap<>();
      c.get("ports").forEach(p -> ports.put(p.get("name").asText(), p.get("containerPort").asInt()));
      // the probes' port is the ops endpoint's default port (reference.conf), bound to every interface
      assertThat(ports).containsEntry("ops", 7626).containsEntry("cluster", 2551);
      assertThat(c.at("/readinessProbe/httpGet/port").asText()).isEqualTo("ops");
      assertThat(env.get("DYNAMOLLM_OPS_INTERFACE").get("value").asText()).isEqualTo("0.0.0.0");
      assertThat(env.get("DYNAMOLLM_ROLES").get("value").asText())
          .isEqualTo(e.getKey().equals("dynamollm-control") ? "control" : "gpu-host");
      // one seed list everywhere, the control pods', each a name the headless service gives
      String seeds = env.get("DYNAMOLLM_SEEDS").get("value").asText();
      assertThat(seeds.split(",")).hasSize(3).allSatisfy(s -> assertThat(s)
          .matches("dynamollm-control-[0-2]\\.dynamollm-control\\.dynamollm\\.svc\\.cluster\\.local:2551"));
      assertThat(e.getValue().at("/spec/serviceName").asText()).isEqualTo(e.getKey());
    }
    JsonNode control = sets.get("dynamollm-control").at("/spec/template/spec/containers/0");
    JsonNode token = null;
    for (JsonNode v : control.get("env")) {
      if (v.get("name").asText().equals("DYNAMOLLM_ADMIN_TOKEN")) {
        token = v;
      }
    }
    assertThat(token).isNotNull();
    assertThat(token.at("/valueFrom/secretKeyRef/name").asText()).isEqualTo(secret.at("/metadata/name").asText());
    assertThat(secret.at("/stringData").has(token.at("/valueFrom/secretKeyRef/key").asText())).isTrue();
    assertThat(sets.get("dynamollm-gpu-host").at("/spec/template/spec/containers/0/resources/limits")
        .has("nvidia.com/gpu")).isTrue();
  }

  @Test
  void eachSystemdUnitStartsTheNodeWithACommandLineTheCliAccepts() throws Exception {
    for (String unit : List.of("dynamollm-control.service", "dynamollm-gpu-host.service")) {
      String text = Files.readString(DEPLOY.resolve("systemd").resolve(unit));
      Matcher m = Pattern.compile("(?m)^ExecStart=(.+)$").matcher(text);
      assertThat(m.find()).as(unit + " has ExecStart").isTrue();
      List<String> argv = Arrays.asList(m.group(1).trim().split("\\s+"));
      assertThat(argv.get(0)).isEqualTo("/usr/bin/java");
      assertThat(String.join(" ", argv)).contains(String.join(" ", OPENS));
      int jar = argv.indexOf("-jar");
      assertThat(jar).isPositive();
      List<String> cli = argv.subList(jar + 2, argv.size());
      assertThat(cli.get(0)).isEqualTo("node");
      // picocli parses it exactly as the jar's main would (unknown or malformed options throw)
      new CommandLine(new DynamoLlmCli()).parseArgs(cli.toArray(new String[0]));
      assertThat(text).contains("Restart=on-failure").contains("KillSignal=SIGTERM")
          .contains("Environment=DYNAMOLLM_ROLES=" + (unit.contains("control") ? "control" : "gpu-host"));
    }
  }

  @Test
  void theContainerImageRunsTheCliWithTheJvmFlagsDurableDataNeeds() throws Exception {
    var doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(Path.of("pom.xml").toFile());
    NodeList plugins = doc.getElementsByTagName("plugin");
    Element jib = null;
    for (int k = 0; k < plugins.getLength(); k++) {
      Element p = (Element) plugins.item(k);
      if (p.getElementsByTagName("artifactId").item(0).getTextContent().equals("jib-maven-plugin")) {
        jib = p;
      }
    }
    assertThat(jib).as("the image profile configures Jib").isNotNull();
    String main = jib.getElementsByTagName("mainClass").item(0).getTextContent();
    assertThat(main).isEqualTo(DynamoLlmCli.class.getName());
    List<String> flags = new ArrayList<>();
    NodeList f = jib.getElementsByTagName("jvmFlag");
    for (int k = 0; k < f.getLength(); k++) {
      flags.add(f.item(k).getTextContent());
    }
    assertThat(String.join(" ", flags)).contains(String.join(" ", OPENS));
    List<String> ports = new ArrayList<>();
    NodeList p = jib.getElementsByTagName("port");
    for (int k = 0; k < p.getLength(); k++) {
      ports.add(p.item(k).getTextContent());
    }
    assertThat(ports).contains("2551", "7626", "8000", "8080");
    // the image's default command is the one the manifests pass
    assertThat(jib.getElementsByTagName("arg").item(0).getTextContent()).isEqualTo("node");
  }
}
