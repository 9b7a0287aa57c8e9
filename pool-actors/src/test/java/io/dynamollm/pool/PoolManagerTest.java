package io.dynamollm.pool;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.decision.instance.InstanceStep;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.PoolReconciler;
import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.protocol.PoolRoutes;
import java.util.List;
import org.apache.pekko.actor.typed.pubsub.Topic;
import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.instance.engine.SimulatedEngine;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** A pool manager with real instance managers, simulated engines and GPUs on one host, in one actor system. */
class PoolManagerTest {
  private static final ActorTestKit KIT = ActorTestKit.create();
  private static final Profile P = MemoizedProfile.of(Profiles.h100());

  @AfterAll
  static void shutdown() {
    KIT.shutdownTestKit();
  }

  private final ModelClock clock = new ModelClock(50);
  private final ActorRef<HostAgent.Command> agent =
      KIT.spawn(HostAgent.create(SimulatedGpuDevice.host("h", 8, P, clock::nanoTime)));
  private final Map<String, ActorRef<InstanceManager.Command>> spawned = new ConcurrentHashMap<>();
  private final AtomicInteger seq = new AtomicInteger();
  private final TestProbe<PoolRoutes> routes = KIT.createTestProbe();
  private static final DecisionSettings D = DecisionSettings.defaults();
  private static final InstanceManager.Settings INSTANCE = new InstanceManager.Settings(Duration.ofSeconds(5),
      Duration.ofSeconds(1), Duration.ofSeconds(60));
  private static final InstanceManager.StepFactory STEPS = (id, s, clocks, now) -> new InstanceStep(P,
      new FrequencyGovernor(P, D.governor()), new InstanceStep.Instance(id, s.nativeType(), s.tp(), clocks), s.bounds(),
      s.mix(), D.instanceEpochMs(), INSTANCE.poolSilence().toMillis(), now);
  private final TestProbe<Decision> decisions = KIT.createTestProbe();
  private final TestProbe<io.dynamollm.protocol.PoolTelemetry> telemetry = KIT.createTestProbe();

  /** Places every instance on the one host, spawning its manager here. */
  private ActorRef<PoolManager.Place> placement() {
    return placement(P);
  }

  /** The same, its engines running {@code engineProfile} (the planners and governors still plan on {@code P}). */
  private ActorRef<PoolManager.Place> placement(Profile engineProfile) {
    return KIT.spawn(Behaviors.receive(PoolManager.Place.class).onMessage(PoolManager.Place.class, p -> {
      String id = "h~" + p.pool() + "-" + seq.incrementAndGet();
      InstanceManager.EngineFactory engines = (tp, devices) -> new SimulatedEngine(engineProfile, tp, devices,
          () -> ((SimulatedGpuDevice) devices.get(0).underlying()).appliedClockMhz(), clock, 10_000);
      spawned.put(id, KIT.spawn(InstanceManager.create(id, agent, engines, STEPS, clock, INSTANCE)));
      p.replyTo().tell(new PoolManager.Placement(Optional.of(id), "on h"));
      return Behaviors.same();
    }).build());
  }

  /** A pool manager wired as the live node wires it: restart re-shards, routes on a topic the probe hears. */
  private ActorRef<PoolManager.Command> poolManager(String pool, ActorRef<PoolManager.Place> placement,
      PoolManager.Instances instances) {
    var topic = KIT.spawn(Topic.create(PoolRoutes.class, "routes-" + pool + "-" + seq.incrementAndGet()));
    topic.tell(Topic.subscribe(routes.getRef()));
    ReshardCost restart = ReshardCost.restart(10_000);
    var planner = new PoolPlanner(P, D.planner(), new PoolPlanner.Transitions(restart, 10_000, 230));
    return KIT.spawn(PoolManager.create(pool, new PoolManager.Wiring(planner, D,
        PoolReconciler.Reshards.byRestart(restart), instances, placement, topic, decisions.getRef(),
        telemetry.getRef(), clock)));
  }

  @Test
  void aRestartedPoolManagerAdoptsTheInstancesItsHostsStillRun() {
    // this host is registered with the receptionist, so other tests' pool managers would see it: its pool is "MM"
    KIT.system().receptionist().tell(org.apache.pekko.actor.typed.receptionist.Receptionist.register(
        HostAgent.KEY, agent));
    var placement = placement();
    PoolManager.Instances gateway = (id, cmd) -> spawned.get(id).tell(cmd);
    var pm = poolManager("MM", placement, gateway);
    pm.tell(new PoolManager.Assign(budget("MM", 8, 8.0)));
    List<String> before = ready(routes.fishForMessage(Duration.ofSeconds(15), x -> !x.ready().isEmpty()
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0));
    int started = spawned.size();

    KIT.stop(pm); // the pool manager crashes (its node went away); its instances keep running
    var again = poolManager("MM", placement, gateway);
    again.tell(new PoolManager.Assign(budget("MM", 8, 8.0)));
    decisions.fishForMessage(Duration.ofSeconds(10), d -> d.action().startsWith("adopt " + before.get(0))
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());
    PoolRoutes after = routes.fishForMessage(Duration.ofSeconds(15), x -> ready(x).containsAll(before)
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(ready(after)).containsAll(before);
    assertThat(spawned.size()).as("no instance was started twice").isEqualTo(started);
    again.tell(new PoolManager.Assign(budget("MM", 0, 0)));
  }

  private static List<String> ready(PoolRoutes r) {
    return r.ready().stream().map(PoolRoutes.Ready::instanceId).toList();
  }

  private static PoolBudget budget(int gpus, double rps) {
    return new PoolBudget("MS", 1, gpus, RequestType.MS, Set.of(RequestType.MS, RequestType.SS),
        Map.of(RequestType.MS, rps), rps,
        Map.of(RequestType.MS, P.defaultSlos(5).of(RequestType.MS), RequestType.SS, P.defaultSlos(5).of(RequestType.SS)),
        Map.of(RequestType.MS, P.shape(RequestType.MS), RequestType.SS, P.shape(RequestType.SS)),
        FrequencyBounds.H100_DEFAULT);
  }

  private static PoolBudget budget(String pool, int gpus, double rps) {
    RequestType t = RequestType.valueOf(pool);
    return new PoolBudget(pool, 1, gpus, t, Set.of(t), Map.of(t, rps), rps, Map.of(t, P.defaultSlos(5).of(t)),
        Map.of(t, P.shape(t)), FrequencyBounds.H100_DEFAULT);
  }

  @Test
  void plansStartsInstancesPublishesRoutesAndDrainsWhenTheBudgetGoes() {
    var pm = poolManager("MS", placement(), (id, cmd) -> spawned.get(id).tell(cmd));
    pm.tell(new PoolManager.Assign(budget(8, 8.0)));

    // the budget and the plan are logged as decisions
    decisions.fishForMessage(Duration.ofSeconds(10), d -> d.action().startsWith("budget 8 GPUs")
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());
    // the planned instances start and serve: the routers hear of them
    PoolRoutes r = routes.fishForMessage(Duration.ofSeconds(15), x -> !x.ready().isEmpty()
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(r.types()).containsExactlyInAnyOrder(RequestType.MS, RequestType.SS);
    assertThat(r.nativeType()).isEqualTo(RequestType.MS);

    TestProbe<PoolManager.PoolView> view = KIT.createTestProbe();
    pm.tell(new PoolManager.GetView(view.getRef()));
    PoolManager.PoolView v = view.receiveMessage();
    assertThat(v.budgetGpus()).isEqualTo(8);
    assertThat(v.instances()).isNotEmpty();
    assertThat(v.instances().stream().mapToInt(PoolManager.InstanceView::tp).sum()).isLessThanOrEqualTo(8);

    // the pool loses its budget: every instance drains and stops, the routes empty
    pm.tell(new PoolManager.Assign(budget(0, 0)));
    routes.fishForMessage(Duration.ofSeconds(15), x -> x.ready().isEmpty()
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    do {
      pm.tell(new PoolManager.GetView(view.getRef()));
      v = view.receiveMessage();
    } while (!v.instances().isEmpty() && System.nanoTime() < deadline);
    assertThat(v.instances()).isEmpty();
  }

  @Test
  void missedSlosRaiseTheCapacityCorrectionWhichTheTelemetryCarriesUpward() {
    var pm = poolManager("LS", placement(), (id, cmd) -> spawned.get(id).tell(cmd));
    pm.tell(new PoolManager.Assign(budget("LS", 8, 1.0)));
    var first = telemetry.fishForMessage(Duration.ofSeconds(10), t -> t.pool().equals("LS")
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(first.capacityCorrection()).isEqualTo(1.0);

    // two routers report: 10 of 200 requests missed (5 %): the next pool epoch plans for 1 + 10 x 5 % = 1.5 times the load
    pm.tell(new PoolManager.Outcomes(120, 6, Map.of(RequestType.LS, 130)));
    pm.tell(new PoolManager.Outcomes(80, 4, Map.of(RequestType.LS, 85)));
    // learnt at the next pool epoch (5 model minutes: 6 s at 50x)
    Decision d = decisions.fishForMessage(Duration.ofSeconds(15), x -> x.action().startsWith("capacity correction")
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(d.action()).isEqualTo("capacity correction x1.00 -> x1.50");
    assertThat(d.reason()).contains("10 of 200 requests");
    var after = telemetry.fishForMessage(Duration.ofSeconds(10), t -> t.capacityCorrection() > 1
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(after.capacityCorrection()).isEqualTo(1.5);
    TestProbe<PoolManager.PoolView> view = KIT.createTestProbe();
    pm.tell(new PoolManager.GetView(view.getRef()));
    assertThat(view.receiveMessage().capacityCorrection()).isEqualTo(1.5);
    pm.tell(new PoolManager.Assign(budget("LS", 0, 0)));
  }

  @Test
  void anEngineSlowerThanItsProfileIsSeenAndThePoolReplansOnWhatItShowed() {
    // every engine's decode step is 15 % slower than the profile the pool and its instances plan on
    Profile slower = io.dynamollm.protocol.profile.CorrectedProfile.of(P,
        io.dynamollm.protocol.profile.ProfileFactors.uniform(P, 1.15, 1.0));
    var pm = poolManager("ML", placement(slower), (id, cmd) -> spawned.get(id).tell(cmd));
    pm.tell(new PoolManager.Assign(budget("ML", 8, 2.0)));
    PoolRoutes r = routes.fishForMessage(Duration.ofSeconds(15), x -> x.pool().equals("ML") && !x.ready().isEmpty()
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    var instance = spawned.get(r.ready().get(0).instanceId());
    // waves of the pool's own requests (ML's mean lengths): between prefills the batch only decodes
    TestProbe<InstanceManager.Served> served = KIT.createTestProbe();
    var shape = P.shape(RequestType.ML);
    long id = 0;
    for (int wave = 0; wave < 40; wave++) {
      for (int k = 0; k < 8; k++) {
        instance.tell(new InstanceManager.Submit(new io.dynamollm.instance.engine.Engine.EngineRequest(++id,
            shape.meanInputTokens(), shape.meanOutputTokens()), RequestType.ML, P.defaultSlos(5).of(RequestType.ML),
            served.getRef()));
      }
      for (int k = 0; k < 8; k++) {
        served.receiveMessage(Duration.ofSeconds(10)); // served, or rejected by the ladder past its TTFT deadline
      }
    }
    // the instance decides on the corrected profile at once; the next pool epoch plans on what the engines showed
    List<Decision> seen = new java.util.ArrayList<>();
    decisions.fishForMessage(Duration.ofSeconds(20), x -> {
      if (x.action().startsWith("profile correct")) {
        seen.add(x);
      }
      return seen.stream().anyMatch(y -> y.action().startsWith("profile correction"))
          && seen.stream().anyMatch(y -> y.action().startsWith("profile corrected"))
          ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore();
    });
    Decision d = seen.stream().filter(y -> y.action().startsWith("profile correction")).findFirst().orElseThrow();
    assertThat(d.action()).startsWith("profile correction none -> TP");
    TestProbe<PoolManager.PoolView> view = KIT.createTestProbe();
    pm.tell(new PoolManager.GetView(view.getRef()));
    PoolManager.PoolView v = view.receiveMessage();
    assertThat(v.profileFactors()).isNotEmpty();
    assertThat(v.profileFactors()).allSatisfy(f -> assertThat(f.decodeTime()).isBetween(1.10, 1.20));
    pm.tell(new PoolManager.Assign(budget("ML", 0, 0)));
  }
}
