package io.dynamollm.decision.routing;

import io.dynamollm.protocol.PoolRoutes;
import io.dynamollm.protocol.RequestType;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.ToIntFunction;

/**
 * Where a request goes, and where an instance's waiting request may go instead: one rule for the live routers and the
 * simulator. Pure: the caller passes what it knows of the pools (their ready instances, each with its planned capacity
 * and the requests it has outstanding).
 *
 * <ol>
 *   <li>The pool that serves the request's type, its ready instance with the least outstanding work for its planned
 *       capacity ({@code (outstanding + 1) / capacity}).
 *   <li>Overflow: when that instance's score is above {@code overflowScore} (the pool is past its planned capacity),
 *       a pool of a larger type (one that covers the type in both input and output class) takes the request if one of
 *       its instances scores below {@code overflowRatio} times that.
 *   <li>A type whose pool has no ready instance goes to the best instance of a larger pool, else of any pool (every
 *       instance serves the same model; only efficiency differs).
 *   <li>Nothing ready anywhere: the request is held (up to {@code holdTimeoutMs}, at most {@code maxHeld} requests),
 *       and routed again when an instance becomes ready.
 *   <li>Admission: when even the instance chosen (the best of its pool) already has {@code maxOutstanding} requests
 *       outstanding, the pool's queue is past its bound and the request is shed at once ({@link Shed}: a front door
 *       answers 429 with Retry-After) rather than queued behind work it cannot finish in time.
 * </ol>
 *
 * Re-routing (the emergency ladder's third rung) sends a request that has not started to another ready instance of the
 * same pool or of a larger one whose queue is empty, the best-scoring one; there is none when no such instance exists.
 */
public final class RoutingPolicy {

  /**
   * The routing rule's tuning ({@code dynamollm.decisions.routing}).
   *
   * @param overflowScore outstanding requests per req/s of planned capacity above which a request may overflow
   * @param overflowRatio it overflows to an instance of a larger pool scoring below this share of that
   * @param holdTimeoutMs a held request fails after this long
   * @param maxHeld at most this many requests are held
   * @param maxOutstanding a request is shed when the instance it would go to already has this many outstanding
   */
  public record Settings(double overflowScore, double overflowRatio, long holdTimeoutMs, int maxHeld,
      int maxOutstanding) {
    public Settings {
      if (!(overflowScore > 0) || Double.isInfinite(overflowScore)) {
        throw new IllegalArgumentException("overflow-score must be a finite number > 0, got " + overflowScore);
      }
      if (!(overflowRatio > 0 && overflowRatio <= 1)) {
        throw new IllegalArgumentException("overflow-ratio must be within (0, 1], got " + overflowRatio);
      }
      if (holdTimeoutMs < 0 || maxHeld < 0) {
        throw new IllegalArgumentException("hold-timeout and max-held must be >= 0, got " + holdTimeoutMs + " ms, "
            + maxHeld);
      }
      if (maxOutstanding < 1) {
        throw new IllegalArgumentException("max-outstanding must be >= 1, got " + maxOutstanding);
      }
    }

    /** Without a bound on outstanding requests (tests of the other rules). */
    public Settings(double overflowScore, double overflowRatio, long holdTimeoutMs, int maxHeld) {
      this(overflowScore, overflowRatio, holdTimeoutMs, maxHeld, Integer.MAX_VALUE);
    }
  }

  /** A ready instance as the router sees it. */
  public interface Candidate {
    String id();

    /** Its planned capacity (its pool's plan), req/s. */
    double capacityRps();

    /** Requests sent to it and not answered yet. */
    int outstanding();

    /** Of those, requests not started yet (what the caller knows; 0 when it cannot tell). */
    int waiting();

    /** Outstanding work for its capacity, counting the request about to be sent. */
    default double score() {
      return (outstanding() + 1) / Math.max(1e-6, capacityRps());
    }
  }

  /** A {@link Candidate} as a value. */
  public record Ready(String id, double capacityRps, int outstanding, int waiting) implements Candidate {
    public Ready {
      Objects.requireNonNull(id, "id");
    }
  }

  /** One pool as the router sees it. */
  public interface PoolView {
    String pool();

    /** The type its instances are sized for. */
    RequestType nativeType();

    /** The types it serves. */
    Set<RequestType> types();

    /** Its ready instances (never draining, stopped or unreachable ones). */
    List<? extends Candidate> ready();
  }

  /** A {@link PoolView} as a value. */
  public record Pool(String pool, RequestType nativeType, Set<RequestType> types, List<? extends Candidate> ready)
      implements PoolView {
    public Pool {
      Objects.requireNonNull(pool, "pool");
      Objects.requireNonNull(nativeType, "nativeType");
      types = Set.copyOf(types);
      ready = List.copyOf(ready);
    }

    /**
     * The pool as its published routes show it; {@code outstanding} is what the caller counts as each instance's
     * outstanding requests (a router its own; a pool manager the instance's queue).
     */
    public static Pool of(PoolRoutes routes, ToIntFunction<PoolRoutes.Ready> outstanding) {
      List<Ready> ready = new ArrayList<>(routes.ready().size());
      for (PoolRoutes.Ready r : routes.ready()) {
        ready.add(new Ready(r.instanceId(), r.capacityRps(), outstanding.applyAsInt(r), r.queued()));
      }
      return new Pool(routes.pool(), routes.nativeType(), routes.types(), ready);
    }
  }

  /** The routing decision. */
  public sealed interface Choice permits Route, Hold, Shed {}

  /**
   * Send it to {@code instance} of {@code pool}.
   *
   * @param overflow it went to a larger pool because its own was past its planned capacity
   */
  public record Route(String pool, String instance, boolean overflow) implements Choice {}

  /** No instance is ready anywhere: hold it and try again when one is. */
  public record Hold(String reason) implements Choice {}

  /** The pool's queue is past its bound (admission control): refuse it now; the client may retry later. */
  public record Shed(String pool, String reason) implements Choice {}

  private final Settings settings;

  public RoutingPolicy(Settings settings) {
    this.settings = Objects.requireNonNull(settings, "settings");
  }

  public Settings settings() {
    return settings;
  }

  /**
   * @param type the request's (predicted) type
   * @param pools every pool the caller knows
   * @param avoid instances not to use (one that just failed the request)
   */
  public Choice route(RequestType type, Collection<? extends PoolView> pools, Set<String> avoid) {
    PoolView own = null;
    for (PoolView p : pools) {
      if (p.types().contains(type)) {
        own = p;
        break;
      }
    }
    Optional<Candidate> mine = own == null ? Optional.empty() : best(own, avoid);
    Scored chosen;
    if (mine.isPresent()) {
      Candidate c = mine.get();
      String ownName = own.pool();
      chosen = new Scored(new Route(ownName, c.id(), false), c);
      if (c.score() > settings.overflowScore()) {
        Scored larger = bestIn(pools, p -> !p.pool().equals(ownName) && p.nativeType().covers(type), avoid);
        if (larger != null && larger.score() < c.score() * settings.overflowRatio()) {
          chosen = new Scored(new Route(larger.route().pool(), larger.route().instance(), true), larger.candidate());
        }
      }
    } else {
      String ownName = own == null ? "" : own.pool();
      chosen = bestIn(pools, p -> !p.pool().equals(ownName) && p.nativeType().covers(type), avoid);
      if (chosen == null) {
        chosen = bestIn(pools, p -> true, avoid);
      }
    }
    if (chosen == null) {
      return new Hold(String.format(Locale.ROOT, "no ready instance serves %s (%d pools known)", type, pools.size()));
    }
    if (chosen.candidate().outstanding() >= settings.maxOutstanding()) {
      return new Shed(chosen.route().pool(), String.format(Locale.ROOT,
          "pool %s is at its queue bound: its least loaded instance has %d requests outstanding (max-outstanding %d)",
          chosen.route().pool(), chosen.candidate().outstanding(), settings.maxOutstanding()));
    }
    return chosen.route();
  }

  /** Whether a request no instance can take now may wait, {@code alreadyHeld} being held: else it fails at once. */
  public boolean mayHold(int alreadyHeld) {
    return alreadyHeld < settings.maxHeld();
  }

  /** Whether a request held since {@code heldSinceMs} has waited longer than a client would: it fails. */
  public boolean heldTooLong(double heldSinceMs, double nowMs) {
    return nowMs - heldSinceMs > settings.holdTimeoutMs();
  }

  /**
   * The ladder's re-route: another ready instance, of {@code fromPool} or of a pool whose native type covers
   * {@code type}, with an empty queue — the best-scoring one; empty when there is none.
   */
  public Optional<Route> reroute(RequestType type, String fromPool, String fromInstance,
      Collection<? extends PoolView> pools) {
    Route best = null;
    double bestScore = Double.POSITIVE_INFINITY;
    for (PoolView p : pools) {
      if (!p.pool().equals(fromPool) && !p.nativeType().covers(type)) {
        continue;
      }
      for (Candidate c : p.ready()) {
        if (!c.id().equals(fromInstance) && c.waiting() == 0 && c.score() < bestScore) {
          best = new Route(p.pool(), c.id(), !p.pool().equals(fromPool));
          bestScore = c.score();
        }
      }
    }
    return Optional.ofNullable(best);
  }

  private static Optional<Candidate> best(PoolView p, Set<String> avoid) {
    Candidate best = null;
    for (Candidate c : p.ready()) {
      if (!avoid.contains(c.id()) && (best == null || c.score() < best.score())) {
        best = c;
      }
    }
    return Optional.ofNullable(best);
  }

  private record Scored(Route route, Candidate candidate) {
    double score() {
      return candidate.score();
    }
  }

  /** The best-scoring instance of the pools {@code which} accepts; null when none has one. */
  private static Scored bestIn(Collection<? extends PoolView> pools, Predicate<PoolView> which, Set<String> avoid) {
    Scored best = null;
    for (PoolView p : pools) {
      if (!which.test(p)) {
        continue;
      }
      Optional<Candidate> c = best(p, avoid);
      if (c.isPresent() && (best == null || c.get().score() < best.score())) {
        best = new Scored(new Route(p.pool(), c.get().id(), false), c.get());
      }
    }
    return best;
  }
}
