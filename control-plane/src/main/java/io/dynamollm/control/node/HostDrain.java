package io.dynamollm.control.node;

import io.dynamollm.instance.HostAgent;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * A GPU host that stops on purpose (SIGTERM, Ctrl-C: a rolling restart) drains before it leaves the cluster: it
 * withdraws its host agent from the receptionist, so that placement puts nothing new on it and every pool with an
 * instance here starts a replacement on another host ({@code PoolStep.hostsListed}) and drains this one once that
 * serves; the node leaves when it holds no GPU any more, or after {@code timeout}. Nothing is waited for when this is
 * the cluster's only GPU host (there is nowhere to move) or when the cluster stopped the node (downed: the others
 * have replaced it already), and the wait ends as soon as no other GPU host is listed any more: when the whole
 * cluster stops at once every host withdraws, none could take another's instances, and each would otherwise wait
 * out its {@code timeout}.
 */
final class HostDrain {
  private HostDrain() {}

  static CompletionStage<Done> run(ActorSystem<?> system, ActorRef<HostAgent.Command> agent, Duration timeout) {
    var reason = CoordinatedShutdown.get(system).getShutdownReason();
    if (reason.isPresent() && (reason.get().equals(CoordinatedShutdown.clusterDowningReason())
        || reason.get().equals(CoordinatedShutdown.clusterLeavingReason())
        || reason.get().equals(CoordinatedShutdown.clusterJoinUnsuccessfulReason()))) {
      return CompletableFuture.completedFuture(Done.getInstance());
    }
    return others(system, agent, Duration.ofSeconds(3)).thenCompose(listed -> {
      if (!listed) {
        return CompletableFuture.completedFuture(Done.getInstance());
      }
      system.receptionist().tell(Receptionist.deregister(HostAgent.KEY, agent));
      system.log().info("draining this GPU host before it leaves: its instances move to other hosts (up to {} s)",
          timeout.toSeconds());
      CompletableFuture<Done> drained = new CompletableFuture<>();
      poll(system, agent, System.nanoTime() + timeout.toNanos(), drained);
      return drained;
    }).exceptionally(e -> Done.getInstance());
  }

  private static void poll(ActorSystem<?> system, ActorRef<HostAgent.Command> agent, long deadline,
      CompletableFuture<Done> drained) {
    Duration ask = Duration.ofSeconds(3);
    AskPattern.ask(agent, HostAgent.GetInventory::new, ask, system.scheduler())
        .thenCombine(others(system, agent, ask), (inv, listed) -> {
          if (inv.holders().isEmpty()) {
            return true;
          }
          if (!listed) {
            system.log().info("every other GPU host is leaving too (none is listed): there is nowhere to move this"
                + " host's instances, leaving now");
            return true;
          }
          return false;
        })
        .whenComplete((leave, err) -> {
          boolean late = System.nanoTime() > deadline;
          if (Boolean.TRUE.equals(leave) || late) {
            if (!Boolean.TRUE.equals(leave)) {
              system.log().warn("leaving with instances still on this host: they did not drain in time");
            }
            drained.complete(Done.getInstance());
            return;
          }
          system.scheduler().scheduleOnce(Duration.ofMillis(500), () -> poll(system, agent, deadline, drained),
              system.executionContext());
        });
  }

  /** Whether the receptionist lists a GPU host other than this one: one that could take this host's instances. */
  private static CompletionStage<Boolean> others(ActorSystem<?> system, ActorRef<HostAgent.Command> agent,
      Duration ask) {
    return AskPattern.ask(system.receptionist(),
            (ActorRef<Receptionist.Listing> reply) -> Receptionist.find(HostAgent.KEY, reply), ask, system.scheduler())
        .thenApply(l -> l.getServiceInstances(HostAgent.KEY).stream().anyMatch(a -> !a.equals(agent)));
  }
}
