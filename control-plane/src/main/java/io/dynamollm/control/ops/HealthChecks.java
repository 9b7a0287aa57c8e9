package io.dynamollm.control.ops;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import org.apache.pekko.actor.ActorSystem;

/**
 * The node's own checks behind Pekko Management's {@code /ready} and {@code /alive} (configured by class name in
 * {@code pekko.management.health-checks}; Pekko Management's cluster module adds "member is Up" to readiness).
 */
public final class HealthChecks {
  private HealthChecks() {}

  /** Ready: the SLO and limits stores answer a read. */
  public static final class StoresReadable implements Supplier<CompletionStage<Boolean>> {
    private final ActorSystem system;

    public StoresReadable(ActorSystem system) {
      this.system = system;
    }

    @Override
    public CompletionStage<Boolean> get() {
      return NodeHealth.get(system).storesReadable(Duration.ofMillis(800));
    }
  }

  /** Ready: on a control node with a front door, the front door is bound. */
  public static final class FrontDoorBound implements Supplier<CompletionStage<Boolean>> {
    private final ActorSystem system;

    public FrontDoorBound(ActorSystem system) {
      this.system = system;
    }

    @Override
    public CompletionStage<Boolean> get() {
      return CompletableFuture.completedFuture(NodeHealth.get(system).frontDoorReady());
    }
  }

  /** Alive: the actor system runs (not terminated, nor terminating). */
  public static final class SystemRunning implements Supplier<CompletionStage<Boolean>> {
    private final ActorSystem system;

    public SystemRunning(ActorSystem system) {
      this.system = system;
    }

    @Override
    public CompletionStage<Boolean> get() {
      return CompletableFuture.completedFuture(!system.whenTerminated().isCompleted());
    }
  }
}
