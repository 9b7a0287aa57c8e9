package io.dynamollm.control.live;

import io.dynamollm.control.admin.LiveView;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.pool.PoolManager;
import io.dynamollm.protocol.Decision;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.typed.Cluster;

/** The admin API's view of the live control plane: it asks the actors and shapes their answers as JSON maps. */
public final class LiveViews implements LiveView {
  private final ActorSystem<?> system;
  private final Optional<LiveControlPlane> live;
  private final Duration timeout;

  /** @param live this node's live parts (the control role's are absent on a gpu-host-only node) */
  public LiveViews(ActorSystem<?> system, Optional<LiveControlPlane> live, Duration timeout) {
    this.system = system;
    this.live = live.filter(l -> l.router().isPresent());
    this.timeout = timeout;
  }

  @Override
  public boolean control() {
    return live.isPresent();
  }

  /** One GPU host's inventory as its agent answered it. */
  public record HostInventory(String host, HostAgent.Inventory inventory) {}

  /** Every listed GPU host's inventory, by host id. */
  public CompletionStage<List<HostInventory>> inventories() {
    CompletionStage<Receptionist.Listing> listing = AskPattern.ask(system.receptionist(),
        (ActorRef<Receptionist.Listing> reply) -> Receptionist.find(HostAgent.KEY, reply), timeout,
        system.scheduler());
    return listing.thenCompose(l -> {
      List<CompletableFuture<HostInventory>> each = new ArrayList<>();
      for (var agent : l.getServiceInstances(HostAgent.KEY)) {
        String host = agent.path().address().hasGlobalScope()
            ? io.dynamollm.instance.InstanceManager.hostId(agent.path().address())
            : io.dynamollm.instance.InstanceManager.hostId(Cluster.get(system).selfMember().address());
        each.add(AskPattern.<HostAgent.Command, HostAgent.Inventory>ask(agent, HostAgent.GetInventory::new, timeout,
                system.scheduler())
            .toCompletableFuture().thenApply(inv -> new HostInventory(host, inv)));
      }
      return CompletableFuture.allOf(each.toArray(new CompletableFuture[0]))
          .thenApply(x -> each.stream().map(CompletableFuture::join)
              .sorted(Comparator.comparing(HostInventory::host)).toList());
    });
  }

  @Override
  public CompletionStage<List<Map<String, Object>>> hosts() {
    return inventories().thenApply(all -> all.stream().map(h -> {
      HostAgent.Inventory inv = h.inventory();
      Map<String, Object> o = new LinkedHashMap<>();
      o.put("host", h.host());
      o.put("gpus", inv.gpus().size());
      o.put("held", inv.holders().size());
      o.put("excluded", inv.excluded().size());
      o.put("power_w", Math.round(inv.powerW() * 10) / 10.0);
      o.put("energy_kwh", Math.round(inv.totalEnergyMj() / 3.6e9 * 10_000) / 10_000.0);
      return o;
    }).toList());
  }

  /** Every pool of the current epoch as its manager sees it, and this node's router's statistics. */
  public record PoolsNow(List<PoolManager.PoolView> pools, Router.Stats stats,
      io.dynamollm.decision.cluster.ClusterStep.PowerStatus power) {}

  /** The pools and router statistics; empty pools on a node without the control role. */
  public CompletionStage<Optional<PoolsNow>> poolViews() {
    if (live.isEmpty()) {
      return CompletableFuture.completedFuture(Optional.empty());
    }
    LiveControlPlane l = live.get();
    CompletionStage<ClusterManager.Pools> names = AskPattern.ask(l.clusterManager().orElseThrow(),
        ClusterManager.GetPools::new, timeout, system.scheduler());
    CompletionStage<Router.Stats> stats = AskPattern.ask(l.router().orElseThrow(), Router.GetStats::new, timeout,
        system.scheduler());
    return names.thenCompose(n -> {
      List<CompletableFuture<PoolManager.PoolView>> views = new ArrayList<>();
      for (String pool : n.names()) {
        views.add(l.pool(pool).<PoolManager.PoolView>ask(PoolManager.GetView::new, timeout).toCompletableFuture());
      }
      return CompletableFuture.allOf(views.toArray(new CompletableFuture[0])).thenCombine(stats,
          (x, st) -> Optional.of(new PoolsNow(views.stream().map(CompletableFuture::join).toList(), st, n.power())));
    });
  }

  @Override
  public CompletionStage<List<Map<String, Object>>> pools() {
    return poolViews().thenApply(now -> now.map(n -> n.pools().stream().map(v -> pool(v, n.stats())).toList())
        .orElse(List.of()));
  }

  private static Map<String, Object> pool(PoolManager.PoolView v, Router.Stats st) {
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("pool", v.pool());
    p.put("types", v.types().stream().map(Enum::name).toList());
    p.put("budget_gpus", v.budgetGpus());
    p.put("plan", v.plan());
    List<Map<String, Object>> inst = new ArrayList<>();
    for (PoolManager.InstanceView i : v.instances()) {
      Map<String, Object> o = new LinkedHashMap<>();
      o.put("id", i.id());
      o.put("host", io.dynamollm.instance.InstanceManager.hostOf(i.id()));
      o.put("gpus", i.gpus());
      o.put("tp", i.tp());
      o.put("freq_mhz", i.freqMhz());
      o.put("state", i.state().name().toLowerCase(Locale.ROOT));
      o.put("load_rps", Math.round(st.loadRps().getOrDefault(i.id(), 0.0) * 1000) / 1000.0);
      o.put("power_w", Math.round(i.powerW() * 10) / 10.0);
      o.put("energy_j", Math.round(i.energyJ()));
      Map<String, Object> ladder = new LinkedHashMap<>();
      ladder.put("reordered", i.ladder().reordered());
      ladder.put("max_clock_raises", i.ladder().maxClockRaises());
      ladder.put("rerouted", i.ladder().rerouted());
      ladder.put("rejected", i.ladder().rejected());
      o.put("ladder", ladder);
      inst.add(o);
    }
    p.put("instances", inst);
    p.put("attainment", Math.round(st.attainment(v.types()) * 10000) / 10000.0);
    p.put("capacity_correction", Math.round(v.capacityCorrection() * 1000) / 1000.0);
    List<Map<String, Object>> factors = new ArrayList<>();
    for (var f : v.profileFactors()) {
      Map<String, Object> o = new LinkedHashMap<>();
      o.put("tp", f.tp());
      o.put("clock_mhz", f.clockMhz());
      o.put("decode_time", Math.round(f.decodeTime() * 1000) / 1000.0);
      o.put("power", Math.round(f.power() * 1000) / 1000.0);
      o.put("samples", f.samples());
      o.put("prefill_time", Math.round(f.prefillTime() * 1000) / 1000.0);
      o.put("prefill_samples", f.prefillSamples());
      factors.add(o);
    }
    p.put("profile_factors", factors);
    p.put("planned_load_rps", Math.round(v.plannedLoadRps() * 1000) / 1000.0);
    p.put("capacity_rps", Math.round(v.capacityRps() * 1000) / 1000.0);
    p.put("observed_load_rps", Math.round(st.loadRps(v) * 1000) / 1000.0);
    return p;
  }

  @Override
  public CompletionStage<Map<String, Object>> preview(io.dynamollm.protocol.SloTable slos,
      io.dynamollm.control.cluster.ClusterLimits limits) {
    if (live.isEmpty()) {
      return CompletableFuture.completedFuture(Map.of("error", "this node has no control role: ask a control node"));
    }
    CompletionStage<ClusterManager.PreviewAnswer> a = AskPattern.ask(live.get().clusterManager().orElseThrow(),
        (ActorRef<ClusterManager.PreviewAnswer> reply) -> new ClusterManager.Preview(slos, limits, reply),
        timeout, system.scheduler());
    return a.thenApply(ans -> PreviewJson.of(ans, slos));
  }

  @Override
  public CompletionStage<List<Map<String, Object>>> decisions(int limit) {
    if (live.isEmpty()) {
      return CompletableFuture.completedFuture(List.of());
    }
    CompletionStage<List<Decision>> recent = AskPattern.ask(live.get().decisionLog().orElseThrow(),
        (ActorRef<List<Decision>> reply) -> new DecisionLog.Recent(limit, reply), timeout, system.scheduler());
    return recent.thenApply(ds -> {
      List<Map<String, Object>> out = new ArrayList<>();
      for (Decision d : ds) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("at", d.atMillis());
        o.put("model_ms", d.modelMillis());
        o.put("level", d.level());
        o.put("target", d.target());
        o.put("action", d.action());
        o.put("reason", d.reason());
        o.put("predicted_saving_w", Math.round(d.predictedSavingW() * 10) / 10.0);
        out.add(o);
      }
      return out;
    });
  }
}
