package io.dynamollm.pool;

import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.decision.pool.ReshardCost;
import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.instance.engine.SimulatedEngine;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.profile.Llama2H100Profile;
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
  private static final Profile P = MemoizedProfile.of(new Llama2H100Profile());

  @AfterAll
  static void shutdown() {
    KIT.shutdownTestKit();
  }

  private final ModelClock clock = new ModelClock(50);
  private final ActorRef<HostAgent.Command> agent =
      KIT.spawn(HostAgent.create(SimulatedGpuDevice.host("h", 8, P, clock::nanoTime)));
  private final Map<String, ActorRef<InstanceManager.Command>> spawned = new ConcurrentHashMap<>();
  private final AtomicInteger seq = new AtomicInteger();
  private final TestProbe<PoolManager.Routes> routes = KIT.createTestProbe();
  private final TestProbe<Decision> decisions = KIT.createTestProbe();
  private final TestProbe<io.dynamollm.protocol.PoolTelemetry> telemetry = KIT.createTestProbe();

  /** Places every instance on the one host, spawning its manager here. */
  private ActorRef<PoolManager.Place> placement() {
    return KIT.spawn(Behaviors.receive(PoolManager.Place.class).onMessage(PoolManager.Place.class, p -> {
      String id = "h~" + p.pool() + "-" + seq.incrementAndGet();
      InstanceManager.EngineFactory engines = (tp, devices) -> new SimulatedEngine(P, tp, devices,
          () -> ((SimulatedGpuDevice) devices.get(0)).appliedClockMhz(), clock, 10_000);
      spawned.put(id, KIT.spawn(InstanceManager.create(id, agent, engines,
          new FrequencyGovernor(P, FrequencyGovernor.Settings.DEFAULT), clock, InstanceManager.Settings.DEFAULT)));
      p.replyTo().tell(new PoolManager.Placement(Optional.of(id), "on h"));
      return Behaviors.same();
    }).build());
  }

  @Test
  void aRestartedPoolManagerAdoptsTheInstancesItsHostsStillRun() {
    // this host is registered with the receptionist, so other tests' pool managers would see it: its pool is "MM"
    KIT.system().receptionist().tell(org.apache.pekko.actor.typed.receptionist.Receptionist.register(
        HostAgent.KEY, agent));
    var placement = placement();
    var settings = new PoolManager.Settings(Duration.ofMinutes(5), Duration.ofSeconds(10), 50);
    PoolManager.Instances gateway = (id, cmd) -> spawned.get(id).tell(cmd);
    var pm = KIT.spawn(PoolManager.create("MM", new PoolPlanner(P, PoolPlanner.Settings.DEFAULT), gateway, placement,
        routes.getRef(), decisions.getRef(), telemetry.getRef(), settings, clock::nowMs));
    pm.tell(new PoolManager.Assign(budget("MM", 8, 8.0), RequestType.MM, 8.0));
    PoolManager.Routes before = routes.fishForMessage(Duration.ofSeconds(15), x -> !x.readyInstances().isEmpty()
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    int started = spawned.size();

    KIT.stop(pm); // the pool manager crashes (its node went away); its instances keep running
    var again = KIT.spawn(PoolManager.create("MM", new PoolPlanner(P, PoolPlanner.Settings.DEFAULT), gateway,
        placement, routes.getRef(), decisions.getRef(), telemetry.getRef(), settings, clock::nowMs));
    again.tell(new PoolManager.Assign(budget("MM", 8, 8.0), RequestType.MM, 8.0));
    decisions.fishForMessage(Duration.ofSeconds(10), d -> d.action().startsWith("adopt " + before.readyInstances().get(0))
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());
    PoolManager.Routes after = routes.fishForMessage(Duration.ofSeconds(15),
        x -> x.readyInstances().containsAll(before.readyInstances())
            ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(after.readyInstances()).containsAll(before.readyInstances());
    assertThat(spawned.size()).as("no instance was started twice").isEqualTo(started);
    again.tell(new PoolManager.Assign(budget("MM", 0, 0), RequestType.MM, 0));
  }

  private static PoolBudget budget(int gpus, double rps) {
    return new PoolBudget("MS", 1, gpus, Set.of(RequestType.MS, RequestType.SS), Map.of(RequestType.MS, rps),
        Map.of(RequestType.MS, P.defaultSlos(5).of(RequestType.MS), RequestType.SS, P.defaultSlos(5).of(RequestType.SS)),
        FrequencyBounds.H100_DEFAULT);
  }

  private static PoolBudget budget(String pool, int gpus, double rps) {
    RequestType t = RequestType.valueOf(pool);
    return new PoolBudget(pool, 1, gpus, Set.of(t), Map.of(t, rps), Map.of(t, P.defaultSlos(5).of(t)),
        FrequencyBounds.H100_DEFAULT);
  }

  @Test
  void plansStartsInstancesPublishesRoutesAndDrainsWhenTheBudgetGoes() {
    var pm = KIT.spawn(PoolManager.create("MS", new PoolPlanner(P, PoolPlanner.Settings.DEFAULT),
        (id, cmd) -> spawned.get(id).tell(cmd), placement(), routes.getRef(), decisions.getRef(), telemetry.getRef(),
        new PoolManager.Settings(Duration.ofMinutes(5), Duration.ofSeconds(10), 50), clock::nowMs));
    pm.tell(new PoolManager.Assign(budget(8, 8.0), RequestType.MS, 8.0));

    // the budget and the plan are logged as decisions
    decisions.fishForMessage(Duration.ofSeconds(10), d -> d.action().startsWith("budget 8 GPUs")
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());
    // the planned instances start and serve: the routers hear of them
    PoolManager.Routes r = routes.fishForMessage(Duration.ofSeconds(15), x -> !x.readyInstances().isEmpty()
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
    pm.tell(new PoolManager.Assign(budget(0, 0), RequestType.MS, 0));
    routes.fishForMessage(Duration.ofSeconds(15), x -> x.readyInstances().isEmpty()
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
    var pm = KIT.spawn(PoolManager.create("LS", new PoolPlanner(P, PoolPlanner.Settings.DEFAULT),
        (id, cmd) -> spawned.get(id).tell(cmd), placement(), routes.getRef(), decisions.getRef(), telemetry.getRef(),
        new PoolManager.Settings(Duration.ofMinutes(5), Duration.ofSeconds(10), 50), clock::nowMs));
    pm.tell(new PoolManager.Assign(budget("LS", 8, 1.0), RequestType.LS, 1.0));
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
    pm.tell(new PoolManager.Assign(budget("LS", 0, 0), RequestType.LS, 0));
  }
}
