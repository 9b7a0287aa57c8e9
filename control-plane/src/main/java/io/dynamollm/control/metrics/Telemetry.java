package io.dynamollm.control.metrics;

import io.dynamollm.decision.cluster.ClusterStep;

import io.dynamollm.control.live.LiveViews;
import io.dynamollm.control.live.Router;
import io.dynamollm.instance.HostAgent;
import io.dynamollm.pool.PoolManager;
import io.dynamollm.protocol.RequestType;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * What a node reads of the live control plane every few seconds, for its metrics' gauges, the dashboard's charts and
 * the console's status line: this node's GPUs (its host agent), and on control nodes the pools, the router's
 * statistics and every GPU host's power and energy. Only the node that runs the cluster manager exports the pools
 * and the cluster totals as metrics ({@link Sample#exportsCluster}), so that a sum over nodes counts them once.
 * The last {@value #HISTORY} samples' cluster figures are kept for the dashboard's charts.
 */
public final class Telemetry implements AutoCloseable {
  /** Samples kept for the dashboard: 30 minutes at the default 2 s. */
  public static final int HISTORY = 900;

  /** Every GPU host's GPUs together. */
  public record ClusterTotals(double powerW, double energyJ, int gpus, int hosts) {}

  /**
   * One reading.
   *
   * @param atMillis wall-clock time of the reading
   * @param host this node's host id (the {@code Hostname} of its GPUs)
   * @param gpus this node's GPUs (gpu-host nodes)
   * @param pools every pool, as its manager sees it (control nodes)
   * @param stats this node's router's statistics (control nodes)
   * @param cluster every GPU host together (control nodes)
   * @param exportsCluster whether this node runs the cluster manager (and so exports pools and cluster totals)
   * @param power the watt budget and how it is held (control nodes)
   */
  public record Sample(long atMillis, String host, Optional<HostAgent.Inventory> gpus,
      List<PoolManager.PoolView> pools, Optional<Router.Stats> stats, Optional<ClusterTotals> cluster,
      boolean exportsCluster, Optional<ClusterStep.PowerStatus> power) {
    public static Sample empty(String host) {
      return new Sample(0, host, Optional.empty(), List.of(), Optional.empty(), Optional.empty(), false,
          Optional.empty());
    }

    /** The watt budget's state, where this node exports it. */
    public Optional<ClusterStep.PowerStatus> exportedPower() {
      return exportsCluster ? power : Optional.empty();
    }

    /** The pools, where this node exports them; empty elsewhere. */
    public List<PoolManager.PoolView> exportedPools() {
      return exportsCluster ? pools : List.of();
    }

    /** The cluster totals, where this node exports them. */
    public Optional<ClusterTotals> exportedCluster() {
      return exportsCluster ? cluster : Optional.empty();
    }
  }

  /**
   * One point of the dashboard's history: cluster power and energy, this node's router's counts by type (cumulative)
   * and each pool's planned load, observed load and capacity (req/s).
   */
  public record Point(long atMillis, double powerW, double energyJ, Map<RequestType, Long> served,
      Map<RequestType, Long> met, Map<String, PoolLoad> pools) {}

  /** A pool's load and capacity at one point, req/s (model time). */
  public record PoolLoad(double plannedRps, double observedRps, double capacityRps) {}

  private final ActorSystem<?> system;
  private final Optional<ActorRef<HostAgent.Command>> agent;
  private final Optional<LiveViews> views;
  private final Duration timeout;
  private final AtomicReference<Sample> latest;
  private final ArrayDeque<Point> history = new ArrayDeque<>();
  private final AtomicBoolean reading = new AtomicBoolean();
  private volatile Cancellable ticks;

  /**
   * @param agent this node's host agent (gpu-host nodes)
   * @param views the live control plane's views (control nodes)
   * @param host this node's host id
   */
  public Telemetry(ActorSystem<?> system, Optional<ActorRef<HostAgent.Command>> agent, Optional<LiveViews> views,
      String host, Duration timeout) {
    this.system = system;
    this.agent = agent;
    this.views = views.filter(LiveViews::control);
    this.timeout = timeout;
    this.latest = new AtomicReference<>(Sample.empty(host));
  }

  /** Reads every {@code every} from now on (the first reading at once). */
  public Telemetry start(Duration every) {
    ticks = system.scheduler().scheduleAtFixedRate(Duration.ZERO, every, this::read, system.executionContext());
    return this;
  }

  @Override
  public void close() {
    Cancellable t = ticks;
    if (t != null) {
      t.cancel();
    }
  }

  /** The last reading. */
  public Sample latest() {
    return latest.get();
  }

  /** The dashboard's history, oldest first. */
  public synchronized List<Point> history() {
    return new ArrayList<>(history);
  }

  /** Reads once (a reading still running is not overlapped). */
  public CompletionStage<Sample> read() {
    if (!reading.compareAndSet(false, true)) {
      return CompletableFuture.completedFuture(latest.get());
    }
    Sample before = latest.get();
    CompletableFuture<Optional<HostAgent.Inventory>> gpus = agent.map(a -> AskPattern
            .<HostAgent.Command, HostAgent.Inventory>ask(a, HostAgent.GetInventory::new, timeout, system.scheduler())
            .toCompletableFuture().thenApply(Optional::of).exceptionally(e -> before.gpus()))
        .orElse(CompletableFuture.completedFuture(Optional.empty()));
    CompletableFuture<Optional<LiveViews.PoolsNow>> pools = views.map(v -> v.poolViews().toCompletableFuture()
            .exceptionally(e -> before.stats().map(st -> new LiveViews.PoolsNow(before.pools(), st,
                before.power().orElse(null)))))
        .orElse(CompletableFuture.completedFuture(Optional.empty()));
    CompletableFuture<Optional<ClusterTotals>> cluster = views.map(v -> v.inventories().toCompletableFuture()
            .thenApply(all -> Optional.of(totals(all))).exceptionally(e -> before.cluster()))
        .orElse(CompletableFuture.completedFuture(Optional.empty()));
    return CompletableFuture.allOf(gpus, pools, cluster).handle((x, err) -> {
      Optional<LiveViews.PoolsNow> p = pools.getNow(Optional.empty());
      Sample s = new Sample(System.currentTimeMillis(), before.host(), gpus.getNow(before.gpus()),
          p.map(LiveViews.PoolsNow::pools).orElse(before.pools()), p.map(LiveViews.PoolsNow::stats),
          cluster.getNow(before.cluster()), views.isPresent() && runsClusterManager(),
          p.map(LiveViews.PoolsNow::power).or(() -> before.power()));
      latest.set(s);
      remember(s);
      reading.set(false);
      return s;
    });
  }

  private synchronized void remember(Sample s) {
    if (s.cluster().isEmpty() && s.stats().isEmpty()) {
      return;
    }
    ClusterTotals c = s.cluster().orElse(new ClusterTotals(0, 0, 0, 0));
    Map<String, PoolLoad> pools = new java.util.TreeMap<>();
    for (PoolManager.PoolView p : s.pools()) {
      pools.put(p.pool(), new PoolLoad(p.plannedLoadRps(), s.stats().map(st -> st.loadRps(p)).orElse(0.0),
          p.capacityRps()));
    }
    history.addLast(new Point(s.atMillis(), c.powerW(), c.energyJ(),
        s.stats().map(Router.Stats::served).orElse(Map.of()), s.stats().map(Router.Stats::met).orElse(Map.of()),
        pools));
    while (history.size() > HISTORY) {
      history.removeFirst();
    }
  }

  private static ClusterTotals totals(List<LiveViews.HostInventory> all) {
    double w = 0;
    double j = 0;
    int g = 0;
    for (LiveViews.HostInventory h : all) {
      w += h.inventory().powerW();
      j += h.inventory().totalEnergyMj() / 1000.0;
      g += h.inventory().gpus().size();
    }
    return new ClusterTotals(w, j, g, all.size());
  }

  /** Whether this node is the oldest Up control member: where the cluster manager (a singleton) runs. */
  private boolean runsClusterManager() {
    Cluster cluster = Cluster.get(system);
    Member self = cluster.selfMember();
    Member oldest = null;
    for (Member m : cluster.state().getMembers()) {
      if (m.hasRole("control") && m.status() == MemberStatus.up() && (oldest == null || m.isOlderThan(oldest))) {
        oldest = m;
      }
    }
    return oldest != null && oldest.equals(self);
  }
}
