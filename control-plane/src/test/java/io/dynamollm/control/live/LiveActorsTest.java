package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.control.cluster.ClusterLimits;
import io.dynamollm.control.cluster.ArrivalHistoryStore;
import io.dynamollm.control.cluster.LayoutStore;
import io.dynamollm.control.cluster.LimitsStore;
import io.dynamollm.control.cluster.SloStore;
import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.routing.RoutingPolicy;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.protocol.PoolBudget;
import io.dynamollm.protocol.PoolLayout;
import io.dynamollm.protocol.PoolRoutes;
import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.instance.engine.Engine;
import io.dynamollm.pool.PoolManager;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.protocol.Decision;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The control node's actors one by one, in a local actor system, with stand-ins for their neighbours. */
class LiveActorsTest {
  private static final ActorTestKit KIT = ActorTestKit.create();
  private static final Profile P = MemoizedProfile.of(Profiles.h100());
  private static final SloTable SLOS = P.defaultSlos(5);

  @AfterAll
  static void shutdown() {
    KIT.shutdownTestKit();
  }

  private static final DecisionSettings D = DecisionSettings.defaults();

  /** A stand-in SLO store that answers every Get and Subscribe with {@code SLOS}, and tells subscribers of changes. */
  private static ActorRef<SloStore.Command> sloStore(List<ActorRef<SloTable>> subscribers) {
    return KIT.spawn(Behaviors.receive(SloStore.Command.class)
        .onMessage(SloStore.Get.class, g -> {
          g.replyTo().tell(SLOS);
          return Behaviors.same();
        })
        .onMessage(SloStore.Subscribe.class, sub -> {
          subscribers.add(sub.subscriber());
          sub.subscriber().tell(SLOS);
          return Behaviors.same();
        }).build());
  }

  private static ActorRef<SloStore.Command> sloStore() {
    return sloStore(new CopyOnWriteArrayList<>());
  }

  /** An in-memory stand-in for the durable layout store. */
  private static ActorRef<LayoutStore.Command> layouts(ActorTestKit kit, AtomicReference<PoolLayout> held) {
    return kit.spawn(Behaviors.receive(LayoutStore.Command.class)
        .onMessage(LayoutStore.Save.class, s -> {
          held.set(s.layout());
          s.replyTo().tell(true);
          return Behaviors.same();
        })
        .onMessage(LayoutStore.Load.class, l -> {
          l.replyTo().tell(Optional.ofNullable(held.get()));
          return Behaviors.same();
        }).build());
  }

  /** An in-memory stand-in for the durable arrival history (the ring of model hours). */
  private static ActorRef<ArrivalHistoryStore.Command> history(ActorTestKit kit,
      Map<Long, ArrivalHistoryStore.Hour> held) {
    return kit.spawn(Behaviors.receive(ArrivalHistoryStore.Command.class)
        .onMessage(ArrivalHistoryStore.Save.class, s -> {
          held.put(s.hour().hour(), s.hour());
          s.replyTo().tell(true);
          return Behaviors.same();
        })
        .onMessage(ArrivalHistoryStore.Load.class, l -> {
          l.replyTo().tell(held.values().stream().filter(h -> h.hour() >= l.fromHour() && h.hour() < l.toHour())
              .sorted(java.util.Comparator.comparingLong(ArrivalHistoryStore.Hour::hour)).toList());
          return Behaviors.same();
        }).build());
  }

  private static final ClusterLimits DEFAULT_LIMITS = new ClusterLimits(FrequencyBounds.H100_DEFAULT, 0);

  /** A stand-in for the durable limits store that answers with {@code l} and keeps its subscribers. */
  private static ActorRef<LimitsStore.Command> limits(ActorTestKit kit, ClusterLimits l,
      List<ActorRef<ClusterLimits>> subscribers) {
    return kit.spawn(Behaviors.receive(LimitsStore.Command.class)
        .onMessage(LimitsStore.Get.class, g -> {
          g.replyTo().tell(l);
          return Behaviors.same();
        })
        .onMessage(LimitsStore.Subscribe.class, sub -> {
          subscribers.add(sub.subscriber());
          sub.subscriber().tell(l);
          return Behaviors.same();
        }).build());
  }

  private static ActorRef<LimitsStore.Command> limits(ActorTestKit kit, ClusterLimits l) {
    return limits(kit, l, new CopyOnWriteArrayList<>());
  }

  /** A cluster manager on {@code now} (model ms) whose timers run {@code speedup} times faster than wall time. */
  private static ActorRef<ClusterManager.Command> clusterManager(ActorTestKit kit, List<Sent> sent,
      ActorRef<SloStore.Command> slos, ActorRef<LimitsStore.Command> limits, ActorRef<LayoutStore.Command> layouts,
      ActorRef<Decision> decisions, java.util.function.DoubleSupplier now, double speedup) {
    return clusterManager(kit, sent, slos, limits, layouts, history(kit, new ConcurrentHashMap<>()), decisions, now,
        speedup);
  }

  private static ActorRef<ClusterManager.Command> clusterManager(ActorTestKit kit, List<Sent> sent,
      ActorRef<SloStore.Command> slos, ActorRef<LimitsStore.Command> limits, ActorRef<LayoutStore.Command> layouts,
      ActorRef<ArrivalHistoryStore.Command> history, ActorRef<Decision> decisions,
      java.util.function.DoubleSupplier now, double speedup) {
    return kit.spawn(ClusterManager.create(new ClusterManager.Wiring(P, D, new io.dynamollm.decision.pool.PoolPlanner
        .Transitions(io.dynamollm.decision.pool.ReshardCost.restart(60_000), 60_000, 230),
        (pool, cmd) -> sent.add(new Sent(pool, cmd)), slos, limits, layouts, history, decisions,
        FrequencyBounds.H100_DEFAULT, now, speedup)));
  }

  /** A router's report of minute {@code m}: mostly medium prompts, their prompt tokens, nothing completed. */
  private static ClusterManager.Observed observed(int m) {
    return observed(m, 1);
  }

  /** The same at {@code scale} times the rates. */
  private static ClusterManager.Observed observed(int m, double scale) {
    return observed(m, Map.of(RequestType.MS, (int) (300 * scale), RequestType.MM, (int) (200 * scale),
        RequestType.LL, (int) (60 * scale), RequestType.SS, (int) Math.max(1, 5 * scale)));
  }

  /** Minute {@code m} with {@code n} requests of each type. */
  private static ClusterManager.Observed observed(int m, Map<RequestType, Integer> n) {
    // as a router reports them: per second of arrival, a minute's requests spread over its seconds
    List<ClusterManager.Arrivals> a = new ArrayList<>();
    n.forEach((t, k) -> {
      for (int s = 0; s < 60; s++) {
        int each = k / 60 + (s < k % 60 ? 1 : 0);
        if (each > 0) {
          a.add(new ClusterManager.Arrivals(m * 60_000L + s * 1000L, t, each, (long) each * P.shape(t).meanInputTokens()));
        }
      }
    });
    return new ClusterManager.Observed(a, List.of());
  }

  @Test
  void theOperatorsLimitsBoundEveryBudgetsClocksAndGpus() {
    ActorTestKit kit = ActorTestKit.create();
    try {
      host(kit, 8);
      host(kit, 8);
      List<Sent> sent = new CopyOnWriteArrayList<>();
      TestProbe<Decision> decisions = kit.createTestProbe();
      AtomicReference<Double> now = new AtomicReference<>(0.0);
      FrequencyBounds bounds = new FrequencyBounds(1005, 1605);
      List<ActorRef<ClusterLimits>> limitsSubscribers = new CopyOnWriteArrayList<>();
      var cm = clusterManager(kit, sent, sloStore(), limits(kit, new ClusterLimits(bounds, 8), limitsSubscribers),
          layouts(kit, new AtomicReference<>()), decisions.getRef(), now::get, 300);
      // the bootstrap pool: the budget's 8 of the hosts' 16 GPUs, held at the top of the operator's clock range
      decisions.fishForMessage(Duration.ofSeconds(10), d -> d.action().startsWith("epoch 1")
          ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());
      PoolManager.Assign first = (PoolManager.Assign) sent.get(0).command();
      assertThat(first.budget().gpus()).isEqualTo(8);
      assertThat(first.budget().frequencyBounds()).isEqualTo(new FrequencyBounds(bounds.maxMhz(), bounds.maxMhz()));
      // pools per type: within 8 GPUs together, every pool within the operator's clock range
      for (int m = 0; m < 40; m++) {
        cm.tell(observed(m));
      }
      now.set(40 * 60_000.0);
      sent.clear();
      // the operator narrows the clock range (the store tells its subscribers): budgets again within the rebudget
      // delay, not at the next cluster epoch
      FrequencyBounds narrower = new FrequencyBounds(1005, 1395);
      limitsSubscribers.forEach(sub -> sub.tell(new ClusterLimits(narrower, 8)));
      Decision split = decisions.fishForMessage(Duration.ofSeconds(10), d -> d.level().equals("cluster")
          && d.action().startsWith("epoch") && !d.reason().contains("one pool of every type")
          ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
      List<PoolManager.Assign> assigns = sent.stream().filter(x -> x.command() instanceof PoolManager.Assign a
          && a.budget().epoch() == epochOf(split) && a.budget().gpus() > 0)
          .map(x -> (PoolManager.Assign) x.command()).toList();
      assertThat(assigns).isNotEmpty();
      assertThat(assigns.stream().mapToInt(a -> a.budget().gpus()).sum()).isLessThanOrEqualTo(8);
      assertThat(assigns).allSatisfy(a -> assertThat(a.budget().frequencyBounds()).isEqualTo(narrower));
    } finally {
      kit.shutdownTestKit();
    }
  }

  private static ActorRef<HostAgent.Command> host(ActorTestKit kit, int gpus) {
    var agent = kit.spawn(HostAgent.create(SimulatedGpuDevice.host("h" + System.nanoTime(), gpus, P, System::nanoTime)));
    kit.system().receptionist().tell(Receptionist.register(HostAgent.KEY, agent));
    return agent;
  }

  private record Sent(String pool, PoolManager.Command command) {}

  @Test
  void decisionLogKeepsTheNewestFirstUpToItsCapacity() {
    ActorRef<Topic.Command<Decision>> topic = KIT.spawn(Topic.create(Decision.class, "decisions-test"));
    var log = KIT.spawn(DecisionLog.create(topic, 3));
    var publish = KIT.spawn(DecisionLog.publisher(topic));
    TestProbe<List<Decision>> recent = KIT.createTestProbe();
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    List<Decision> got;
    int k = 0;
    do {
      publish.tell(new Decision(k, k, "pool", "LL", "plan " + k, "test", 0));
      k++;
      log.tell(new DecisionLog.Recent(10, recent.getRef()));
      got = recent.receiveMessage();
    } while (got.size() < 3 && System.nanoTime() < deadline); // the subscription takes a moment
    assertThat(got).hasSize(3);
    assertThat(got.get(0).atMillis()).isGreaterThan(got.get(1).atMillis());
    log.tell(new DecisionLog.Recent(1, recent.getRef()));
    assertThat(recent.receiveMessage()).hasSize(1);
  }

  @Test
  void placementPacksInstancesAndSaysWhenNoHostHasRoom() {
    ActorTestKit kit = ActorTestKit.create();
    try {
      placementPacks(kit);
    } finally {
      kit.shutdownTestKit();
    }
  }

  private void placementPacks(ActorTestKit kit) {
    var a = host(kit, 8);
    var b = host(kit, 8);
    // b has 4 GPUs taken: a TP4 instance goes there (packing), keeping a whole for a TP8
    TestProbe<HostAgent.Reservation> r = kit.createTestProbe();
    b.tell(new HostAgent.Reserve("other", 4, r.getRef()));
    r.receiveMessage();
    Map<ActorRef<HostAgent.Command>, String> names = Map.of(a, "host-a", b, "host-b");
    var placement = kit.spawn(Placement.create(agent -> names.getOrDefault(agent, "?")));
    var front = kit.spawn(Placement.front(placement));
    TestProbe<PoolManager.Placement> reply = kit.createTestProbe();
    PoolManager.Placement p = null;
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    do { // until the placement has seen both agents
      front.tell(new PoolManager.Place("LM", TensorParallelism.TP4, reply.getRef()));
      p = reply.receiveMessage();
    } while ((p.instanceId().isEmpty() || !p.instanceId().get().startsWith("host-b")) && System.nanoTime() < deadline);
    assertThat(p.instanceId()).hasValueSatisfying(id -> assertThat(id).startsWith("host-b~LM-"));
    front.tell(new PoolManager.Place("LL", TensorParallelism.TP8, reply.getRef()));
    assertThat(reply.receiveMessage().instanceId()).hasValueSatisfying(id -> assertThat(id).startsWith("host-a~LL-"));
    // a is promised to the TP8 instance, b to the TP4: no room for another TP8
    front.tell(new PoolManager.Place("LL", TensorParallelism.TP8, reply.getRef()));
    PoolManager.Placement none = reply.receiveMessage();
    assertThat(none.instanceId()).isEmpty();
    assertThat(none.reason()).contains("no GPU host has 8 free GPUs");
  }

  @Test
  void clusterManagerStartsWithOnePoolThenSplitsByTypeFromTheForecast() {
    ActorTestKit kit = ActorTestKit.create();
    try {
      clusterManagerSplits(kit);
    } finally {
      kit.shutdownTestKit();
    }
  }

  private void clusterManagerSplits(ActorTestKit kit) {
    host(kit, 8);
    host(kit, 8);
    List<Sent> sent = new CopyOnWriteArrayList<>();
    TestProbe<Decision> decisions = kit.createTestProbe();
    AtomicReference<Double> now = new AtomicReference<>(0.0);
    AtomicReference<PoolLayout> stored = new AtomicReference<>();
    Map<Long, ArrivalHistoryStore.Hour> hours = new ConcurrentHashMap<>();
    var cm = clusterManager(kit, sent, sloStore(), limits(kit, DEFAULT_LIMITS), layouts(kit, stored),
        history(kit, hours), decisions.getRef(), now::get, 300);
    // no traffic yet: every GPU in one LL pool serving every type
    decisions.fishForMessage(Duration.ofSeconds(10), d -> d.action().startsWith("epoch 1")
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());
    assertThat(sent).hasSize(1);
    PoolManager.Assign first = (PoolManager.Assign) sent.get(0).command();
    assertThat(first.budget().pool()).isEqualTo("LL");
    assertThat(first.budget().gpus()).isEqualTo(16);
    assertThat(first.budget().types()).isEqualTo(EnumSet.allOf(RequestType.class));

    // forty minutes of short chat beside long prompts: apart they need far less (short prompts do not wait behind long
    // prefills) — one pool of both does not even fit the cluster, so the layout changes without a handover
    for (int m = 0; m < 40; m++) {
      cm.tell(observed(m, Map.of(RequestType.SS, 600, RequestType.LS, 30, RequestType.MM, 60)));
    }
    now.set(40 * 60_000.0);
    sent.clear();
    Decision split = decisions.fishForMessage(Duration.ofSeconds(20), d -> d.level().equals("cluster")
        && d.action().matches("epoch \\d+: \\[.*GPUs.*, .*GPUs.*\\]")
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(split.reason()).containsAnyOf("pool", "prompts");
    if (split.reason().contains("hands over")) {
      // the old pool keeps what it held beside the new ones for a start-up; then the new budgets alone
      sent.clear();
      now.set(42 * 60_000.0);
      decisions.fishForMessage(Duration.ofSeconds(20), d -> d.action().startsWith("handover done")
          ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());
    }
    Map<String, PoolManager.Assign> byPool = new HashMap<>();
    for (Sent s : sent) {
      if (s.command() instanceof PoolManager.Assign a && a.budget().epoch() == epochOf(split)) {
        byPool.put(s.pool(), a);
      }
    }
    assertThat(byPool.size()).isGreaterThan(1);
    assertThat(byPool.values().stream().mapToInt(a -> a.budget().gpus()).sum()).isLessThanOrEqualTo(16);
    // every type seen is served by exactly one funded pool
    for (RequestType t : List.of(RequestType.SS, RequestType.MM, RequestType.LS)) {
      assertThat(byPool.values().stream().filter(a -> a.budget().gpus() > 0 && a.budget().types().contains(t)).count())
          .as(t.name()).isEqualTo(1);
    }
    // each pool epoch brings every funded pool a fresh forecast
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (sent.stream().noneMatch(s -> s.command() instanceof PoolManager.Forecast) && System.nanoTime() < deadline) {
      sleep(50);
    }
    assertThat(sent.stream().filter(s -> s.command() instanceof PoolManager.Forecast)
        .allMatch(s -> ((PoolManager.Forecast) s.command()).loadRps() > 0)).isTrue();
    assertThat(sent.stream().anyMatch(s -> s.command() instanceof PoolManager.Forecast)).isTrue();

    // a pool whose plan falls short of its load gets GPUs no pool holds at once (a top-up), within the cluster's 16
    PoolManager.Assign shortPool = byPool.values().stream().filter(x -> x.budget().gpus() > 0).findFirst().orElseThrow();
    int before = shortPool.budget().gpus();
    int held = byPool.values().stream().mapToInt(x -> x.budget().gpus()).sum();
    sent.clear();
    cm.tell(new ClusterManager.PoolReport(new io.dynamollm.protocol.PoolTelemetry(shortPool.budget().pool(),
        40 * 60_000L, Map.of(), 0.9, 1000, 1e6, 1, before, 26.0, 40.0, 1.0, 1.5)));
    Decision topUp = decisions.fishForMessage(Duration.ofSeconds(10), d -> d.action().startsWith("top up")
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(topUp.action()).startsWith("top up " + shortPool.budget().pool() + ": " + before + " -> ");
    PoolManager.Assign more = (PoolManager.Assign) sent.stream().filter(x -> x.pool().equals(shortPool.budget().pool()))
        .findFirst().orElseThrow().command();
    assertThat(more.budget().gpus()).isGreaterThan(before).isLessThanOrEqualTo(before + 16 - held);
    assertThat(more.budget().types()).isEqualTo(shortPool.budget().types());
    // at most one top-up a pool epoch (the test's clock stands still)
    sent.clear();
    cm.tell(new ClusterManager.PoolReport(new io.dynamollm.protocol.PoolTelemetry(shortPool.budget().pool(),
        40 * 60_000L, Map.of(), 0.9, 1000, 1e6, 1, before, 26.0, 40.0, 1.0, 1.5)));
    sleep(300);
    assertThat(sent.stream().filter(x -> x.command() instanceof PoolManager.Assign)).isEmpty();

    // the layout of every epoch was stored, and the arrivals of every model hour seen (each pool epoch)
    assertThat(stored.get()).isNotNull();
    assertThat(stored.get().epoch()).isEqualTo(epochOf(split));
    assertThat(hours.keySet()).contains(0L);
    kit.stop(cm);
    // a cluster manager that takes over resumes the layout at once, and budgets its next epoch from the stored
    // history without waiting for the rebudget delay (30 model s = 30 s here, at speedup 1): not the bootstrap pool
    List<Sent> resumed = new CopyOnWriteArrayList<>();
    clusterManager(kit, resumed, sloStore(), limits(kit, DEFAULT_LIMITS), layouts(kit, stored), history(kit, hours),
        decisions.getRef(), now::get, 1);
    Decision resume = decisions.fishForMessage(Duration.ofSeconds(10), d -> d.action().startsWith("resumed epoch")
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(resume.action()).startsWith("resumed epoch " + epochOf(split));
    assertThat(resumed.stream().map(Sent::pool).toList()).containsExactlyInAnyOrderElementsOf(
        stored.get().pools().stream().map(PoolBudget::pool).toList());
    Decision next = decisions.fishForMessage(Duration.ofSeconds(20), d -> d.action().startsWith("epoch ")
        ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore()).get(0);
    assertThat(epochOf(next)).isEqualTo(epochOf(split) + 1);
    assertThat(next.action()).as("the stored history's split, not the bootstrap pool")
        .matches("epoch \\d+: \\[.*GPUs.*, .*GPUs.*\\]");
  }

  private static long epochOf(Decision d) {
    return Long.parseLong(d.action().split("[ :]")[1]);
  }

  /** A stand-in instance that answers only when told to, so that requests stay outstanding. */
  private static final class FakeInstance {
    final List<InstanceManager.Submit> pending = new CopyOnWriteArrayList<>();
    final List<Long> cancels = new CopyOnWriteArrayList<>();
    final ActorRef<InstanceManager.Command> ref = KIT.spawn(Behaviors.receive(InstanceManager.Command.class)
        .onMessage(InstanceManager.Submit.class, s -> {
          pending.add(s);
          return Behaviors.same();
        })
        .onMessage(InstanceManager.Cancel.class, c -> {
          cancels.add(c.requestId());
          return Behaviors.same();
        }).build());

    /** Fails the oldest pending request; {@code streamed}: tokens of it had gone out. */
    void failOldest(boolean streamed, boolean cancelled) {
      InstanceManager.Submit s = pending.remove(0);
      s.replyTo().tell(new InstanceManager.Served(s.request().id(), Optional.empty(),
          Optional.of(cancelled ? "cancelled" : "engine stopped"), false, streamed, cancelled));
    }

    void completeAll() {
      for (InstanceManager.Submit s : List.copyOf(pending)) {
        pending.remove(s);
        s.replyTo().tell(new InstanceManager.Served(s.request().id(),
            Optional.of(new Engine.Completion(s.request().id(), 50, 20, s.request().outputTokens())), Optional.empty(),
            false));
      }
    }
  }

  @Test
  void routerHoldsUntilAPoolServesThenSharesByCapacityAndReportsArrivals() {
    ActorRef<Topic.Command<PoolRoutes>> topic = KIT.spawn(Topic.create(PoolRoutes.class, "routes-test"));
    Map<String, FakeInstance> instances = new ConcurrentHashMap<>();
    instances.put("small", new FakeInstance());
    instances.put("big", new FakeInstance());
    instances.put("draining", new FakeInstance());
    TestProbe<ClusterManager.Command> observed = KIT.createTestProbe();
    List<PoolManager.Command> outcomes = new CopyOnWriteArrayList<>();
    var router = router(id -> instances.get(id).ref, topic, observed.getRef(), (pool, cmd) -> outcomes.add(cmd),
        Duration.ofSeconds(1), 1);
    TestProbe<Router.Response> responses = KIT.createTestProbe();
    // no pool yet: the requests wait
    for (int i = 0; i < 4; i++) {
      router.tell(new Router.Request(i, 100, 0, 20, responses.getRef()));
    }
    responses.expectNoMessage(Duration.ofMillis(300));
    // the pool appears (the draining instance is not among the ready ones); capacities 1 and 3
    List<RequestType> all = List.of(RequestType.values());
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (instances.get("small").pending.size() + instances.get("big").pending.size() < 4
        && System.nanoTime() < deadline) {
      topic.tell(Topic.publish(new PoolRoutes("LL", RequestType.LL, Set.copyOf(all),
          List.of(new PoolRoutes.Ready("small", 1.0, 0), new PoolRoutes.Ready("big", 3.0, 0)))));
      sleep(100);
    }
    for (int i = 4; i < 40; i++) {
      router.tell(new Router.Request(i, 100, 0, 20, responses.getRef()));
    }
    deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (instances.get("small").pending.size() + instances.get("big").pending.size() < 40
        && System.nanoTime() < deadline) {
      sleep(20);
    }
    int small = instances.get("small").pending.size();
    int big = instances.get("big").pending.size();
    assertThat(small + big).isEqualTo(40);
    assertThat(big).isBetween(27, 33); // three to one
    assertThat(instances.get("draining").pending).isEmpty();
    instances.values().forEach(FakeInstance::completeAll);
    List<Router.Response> done = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      done.add(responses.receiveMessage(Duration.ofSeconds(5)));
    }
    assertThat(done).allSatisfy(r -> {
      assertThat(r.completion()).isPresent();
      assertThat(r.pool()).contains("LL");
      if (r.id() < 4) {
        // held 300+ ms before any pool served: the TTFT counts from the arrival, the hold included
        assertThat(r.completion().get().ttftMs()).isGreaterThanOrEqualTo(300);
        assertThat(r.metSlo()).isFalse();
      } else {
        assertThat(r.metSlo()).isTrue(); // 50 ms TTFT, 20 ms TBT: within every SLO
      }
    });
    // the arrivals per (predicted) type went to the cluster manager
    ClusterManager.Observed o = (ClusterManager.Observed) observed.fishForMessage(Duration.ofSeconds(5),
        m -> m instanceof ClusterManager.Observed ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore())
        .get(0);
    // per second of arrival, with their prompt tokens; and the completed requests' lengths
    assertThat(o.arrivals().stream().mapToInt(ClusterManager.Arrivals::n).sum()).isPositive();
    assertThat(o.arrivals()).allSatisfy(a -> {
      assertThat(a.atMillis() % 1000).isZero();
      assertThat(a.promptTokens()).isPositive();
    });
    // and the pool's outcomes to its pool manager: 40 completed, none missed, 40 routed
    deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (outcomes.stream().mapToLong(c -> ((PoolManager.Outcomes) c).completed()).sum() < 40
        && System.nanoTime() < deadline) {
      sleep(20);
    }
    assertThat(outcomes.stream().mapToLong(c -> ((PoolManager.Outcomes) c).completed()).sum()).isEqualTo(40);
    assertThat(outcomes.stream().mapToLong(c -> ((PoolManager.Outcomes) c).missed()).sum()).isZero();
    assertThat(outcomes.stream().mapToInt(c -> ((PoolManager.Outcomes) c).routed().values().stream()
        .mapToInt(Integer::intValue).sum()).sum()).isEqualTo(40);
  }

  @Test
  void aRequestToAnInstanceThatNeverAnswersIsRetriedOnAnother() {
    ActorRef<Topic.Command<PoolRoutes>> topic = KIT.spawn(Topic.create(PoolRoutes.class, "routes-dead"));
    FakeInstance dead = new FakeInstance(); // its node froze: it never answers
    FakeInstance alive = new FakeInstance();
    Map<String, FakeInstance> instances = Map.of("dead", dead, "alive", alive);
    TestProbe<ClusterManager.Command> observed = KIT.createTestProbe();
    List<PoolManager.Command> outcomes = new CopyOnWriteArrayList<>();
    // 3000x: the five-minute answer timeout is 100 ms of wall time
    var router = router(id -> instances.get(id).ref, topic, observed.getRef(), (pool, cmd) -> outcomes.add(cmd),
        Duration.ofSeconds(10), 3000);
    TestProbe<Router.Response> responses = KIT.createTestProbe();
    for (int k = 0; k < 5; k++) { // the topic subscription takes a moment
      topic.tell(Topic.publish(new PoolRoutes("LL", RequestType.LL, Set.of(RequestType.values()),
          List.of(new PoolRoutes.Ready("dead", 3.0, 0), new PoolRoutes.Ready("alive", 1.0, 0)))));
      sleep(100);
    }
    router.tell(new Router.Request(1, 100, 0, 10, responses.getRef()));
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (dead.pending.isEmpty() && System.nanoTime() < deadline) {
      sleep(20);
    }
    assertThat(dead.pending).isNotEmpty(); // the larger one was tried first
    deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (alive.pending.isEmpty() && System.nanoTime() < deadline) {
      sleep(20);
    }
    alive.completeAll();
    Router.Response r = responses.receiveMessage(Duration.ofSeconds(5));
    assertThat(r.completion()).as(r.error().orElse("")).isPresent();
    assertThat(r.id()).isEqualTo(1);
  }

  @Test
  void aFailureBeforeAnyTokenIsRetriedOnceElsewhereAfterTokensItEndsAndACancelReachesTheInstance() {
    ActorRef<Topic.Command<PoolRoutes>> topic = KIT.spawn(Topic.create(PoolRoutes.class, "routes-fail"));
    FakeInstance first = new FakeInstance();
    FakeInstance second = new FakeInstance();
    Map<String, FakeInstance> instances = Map.of("first", first, "second", second);
    var router = router(id -> instances.get(id).ref, topic, KIT.<ClusterManager.Command>createTestProbe().getRef(),
        (pool, cmd) -> {}, Duration.ofSeconds(10), 1);
    TestProbe<Router.Response> responses = KIT.createTestProbe();
    for (int k = 0; k < 5; k++) {
      topic.tell(Topic.publish(new PoolRoutes("LL", RequestType.LL, Set.of(RequestType.values()),
          List.of(new PoolRoutes.Ready("first", 100.0, 0), new PoolRoutes.Ready("second", 1.0, 0)))));
      sleep(100);
    }
    // failed before its first token: once more on another instance, served there
    router.tell(new Router.Request(1, 100, 0, 10, responses.getRef()));
    awaitPending(first, 1);
    first.failOldest(false, false);
    awaitPending(second, 1);
    second.completeAll();
    Router.Response ok = responses.receiveMessage(Duration.ofSeconds(5));
    assertThat(ok.outcome()).isEqualTo(Router.Outcome.SERVED);
    assertThat(ok.instance()).contains("second");
    // failed after tokens went out to its client: not served again, the client hears why
    router.tell(new Router.Request(2, 100, 0, 10, responses.getRef()));
    awaitPending(first, 1);
    first.failOldest(true, false);
    Router.Response broken = responses.receiveMessage(Duration.ofSeconds(5));
    assertThat(broken.outcome()).isEqualTo(Router.Outcome.FAILED);
    assertThat(broken.error().orElseThrow()).contains("after its first tokens");
    assertThat(second.pending).isEmpty();
    // a cancel goes to the instance serving it; its answer is "cancelled", never retried
    router.tell(new Router.Request(3, 100, 0, 10, responses.getRef()));
    awaitPending(first, 1);
    router.tell(new Router.Cancel(3));
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (first.cancels.isEmpty() && System.nanoTime() < deadline) {
      sleep(20);
    }
    assertThat(first.cancels).containsExactly(3L);
    first.failOldest(false, true);
    assertThat(responses.receiveMessage(Duration.ofSeconds(5)).outcome()).isEqualTo(Router.Outcome.CANCELLED);
    assertThat(second.pending).isEmpty();
  }

  private static void awaitPending(FakeInstance i, int n) {
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (i.pending.size() < n && System.nanoTime() < deadline) {
      sleep(20);
    }
    assertThat(i.pending).hasSize(n);
  }

  private static ActorRef<Router.Command> router(Router.Instances instances, ActorRef<Topic.Command<PoolRoutes>> topic,
      ActorRef<ClusterManager.Command> observed, ClusterManager.PoolRefs pools, Duration reportEvery, double speedup) {
    return KIT.spawn(Router.create(new Router.Wiring(ClassThresholds.DEFAULT, new RoutingPolicy(D.routing()), instances,
        topic, observed, pools, sloStore(), SLOS, reportEvery, new ModelClock(speedup))));
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
