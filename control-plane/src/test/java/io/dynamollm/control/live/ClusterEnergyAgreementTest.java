package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.dynamollm.control.config.ConfigFiles;
import io.dynamollm.control.node.Node;
import io.dynamollm.control.node.NodeSettings;
import io.dynamollm.control.sim.SimTestSupport;
import io.dynamollm.control.sim.TraceRequest;
import io.dynamollm.control.sim.Workload;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.profile.Llama2H100Profile;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.locks.LockSupport;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The live control plane against the simulator at cluster level: a 3-node cluster (one control node, two simulated
 * 8-GPU hosts) serves 75 model minutes of a conversation-like workload whose load triples after 35 minutes and falls
 * back after 60, 60 times faster than real time. Budgets go to pools, instances start, change TP and clock, pools send
 * telemetry up — and the energy the hosts' 16 simulated GPUs measure agrees within 10 % with the simulator's
 * prediction for the same requests under the same policy ({@code dynamollm-live}: DynamoLLM as the live cluster
 * manager runs it, from a cold start).
 */
class ClusterEnergyAgreementTest {
  private static final Profile PROFILE = MemoizedProfile.of(new Llama2H100Profile());
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final double SPEEDUP = 60;
  private static final double DURATION_MS = 75 * 60_000;
  private final HttpClient http = HttpClient.newHttpClient();
  private final List<Node> nodes = new ArrayList<>();

  @TempDir Path dir;

  @AfterEach
  void stop() {
    for (int k = nodes.size() - 1; k >= 0; k--) {
      nodes.get(k).stop(Duration.ofSeconds(20));
    }
  }

  /** Poisson arrivals at 2 req/s, 6 req/s from minute 35, 2.5 req/s from minute 60; conversation-like lengths. */
  static List<TraceRequest> workload() {
    SplittableRandom rnd = new SplittableRandom(23);
    List<TraceRequest> reqs = new ArrayList<>();
    double t = 0;
    long id = 0;
    while (true) {
      double rate = t < 35 * 60_000 ? 2.0 : t < 60 * 60_000 ? 6.0 : 2.5;
      t += -Math.log(1 - rnd.nextDouble()) / rate * 1000;
      if (t >= DURATION_MS) {
        return reqs;
      }
      int prompt = (int) Math.max(8, Math.min(7000, Math.exp(Math.log(1020) + 1.0 * gaussian(rnd))));
      int output = (int) Math.max(4, Math.min(8000 - prompt, Math.exp(Math.log(129) + 0.9 * gaussian(rnd))));
      reqs.add(new TraceRequest(id++, t, prompt, output));
    }
  }

  private static double gaussian(SplittableRandom rnd) {
    return Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())) * Math.cos(2 * Math.PI * rnd.nextDouble());
  }

  private JsonNode get(Node n, String path) throws Exception {
    var a = n.adminAddress().orElseThrow();
    var r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.getPort() + path)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    return JSON.readTree(r.body());
  }

  private long hostsEnergyMj() throws Exception {
    long sum = 0;
    for (Node n : nodes) {
      if (n.hostAgent().isPresent()) {
        HostAgent.Inventory inv = AskPattern.<HostAgent.Command, HostAgent.Inventory>ask(n.hostAgent().get(),
            HostAgent.GetInventory::new, Duration.ofSeconds(5), n.system().scheduler()).toCompletableFuture().get();
        sum += inv.totalEnergyMj();
      }
    }
    return sum;
  }

  @Test
  void theClusterUsesTheEnergyTheSimulatorPredicts() throws Exception {
    List<TraceRequest> reqs = workload();
    Config root = ConfigFactory.parseString("""
        pekko.loglevel = WARNING
        pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
        dynamollm.gpu.backend = simulated
        dynamollm.live.speedup = %s
        """.formatted(SPEEDUP)).withFallback(ConfigFiles.load(Optional.empty()));
    LiveSettings live = LiveSettings.fromConfig(root);
    ModelClock clock = new ModelClock(live.speedup());
    NodeSettings base = NodeSettings.fromConfig(root, Map.of()).withPort(0).withAdminPort(0).withAdminToken("t");
    Node control = Node.start(base.withRoles(Set.of("control")).withDataDir(dir.resolve("c")), root, PROFILE,
        PROFILE.defaultSlos(5), live, clock);
    nodes.add(control);
    String seed = "127.0.0.1:" + control.system().address().getPort().get();
    for (int k = 1; k <= 2; k++) {
      nodes.add(Node.start(base.withRoles(Set.of("gpu-host")).withSeeds(List.of(seed)).withDataDir(dir.resolve("h" + k)),
          root, PROFILE, PROFILE.defaultSlos(5), live, clock));
    }
    // both hosts have joined and registered their GPUs
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (get(control, "/api/v1/cluster").get("hosts").size() < 2 && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertThat(get(control, "/api/v1/cluster").get("hosts").size()).isEqualTo(2);

    long e0 = hostsEnergyMj();
    double origin = clock.nowMs();
    LoadGenerator load = new LoadGenerator().start(control.system(), control.live().router().orElseThrow(),
        fixed(reqs), clock, 1_000_000, line -> {});
    while (clock.wallMsUntil(origin + DURATION_MS) > 0) {
      LockSupport.parkNanos(50_000_000);
    }
    double liveKwh = (hostsEnergyMj() - e0) / 3.6e9;
    load.stop();

    // what the control plane did on the way
    JsonNode decisions = get(control, "/api/v1/decisions?limit=500");
    boolean split = false;
    boolean clockChange = false;
    boolean started = false;
    boolean drained = false;
    Set<String> tps = new java.util.HashSet<>();
    for (JsonNode d : decisions) {
      String level = d.get("level").asText();
      String action = d.get("action").asText();
      split |= level.equals("cluster") && action.startsWith("epoch") && action.contains(",");
      clockChange |= level.equals("instance") && action.contains("->");
      if (level.equals("pool") && action.startsWith("start ")) {
        started = true;
        tps.add(action.substring(action.lastIndexOf('(') + 1, action.lastIndexOf(')')));
      }
      drained |= level.equals("pool") && action.startsWith("drain ");
    }
    var pools = AskPattern.<ClusterManager.Command, ClusterManager.Pools>ask(control.live().clusterManager().orElseThrow(),
        ClusterManager.GetPools::new, Duration.ofSeconds(5), control.system().scheduler()).toCompletableFuture().get();

    var sim = SimTestSupport.runLikeLive(PROFILE, "dynamollm-live", 2, reqs, DURATION_MS,
        live.engineStartup().toMillis());
    System.out.printf(java.util.Locale.ROOT,
        "cluster energy over %.0f model minutes: live %.3f kWh (16 GPUs' counters), simulator %.3f kWh (%.3f kWh on the"
            + " GPUs it held); %d requests; attainment live %.2f %% of %d served, simulator %.2f %% of %d; TPs started live %s;"
            + " simulator: %d scale changes, %d re-shards, %d clock changes%n",
        DURATION_MS / 60_000, liveKwh, sim.allGpusEnergyKwh(), sim.energyKwh(), reqs.size(),
        100.0 * load.met() / Math.max(1, load.served()), load.served(), 100 * sim.attainment(), sim.served(), tps,
        sim.scaleChanges(), sim.reshards(), sim.frequencyChanges());

    assertThat(split).as("the cluster manager split the bootstrap pool into pools per type").isTrue();
    assertThat(started && drained).as("instances started and drained (scale changes)").isTrue();
    assertThat(tps).as("instances of more than one TP were started (TP changes)").hasSizeGreaterThan(1);
    assertThat(clockChange).as("an instance changed its clock").isTrue();
    assertThat(pools.telemetry()).as("pool telemetry reached the cluster manager").isNotEmpty();
    assertThat(pools.telemetry().values()).anySatisfy(t -> assertThat(t.powerW()).isPositive());
    assertThat(load.served()).isGreaterThan(reqs.size() * 9 / 10);
    assertThat(liveKwh).isCloseTo(sim.allGpusEnergyKwh(), within(0.10 * sim.allGpusEnergyKwh()));
  }

  private static Workload fixed(List<TraceRequest> reqs) {
    return new Workload() {
      public String name() {
        return "load steps";
      }

      public boolean synthetic() {
        return true;
      }

      public double durationMs() {
        return DURATION_MS;
      }

      public Iterator<TraceRequest> iterator() {
        return reqs.iterator();
      }
    };
  }
}
