package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.control.node.Node;
import io.dynamollm.sim.Replays;
import io.dynamollm.sim.Workload;
import io.dynamollm.sim.TraceRequest;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.locks.LockSupport;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The live control plane against the simulator at cluster level: a 3-node cluster (one control node, two simulated
 * 8-GPU hosts) serves 95 model minutes of a conversation-like workload whose load rises by 75 % after 45 minutes, 60
 * times faster than real time, from the moment the cluster's first instance serves. Budgets go to pools, instances start, change TP and clock, pools send
 * telemetry up — and the energy the hosts' 16 simulated GPUs measure agrees within 10 % with the simulator's
 * prediction for the same requests: the simulator's {@code dynamollm} policy drives the same cluster, pool and
 * instance steps with the same settings.
 */
class ClusterEnergyAgreementTest {
  private static final Profile PROFILE = MemoizedProfile.of(Profiles.h100());
  private static final double SPEEDUP = 60;
  private static final double DURATION_MS = 95 * 60_000;
  private ThreeNodeCluster cluster;

  @TempDir Path dir;

  @AfterEach
  void stop() {
    if (cluster != null) {
      cluster.close();
    }
  }

  /** Poisson arrivals at 2 req/s, 3.5 req/s from minute 45; conversation-like lengths. */
  static List<TraceRequest> workload() {
    SplittableRandom rnd = new SplittableRandom(23);
    List<TraceRequest> reqs = new ArrayList<>();
    double t = 0;
    long id = 0;
    while (true) {
      double rate = t < 45 * 60_000 ? 2.0 : 3.5;
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

  private long[] hosts() throws Exception {
    return cluster.hostTotals();
  }

  @Test
  void theClusterUsesTheEnergyTheSimulatorPredicts() throws Exception {
    List<TraceRequest> reqs = workload();
    cluster = new ThreeNodeCluster(dir, PROFILE, SPEEDUP);
    Node control = cluster.control;
    ModelClock clock = cluster.clock;
    LiveSettings live = cluster.live;
    cluster.awaitHosts(); // both hosts have joined and registered their GPUs

    // every decision of the run, from the decisions topic (the API keeps only the latest 500)
    List<io.dynamollm.protocol.Decision> all = new java.util.concurrent.CopyOnWriteArrayList<>();
    var topic = control.system().systemActorOf(org.apache.pekko.actor.typed.pubsub.Topic.create(
        io.dynamollm.protocol.Decision.class, DecisionLog.TOPIC), "test-decisions-topic",
        org.apache.pekko.actor.typed.Props.empty());
    topic.tell(org.apache.pekko.actor.typed.pubsub.Topic.subscribe(control.system().systemActorOf(
        org.apache.pekko.actor.typed.javadsl.Behaviors.receive(io.dynamollm.protocol.Decision.class)
            .onMessage(io.dynamollm.protocol.Decision.class, d -> {
              all.add(d);
              return org.apache.pekko.actor.typed.javadsl.Behaviors.same();
            }).build(), "test-decisions", org.apache.pekko.actor.typed.Props.empty())));
    LoadGenerator load = new LoadGenerator().start(control.system(), control.live().router().orElseThrow(),
        Workload.of("test", reqs, DURATION_MS), clock, 1_000_000, line -> {}, true);
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (Double.isNaN(load.startedAtMs()) && System.nanoTime() < deadline) {
      LockSupport.parkNanos(5_000_000);
    }
    assertThat(load.startedAtMs()).as("the cluster served within 30 s").isNotNaN();
    long e0 = hosts()[0];
    double origin = load.startedAtMs();
    // each model minute: the cluster's average power over that minute and the GPUs held
    List<double[]> perMinute = new ArrayList<>();
    long lastEnergy = e0;
    for (int minute = 1; minute <= DURATION_MS / 60_000; minute++) {
      while (clock.wallMsUntil(origin + minute * 60_000.0) > 0) {
        LockSupport.parkNanos(20_000_000);
      }
      long[] h = hosts();
      perMinute.add(new double[] {(h[0] - lastEnergy) / 1000.0 / 60, h[1], load.served(), load.met()});
      lastEnergy = h[0];
    }
    double liveKwh = (lastEnergy - e0) / 3.6e9;
    load.stop();

    // what the control plane did on the way
    boolean split = false;
    boolean clockChange = false;
    boolean started = false;
    boolean drained = false;
    Set<String> tps = new java.util.HashSet<>();
    StringBuilder log = new StringBuilder();
    for (io.dynamollm.protocol.Decision d : all) {
      String level = d.level();
      String action = d.action();
      if (!level.equals("instance")) {
        log.append(String.format(java.util.Locale.ROOT, "%7.2f min  %-7s %-8s %s | %s%n", (d.modelMillis() - origin) / 60_000,
            level, d.target(), action, d.reason()));
      }
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

    var sim = Replays.runLikeLive(PROFILE, live.decisions(), "dynamollm", 2, reqs, DURATION_MS,
        live.engineStartup().toMillis());
    System.out.printf(java.util.Locale.ROOT,
        "cluster energy over %.0f model minutes: live %.3f kWh (16 GPUs' counters), simulator %.3f kWh (%.3f kWh on the"
            + " GPUs it held); %d requests; attainment live %.2f %% of %d served, simulator %.2f %% of %d; TPs started live %s;"
            + " simulator: %d scale changes, %d re-shards, %d clock changes%n",
        DURATION_MS / 60_000, liveKwh, sim.allGpusEnergyKwh(), sim.energyKwh(), reqs.size(),
        100.0 * load.met() / Math.max(1, load.served()), load.served(), 100 * sim.attainment(), sim.served(), tps,
        sim.scaleChanges(), sim.reshards(), sim.frequencyChanges());

    StringBuilder series = new StringBuilder("minute  live_W  held_GPUs  sim_W  live_served  live_met\n");
    for (int m = 0; m < perMinute.size(); m++) {
      double[] row = perMinute.get(m);
      series.append(String.format(java.util.Locale.ROOT, "%6d %7.0f %10.0f %6.0f %12.0f %9.0f%n", m + 1, row[0], row[1],
          m < sim.powerPerMinuteW().length ? sim.powerPerMinuteW()[m] : Double.NaN, row[2], row[3]));
    }
    java.nio.file.Files.createDirectories(Path.of("target"));
    java.nio.file.Files.writeString(Path.of("target", "cluster-energy-series.txt"), series);
    java.nio.file.Files.writeString(Path.of("target", "cluster-energy-decisions.txt"), log);

    assertThat(split).as("the cluster manager split the bootstrap pool into pools per type").isTrue();
    assertThat(started && drained).as("instances started and drained (scale changes)").isTrue();
    assertThat(tps).as("instances of more than one TP were started (TP changes)").hasSizeGreaterThan(1);
    assertThat(clockChange).as("an instance changed its clock").isTrue();
    assertThat(pools.telemetry()).as("pool telemetry reached the cluster manager").isNotEmpty();
    assertThat(pools.telemetry().values()).anySatisfy(t -> assertThat(t.powerW()).isPositive());
    assertThat(load.served()).isGreaterThan(reqs.size() * 9 / 10);
    assertThat(liveKwh).isCloseTo(sim.allGpusEnergyKwh(), within(0.10 * sim.allGpusEnergyKwh()));
  }
}
