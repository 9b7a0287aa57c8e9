package io.dynamollm.control.ops;

import io.dynamollm.control.cluster.LimitsStore;
import io.dynamollm.control.cluster.SloStore;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.AbstractExtensionId;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.Extension;
import org.apache.pekko.actor.ExtensionIdProvider;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/**
 * What the node's health checks look at, per actor system (a Pekko extension, so that Pekko Management's checks —
 * created by class name — find the node they belong to): its stores and, on control nodes, whether the front door
 * is bound. {@code Node} fills it in as it starts.
 */
public final class NodeHealth implements Extension {
  /** The extension's id. */
  public static final class Id extends AbstractExtensionId<NodeHealth> implements ExtensionIdProvider {
    public static final Id INSTANCE = new Id();

    private Id() {}

    @Override
    public NodeHealth createExtension(ExtendedActorSystem system) {
      return new NodeHealth(system);
    }

    @Override
    public Id lookup() {
      return INSTANCE;
    }
  }

  private final ExtendedActorSystem system;
  private volatile Optional<ActorRef<SloStore.Command>> slos = Optional.empty();
  private volatile Optional<ActorRef<LimitsStore.Command>> limits = Optional.empty();
  private volatile boolean frontDoorExpected;
  private volatile boolean frontDoorBound;

  private NodeHealth(ExtendedActorSystem system) {
    this.system = system;
  }

  public static NodeHealth get(org.apache.pekko.actor.ActorSystem system) {
    return Id.INSTANCE.get(system);
  }

  public static NodeHealth get(org.apache.pekko.actor.typed.ActorSystem<?> system) {
    return get(Adapter.toClassic(system));
  }

  /** The node's stores, once started. */
  public void stores(ActorRef<SloStore.Command> slos, ActorRef<LimitsStore.Command> limits) {
    this.slos = Optional.of(slos);
    this.limits = Optional.of(limits);
  }

  /** This node serves a front door: it is ready only once it is bound. */
  public void expectFrontDoor() {
    frontDoorExpected = true;
  }

  public void frontDoorBound() {
    frontDoorBound = true;
  }

  /** Whether the front door, where this node has one, is bound. */
  public boolean frontDoorReady() {
    return !frontDoorExpected || frontDoorBound;
  }

  /** Whether both stores answer a read within {@code timeout}; false before they started. */
  public CompletionStage<Boolean> storesReadable(Duration timeout) {
    if (slos.isEmpty() || limits.isEmpty()) {
      return CompletableFuture.completedFuture(false);
    }
    var typed = Adapter.toTyped(system);
    CompletionStage<Object> a = AskPattern.ask(slos.get(), SloStore.Get::new, timeout, typed.scheduler())
        .thenApply(x -> x);
    CompletionStage<Object> b = AskPattern.ask(limits.get(), LimitsStore.Get::new, timeout, typed.scheduler())
        .thenApply(x -> x);
    return a.thenCombine(b, (x, y) -> true).exceptionally(e -> false);
  }
}
