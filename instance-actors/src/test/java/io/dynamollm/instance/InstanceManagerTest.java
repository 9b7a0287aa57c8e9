package io.dynamollm.instance;

import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.instance.FrequencyGovernor;
import io.dynamollm.decision.instance.InstanceStep;
import io.dynamollm.protocol.Slo;
import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.instance.engine.Engine;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.instance.engine.SimulatedEngine;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.MixSpec;
import io.dynamollm.protocol.InstanceTelemetry;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.CorrectedProfile;
import io.dynamollm.protocol.profile.ProfileFactors;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class InstanceManagerTest {
  private static final ActorTestKit KIT = ActorTestKit.create();
  private static final Profile P = MemoizedProfile.of(Profiles.h100());
  private static final InstanceManager.Settings SETTINGS = new InstanceManager.Settings(Duration.ofSeconds(5),
      Duration.ofSeconds(1), Duration.ofSeconds(40));
  private static final DecisionSettings DECISIONS = DecisionSettings.defaults();
  private static final Slo MS_SLO = P.defaultSlos(5).of(RequestType.MS);
  /** A pool of MS requests alone. */
  private static final MixSpec MS = new MixSpec(java.util.Map.of(RequestType.MS, 1.0),
      java.util.Map.of(RequestType.MS, P.shape(RequestType.MS)),
      java.util.Map.of(RequestType.MS, P.defaultSlos(5).of(RequestType.MS)));
  /** The step the live node gives every instance (the simulator's too). */
  private static final InstanceManager.StepFactory STEPS = (id, s, clocks, now) -> new InstanceStep(P,
      new FrequencyGovernor(P, DECISIONS.governor()), new InstanceStep.Instance(id, s.nativeType(), s.tp(), clocks),
      s.bounds(), s.mix(), DECISIONS.instanceEpochMs(), SETTINGS.poolSilence().toMillis(), now);

  private final ModelClock clock = new ModelClock(50);
  private final List<SimulatedGpuDevice> gpus = SimulatedGpuDevice.host("h", 8, P, clock::nanoTime);
  private final ActorRef<HostAgent.Command> agent = KIT.spawn(HostAgent.create(gpus));
  private final TestProbe<InstanceTelemetry> telemetry = KIT.createTestProbe();
  private final TestProbe<io.dynamollm.protocol.Decision> decisions = KIT.createTestProbe();

  @AfterAll
  static void shutdown() {
    KIT.shutdownTestKit();
  }

  private ActorRef<InstanceManager.Command> instance(String id) {
    return instance(id, P, FrequencyBounds.H100_DEFAULT);
  }

  /** An instance planning on {@code P} within {@code bounds} whose engine runs {@code engineProfile}. */
  private ActorRef<InstanceManager.Command> instance(String id, Profile engineProfile, FrequencyBounds bounds) {
    InstanceManager.EngineFactory engines = (tp, devices) -> new SimulatedEngine(engineProfile, tp, devices,
        () -> ((SimulatedGpuDevice) devices.get(0).underlying()).appliedClockMhz(), clock, 10_000);
    var ref = KIT.spawn(InstanceManager.create(id, agent, engines, STEPS, clock, SETTINGS));
    ref.tell(new InstanceManager.Start("MS", RequestType.MS, TensorParallelism.TP4, bounds, MS, telemetry.getRef(),
        decisions.getRef()));
    return ref;
  }

  private InstanceManager.Status status(ActorRef<InstanceManager.Command> i) {
    TestProbe<InstanceManager.Status> p = KIT.createTestProbe();
    i.tell(new InstanceManager.GetStatus(p.getRef()));
    return p.receiveMessage();
  }

  private InstanceTelemetry awaitState(InstanceState s) {
    return telemetry.fishForMessage(Duration.ofSeconds(10), t -> t.state() == s
        ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
        : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore()).get(0);
  }

  @Test
  void servesOnItsGpusAndLowersTheClockAtLowLoadThenReleasesThemOnStop() {
    var i = instance("i-1");
    InstanceTelemetry ready = awaitState(InstanceState.READY);
    assertThat(ready.clockMhz()).isEqualTo(1980);
    var st = status(i);
    assertThat(st.gpus()).hasSize(4);

    TestProbe<InstanceManager.Served> served = KIT.createTestProbe();
    for (int k = 0; k < 30; k++) {
      i.tell(new InstanceManager.Submit(new Engine.EngineRequest(k, 400, 40), RequestType.MS, MS_SLO, served.getRef()));
    }
    for (int k = 0; k < 30; k++) {
      var s = served.receiveMessage(Duration.ofSeconds(10));
      assertThat(s.completion()).as(s.error().orElse("")).isPresent();
    }
    // a few idle instance epochs later the governor has lowered the clock, and the GPUs run at it
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (status(i).clockMhz() >= 1980 && System.nanoTime() < deadline) {
      i.tell(new InstanceManager.Retarget(FrequencyBounds.H100_DEFAULT, MS, false));
      sleep(100);
    }
    int lowered = status(i).clockMhz();
    assertThat(lowered).isLessThan(1980).isGreaterThanOrEqualTo(800);
    for (String uuid : status(i).gpus()) {
      SimulatedGpuDevice g = gpus.stream().filter(d -> d.uuid().equals(uuid)).findFirst().orElseThrow();
      assertThat(g.appliedClockMhz()).isEqualTo(lowered);
    }
    InstanceTelemetry t = telemetry.receiveMessage(Duration.ofSeconds(2));
    assertThat(t.energyJ()).isPositive();
    assertThat(t.powerW()).isPositive();

    List<String> held = status(i).gpus();
    i.tell(new InstanceManager.Stop("test"));
    telemetry.fishForMessage(Duration.ofSeconds(5), x -> x.state() == InstanceState.STOPPED
        ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
        : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore());
    TestProbe<HostAgent.Inventory> inv = KIT.createTestProbe();
    deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    HostAgent.Inventory after;
    do {
      agent.tell(new HostAgent.GetInventory(inv.getRef()));
      after = inv.receiveMessage();
    } while (!after.holders().isEmpty() && System.nanoTime() < deadline);
    assertThat(after.holders()).isEmpty();
    for (String uuid : held) {
      assertThat(gpus.stream().filter(d -> d.uuid().equals(uuid)).findFirst().orElseThrow().lockedRangeMhz()).isEmpty();
    }
  }

  @Test
  void aNewPoolManagerAdoptsARunningInstance() {
    var i = instance("i-adopt");
    awaitState(InstanceState.READY);
    TestProbe<InstanceTelemetry> next = KIT.createTestProbe();
    i.tell(new InstanceManager.Adopt("MS", next.getRef(), decisions.getRef()));
    InstanceTelemetry t = next.receiveMessage(Duration.ofSeconds(5));
    assertThat(t.instanceId()).isEqualTo("i-adopt");
    assertThat(t.gpus()).hasSize(4);
    // another pool's manager cannot take it
    TestProbe<InstanceTelemetry> stranger = KIT.createTestProbe();
    i.tell(new InstanceManager.Adopt("LL", stranger.getRef(), decisions.getRef()));
    stranger.expectNoMessage(Duration.ofMillis(300));
    i.tell(new InstanceManager.Stop("test"));
  }

  @Test
  void returnsToTheMaximumClockWhenThePoolFallsSilent() {
    var i = instance("i-2");
    awaitState(InstanceState.READY);
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (status(i).clockMhz() >= 1980 && System.nanoTime() < deadline) {
      sleep(50); // the governor lowers the idle instance's clock first
    }
    assertThat(status(i).clockMhz()).isLessThan(1980);
    // no Retarget for 40 model seconds (0.8 s wall): back to the maximum
    deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (status(i).clockMhz() < 1980 && System.nanoTime() < deadline) {
      sleep(50);
    }
    assertThat(status(i).clockMhz()).isEqualTo(1980);
    assertThat(status(i).lastDecision()).contains("pool silent");
    i.tell(new InstanceManager.Stop("test"));
  }

  @Test
  void theEmergencyLadderSendsBackRequestsThatWouldMissTheirDeadlineAndCountsItsRungs() {
    var i = instance("i-ladder");
    awaitState(InstanceState.READY);
    i.tell(new InstanceManager.Retarget(FrequencyBounds.H100_DEFAULT, MS, true)); // another instance could take some
    TestProbe<InstanceManager.Served> served = KIT.createTestProbe();
    // 40 prompts of 4,000 tokens at once on one TP4 instance (two fit one 8,192-token prefill of ~0.2 s): the tail of
    // the queue would wait about 4 s for its first token, beyond a 2.5 s TTFT objective
    int n = 40;
    Slo objective = new Slo(2500, 500);
    for (int k = 0; k < n; k++) {
      i.tell(new InstanceManager.Submit(new Engine.EngineRequest(k, 4000, 20), RequestType.LS, objective,
          served.getRef()));
    }
    int done = 0;
    int sentBack = 0;
    for (int k = 0; k < n; k++) {
      var s = served.receiveMessage(Duration.ofSeconds(20));
      if (s.completion().isPresent()) {
        done++;
      } else if (s.reroute()) {
        sentBack++;
        assertThat(s.error().orElseThrow()).contains("re-routed");
      } else {
        assertThat(s.error().orElseThrow()).startsWith("rejected");
      }
    }
    assertThat(done).as("the head of the queue is served here").isPositive();
    assertThat(sentBack).as("the tail goes back to the router for another instance").isPositive();
    // the rungs taken show in the telemetry
    InstanceTelemetry t = telemetry.fishForMessage(Duration.ofSeconds(5), x -> x.instanceId().equals("i-ladder")
        && x.ladder().rerouted() > 0
        ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
        : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(t.ladder().rerouted()).isEqualTo(sentBack);
    i.tell(new InstanceManager.Stop("test"));
  }

  @Test
  void drainFinishesWhatIsInFlightThenStops() {
    var i = instance("i-3");
    awaitState(InstanceState.READY);
    TestProbe<InstanceManager.Served> served = KIT.createTestProbe();
    for (int k = 0; k < 5; k++) {
      i.tell(new InstanceManager.Submit(new Engine.EngineRequest(k, 200, 200), RequestType.MS, MS_SLO, served.getRef()));
    }
    i.tell(new InstanceManager.Drain("test"));
    i.tell(new InstanceManager.Submit(new Engine.EngineRequest(99, 10, 10), RequestType.MS, MS_SLO, served.getRef()));
    int ok = 0;
    int refused = 0;
    for (int k = 0; k < 6; k++) {
      var s = served.receiveMessage(Duration.ofSeconds(10));
      if (s.completion().isPresent()) {
        ok++;
      } else {
        refused++;
        assertThat(s.id()).isEqualTo(99);
        assertThat(s.error().orElseThrow()).contains("DRAINING");
      }
    }
    assertThat(ok).isEqualTo(5);
    assertThat(refused).isEqualTo(1);
    TestProbe<Object> watch = KIT.createTestProbe();
    watch.expectTerminated(i, Duration.ofSeconds(5));
  }

  @Test
  void anEngineWhosePrefillsAreSlowerThanItsProfileIsSeenFromPromptsItRanAlone() {
    // the engine's prefills take 25 % longer than the profile the instance plans on; its decode steps are as profiled
    Profile slower = CorrectedProfile.of(P, ProfileFactors.uniform(P, 1.0, 1.0, 1.25));
    var i = instance("i-prefill", slower, new FrequencyBounds(1605, 1605)); // one clock: all samples at it
    awaitState(InstanceState.READY);
    TestProbe<InstanceManager.Served> served = KIT.createTestProbe();
    long id = 0;
    for (int k = 0; k < 40; k++) {
      // one at a time: each prompt's prefill runs alone (long prompts: at 50 times real time the wall clock's
      // jitter of a millisecond is 50 ms of model time)
      i.tell(new InstanceManager.Submit(new Engine.EngineRequest(++id, 8000, 8), RequestType.MS, MS_SLO,
          served.getRef()));
      assertThat(served.receiveMessage(Duration.ofSeconds(10)).completion()).isPresent();
    }
    for (int k = 0; k < 40; k++) {
      // eight at once: only the first of each wave could run alone, and the next came before its first token
      for (int w = 0; w < 8; w++) {
        i.tell(new InstanceManager.Submit(new Engine.EngineRequest(++id, 8000, 8), RequestType.MS, MS_SLO,
            served.getRef()));
      }
      for (int w = 0; w < 8; w++) {
        served.receiveMessage(Duration.ofSeconds(10));
      }
    }
    // the telemetry after all 40 (decayed sums: 0.98 per prefill, about 28), not one sent while they ran
    InstanceTelemetry t = telemetry.fishForMessage(Duration.ofSeconds(10), x -> x.profileFactors().stream()
        .mapToLong(f -> f.prefillSamples()).sum() >= 25
        ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
        : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore()).get(0);
    var seen = t.profileFactors().stream().filter(f -> f.prefillSamples() > 0).toList();
    assertThat(seen).allSatisfy(f -> {
      assertThat(f.clockMhz()).isEqualTo(1605);
      assertThat(f.prefillTime()).isBetween(1.18, 1.32);
    });
    // 40 prefills ran alone; the waves' batched prompts (up to eight times as long) did not count
    assertThat(seen.stream().mapToLong(f -> f.prefillSamples()).sum()).isBetween(25L, 30L);
    var note = decisions.fishForMessage(Duration.ofSeconds(5), d -> d.action().startsWith("profile corrected")
        ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
        : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(note.action()).containsPattern("prefill x1\\.[1-3]");
    i.tell(new InstanceManager.Stop("test"));
  }

  @Test
  void failsAndSaysSoWhenTheHostHasNoGpusLeft() {
    var a = instance("big-1");
    var b = instance("big-2");
    awaitState(InstanceState.READY);
    var c = instance("big-3"); // 4 + 4 of 8 GPUs are taken
    InstanceTelemetry failed = awaitState(InstanceState.FAILED);
    assertThat(failed.instanceId()).isEqualTo("big-3");
    a.tell(new InstanceManager.Stop("test"));
    b.tell(new InstanceManager.Stop("test"));
    TestProbe<Object> watch = KIT.createTestProbe();
    watch.expectTerminated(c, Duration.ofSeconds(5));
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
