package io.dynamollm.control.node;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.remote.RemoteActorRefProvider;
import org.apache.pekko.remote.transport.ThrottlerTransportAdapter;

/**
 * Network partitions for the failure tests, inside the node: Artery's test transport drops every message between
 * this node and the nodes named (both directions), and lets everything through again when they are no longer named.
 * Needs {@code pekko.remote.artery.advanced.test-mode = on}, which {@code dynamollm.node.test-endpoints = on} sets;
 * never on in production. Only Artery (cluster) traffic is cut: the admin API and the front door still answer.
 */
public final class ArteryBlackhole {
  private final ActorSystem<?> system;
  /** What was cut before: healed when no longer named, even once those nodes have left the membership. */
  private final Set<Address> wasCut = java.util.concurrent.ConcurrentHashMap.newKeySet();

  public ArteryBlackhole(ActorSystem<?> system) {
    this.system = system;
  }

  /**
   * Blackholes {@code cut} (host and port of cluster nodes) and lets every other member, and every node cut before,
   * through.
   */
  public CompletionStage<List<String>> apply(Set<String> cut) {
    ExtendedActorSystem classic = (ExtendedActorSystem) Adapter.toClassic(system);
    var transport = ((RemoteActorRefProvider) classic.provider()).transport();
    Address self = Cluster.get(system).selfMember().address();
    Set<Address> all = new HashSet<>();
    for (Member m : Cluster.get(system).state().getMembers()) {
      all.add(m.address());
    }
    List<String> blackholed = new ArrayList<>();
    for (String hostPort : cut) {
      String[] hp = hostPort.split(":");
      if (hp.length != 2 || !hp[1].matches("\\d{1,5}")) {
        throw new IllegalArgumentException("'" + hostPort + "' is not host:port");
      }
      all.add(new Address("pekko", self.system(), hp[0], Integer.parseInt(hp[1])));
    }
    all.addAll(wasCut);
    all.remove(self);
    List<CompletableFuture<Object>> done = new ArrayList<>();
    for (Address a : all) {
      boolean blackhole = cut.contains(a.host().get() + ":" + a.port().get());
      if (blackhole) {
        blackholed.add(a.toString());
        wasCut.add(a);
      }
      ThrottlerTransportAdapter.ThrottleMode mode = blackhole
          ? ThrottlerTransportAdapter.blackholeThrottleMode() : ThrottlerTransportAdapter.unthrottledThrottleMode();
      done.add(scala.jdk.javaapi.FutureConverters.asJava(transport.managementCommand(
          new ThrottlerTransportAdapter.SetThrottle(a, ThrottlerTransportAdapter.bothDirection(), mode)))
          .toCompletableFuture());
    }
    return CompletableFuture.allOf(done.toArray(CompletableFuture[]::new)).thenApply(v -> {
      blackholed.sort(null);
      return List.copyOf(blackholed);
    });
  }
}
