package io.dynamollm.control.live;

import io.dynamollm.instance.HostAgent;
import io.dynamollm.instance.InstanceManager;
import io.dynamollm.pool.PoolManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * Chooses the GPU host of a new instance (on each control node): asks every host agent for its free GPUs and takes
 * the host with the fewest free GPUs that still fit (packing keeps whole hosts free for wide instances), counting
 * GPUs it promised in the last moments that the host has not reserved yet. The instance's id starts with the host's
 * id, which is also its shard: instance sharding places it on that host.
 */
public final class Placement {
  private Placement() {}

  private record Listing(Receptionist.Listing listing) implements PlacementCommand {}

  /** One host's free GPUs for placement {@code seq} (empty when it did not answer). */
  private record Free(long seq, String host, Optional<Integer> free) implements PlacementCommand {}

  /** Everything the placement actor receives. */
  public sealed interface PlacementCommand extends NoSerializationVerificationNeeded permits Listing, Free, Wrapped {}

  /** A placement waiting for the hosts' answers. */
  private static final class Gathering {
    final PoolManager.Place place;
    final Map<String, Integer> free = new HashMap<>();
    int pending;

    Gathering(PoolManager.Place place, int pending) {
      this.place = place;
      this.pending = pending;
    }
  }

  private record Wrapped(PoolManager.Place place) implements PlacementCommand {}

  /** The behavior the placement actor runs; pool managers talk to it through {@link #front}. */
  public static Behavior<PlacementCommand> create(
      java.util.function.Function<ActorRef<HostAgent.Command>, String> hostIdOf) {
    return Behaviors.setup(ctx -> new Running(ctx, hostIdOf).behavior());
  }

  /** A front that turns pool managers' {@link PoolManager.Place} into the placement's own messages. */
  public static Behavior<PoolManager.Place> front(ActorRef<PlacementCommand> placement) {
    return Behaviors.receive(PoolManager.Place.class).onMessage(PoolManager.Place.class, p -> {
      placement.tell(new Wrapped(p));
      return Behaviors.same();
    }).build();
  }

  private static final class Running {
    private final ActorContext<PlacementCommand> ctx;
    private final java.util.function.Function<ActorRef<HostAgent.Command>, String> hostIdOf;
    private Set<ActorRef<HostAgent.Command>> agents = Set.of();
    /** GPUs promised per host, not yet seen reserved: (time promised, gpus). */
    private final Map<String, List<long[]>> promised = new HashMap<>();
    private final String prefix = UUID.randomUUID().toString().substring(0, 4);
    private final Map<Long, Gathering> gathering = new HashMap<>();
    private long seq;
    private long asks;

    Running(ActorContext<PlacementCommand> ctx, java.util.function.Function<ActorRef<HostAgent.Command>, String> hostIdOf) {
      this.ctx = ctx;
      this.hostIdOf = hostIdOf;
      ctx.getSystem().receptionist().tell(Receptionist.subscribe(HostAgent.KEY,
          ctx.messageAdapter(Receptionist.Listing.class, Listing::new)));
    }

    Behavior<PlacementCommand> behavior() {
      return Behaviors.receive(PlacementCommand.class)
          .onMessage(Listing.class, l -> {
            agents = l.listing().getServiceInstances(HostAgent.KEY);
            return Behaviors.same();
          })
          .onMessage(Wrapped.class, w -> onPlace(w.place()))
          .onMessage(Free.class, this::onFree)
          .build();
    }

    /** Asks every host agent for its free GPUs (one ask each); decides when all answered or timed out. */
    private Behavior<PlacementCommand> onPlace(PoolManager.Place p) {
      long id = ++asks;
      gathering.put(id, new Gathering(p, agents.size()));
      if (agents.isEmpty()) {
        return decide(gathering.remove(id));
      }
      for (var a : agents) {
        String host = hostIdOf.apply(a);
        ctx.ask(HostAgent.Inventory.class, a, Duration.ofSeconds(3), HostAgent.GetInventory::new,
            (inv, err) -> new Free(id, host, Optional.ofNullable(inv).map(HostAgent.Inventory::free)));
      }
      return Behaviors.same();
    }

    private Behavior<PlacementCommand> onFree(Free f) {
      Gathering g = gathering.get(f.seq());
      if (g == null) {
        return Behaviors.same();
      }
      f.free().ifPresent(n -> g.free.put(f.host(), n));
      if (--g.pending == 0) {
        gathering.remove(f.seq());
        return decide(g);
      }
      return Behaviors.same();
    }

    private Behavior<PlacementCommand> decide(Gathering i) {
      long now = System.nanoTime();
      String best = null;
      int bestFree = Integer.MAX_VALUE;
      int need = i.place.tp().degree();
      for (var e : i.free.entrySet()) {
        List<long[]> p = promised.computeIfAbsent(e.getKey(), k -> new ArrayList<>());
        p.removeIf(x -> now - x[0] > Duration.ofSeconds(5).toNanos());
        int free = e.getValue() - p.stream().mapToInt(x -> (int) x[1]).sum();
        if (free >= need && free < bestFree) {
          best = e.getKey();
          bestFree = free;
        }
      }
      if (best == null) {
        i.place.replyTo().tell(new PoolManager.Placement(Optional.empty(), "no GPU host has " + need
            + " free GPUs (free per host: " + i.free + ")"));
        return Behaviors.same();
      }
      promised.get(best).add(new long[] {now, need});
      String id = best + InstanceManager.HOST_SEPARATOR + i.place.pool() + "-" + prefix + "-" + (++seq);
      i.place.replyTo().tell(new PoolManager.Placement(Optional.of(id), "on " + best));
      return Behaviors.same();
    }
  }
}
