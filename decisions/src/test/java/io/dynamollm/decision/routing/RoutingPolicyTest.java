package io.dynamollm.decision.routing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dynamollm.decision.routing.RoutingPolicy.Pool;
import io.dynamollm.decision.routing.RoutingPolicy.Ready;
import io.dynamollm.decision.routing.RoutingPolicy.Hold;
import io.dynamollm.decision.routing.RoutingPolicy.PoolView;
import io.dynamollm.decision.routing.RoutingPolicy.Route;
import io.dynamollm.protocol.PoolRoutes;
import io.dynamollm.protocol.RequestType;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The routing rule with numbers a reader can check: score = (outstanding + 1) / planned capacity. */
class RoutingPolicyTest {
  private static final RoutingPolicy POLICY = new RoutingPolicy(new RoutingPolicy.Settings(4.0, 0.5, 60_000, 100));

  private static PoolView pool(String name, RequestType nativeType, Set<RequestType> types, Ready... ready) {
    return new Pool(name, nativeType, types, List.of(ready));
  }

  @Test
  void theTypesPoolTakesItOnTheInstanceWithTheLeastWorkForItsCapacity() {
    // a: (3 + 1) / 2 = 2.0; b: (5 + 1) / 4 = 1.5 -> b
    var ms = pool("MS", RequestType.MS, Set.of(RequestType.MS, RequestType.SS),
        new Ready("a", 2, 3, 0), new Ready("b", 4, 5, 0));
    var ll = pool("LL", RequestType.LL, Set.of(RequestType.LL), new Ready("c", 10, 0, 0));
    assertThat(POLICY.route(RequestType.SS, List.of(ms, ll), Set.of())).isEqualTo(new Route("MS", "b", false));
    // an instance to avoid (it just failed the request) is skipped
    assertThat(POLICY.route(RequestType.SS, List.of(ms, ll), Set.of("b"))).isEqualTo(new Route("MS", "a", false));
  }

  @Test
  void pastItsPlannedCapacityItOverflowsToALargerPoolWithRoom() {
    // own pool's best: (9 + 1) / 2 = 5.0 > 4 -> a larger pool's instance scoring below 2.5 takes it
    var ms = pool("MS", RequestType.MS, Set.of(RequestType.MS), new Ready("a", 2, 9, 0));
    var ml = pool("ML", RequestType.ML, Set.of(RequestType.ML), new Ready("m", 2, 3, 0)); // 2.0: takes it
    var ls = pool("LS", RequestType.LS, Set.of(RequestType.LS), new Ready("l", 10, 0, 0)); // 0.1, but LS covers MS
    assertThat(POLICY.route(RequestType.MS, List.of(ms, ml, ls), Set.of())).isEqualTo(new Route("LS", "l", true));
    // a smaller pool (SS does not cover MS) never takes it
    var ss = pool("SS", RequestType.SS, Set.of(RequestType.SS), new Ready("s", 100, 0, 0));
    assertThat(POLICY.route(RequestType.MS, List.of(ms, ss), Set.of())).isEqualTo(new Route("MS", "a", false));
    // a larger pool not well below the own one's score: stays (ML at 2.0 vs 5.0 x 0.5 = 2.5 would take it; at 3.0 not)
    var busyMl = pool("ML", RequestType.ML, Set.of(RequestType.ML), new Ready("m", 2, 5, 0));
    assertThat(POLICY.route(RequestType.MS, List.of(ms, busyMl), Set.of())).isEqualTo(new Route("MS", "a", false));
  }

  @Test
  void aTypeWhosePoolHasNothingReadyGoesToALargerPoolElseAnyElseWaits() {
    var ms = pool("MS", RequestType.MS, Set.of(RequestType.MS)); // starting
    var ss = pool("SS", RequestType.SS, Set.of(RequestType.SS), new Ready("s", 5, 0, 0));
    var ll = pool("LL", RequestType.LL, Set.of(RequestType.LL), new Ready("l", 1, 4, 0));
    assertThat(POLICY.route(RequestType.MS, List.of(ms, ss, ll), Set.of())).isEqualTo(new Route("LL", "l", false));
    assertThat(POLICY.route(RequestType.MS, List.of(ms, ss), Set.of())).isEqualTo(new Route("SS", "s", false));
    assertThat(POLICY.route(RequestType.MS, List.of(ms), Set.of())).isInstanceOf(Hold.class);
  }

  @Test
  void aReRouteGoesToAnotherInstanceWithAnEmptyQueueOfTheSameOrALargerPool() {
    var ms = pool("MS", RequestType.MS, Set.of(RequestType.MS),
        new Ready("from", 2, 9, 6), new Ready("busy", 2, 1, 1), new Ready("free", 2, 3, 0));
    var ll = pool("LL", RequestType.LL, Set.of(RequestType.LL), new Ready("l", 8, 3, 0)); // 0.5: best
    var ss = pool("SS", RequestType.SS, Set.of(RequestType.SS), new Ready("s", 100, 0, 0)); // smaller: never
    assertThat(POLICY.reroute(RequestType.MS, "MS", "from", List.of(ms, ll, ss))).contains(new Route("LL", "l", true));
    assertThat(POLICY.reroute(RequestType.MS, "MS", "from", List.of(ms, ss))).contains(new Route("MS", "free", false));
    var alone = pool("MS", RequestType.MS, Set.of(RequestType.MS), new Ready("from", 2, 9, 6),
        new Ready("busy", 2, 1, 1));
    assertThat(POLICY.reroute(RequestType.MS, "MS", "from", List.of(alone, ss))).isEmpty();
  }

  @Test
  void aPoolWhoseLeastLoadedInstanceIsAtTheQueueBoundShedsTheRequest() {
    var bounded = new RoutingPolicy(new RoutingPolicy.Settings(4.0, 0.5, 60_000, 100, 8));
    var ms = pool("MS", RequestType.MS, Set.of(RequestType.MS), new Ready("a", 2, 8, 6), new Ready("b", 2, 7, 5));
    // b (7 outstanding) is below the bound: routed there
    assertThat(bounded.route(RequestType.MS, List.of(ms), Set.of())).isEqualTo(new Route("MS", "b", false));
    var full = pool("MS", RequestType.MS, Set.of(RequestType.MS), new Ready("a", 2, 8, 6), new Ready("b", 2, 9, 5));
    assertThat(bounded.route(RequestType.MS, List.of(full), Set.of()))
        .isInstanceOfSatisfying(RoutingPolicy.Shed.class, s -> {
          assertThat(s.pool()).isEqualTo("MS");
          assertThat(s.reason()).contains("8 requests outstanding", "max-outstanding 8");
        });
    // an overflow to a larger pool with room is taken before shedding
    var ll = pool("LL", RequestType.LL, Set.of(RequestType.LL), new Ready("l", 8, 0, 0));
    assertThat(bounded.route(RequestType.MS, List.of(full, ll), Set.of())).isEqualTo(new Route("LL", "l", true));
    assertThatThrownBy(() -> new RoutingPolicy.Settings(4.0, 0.5, 60_000, 100, 0))
        .hasMessageContaining("max-outstanding");
  }

  @Test
  void aRequestNothingCanTakeWaitsUpToMaxHeldAndTheHoldTimeout() {
    var small = new RoutingPolicy(new RoutingPolicy.Settings(4.0, 0.5, 60_000, 2));
    assertThat(small.mayHold(0)).isTrue();
    assertThat(small.mayHold(1)).isTrue();
    assertThat(small.mayHold(2)).isFalse(); // two already wait: the third fails at once
    assertThat(small.heldTooLong(1_000, 61_000)).isFalse(); // exactly the timeout: still waits
    assertThat(small.heldTooLong(1_000, 61_001)).isTrue();
  }

  @Test
  void publishedRoutesBecomeAPoolWithTheCallersOwnOutstandingCounts() {
    var routes = new PoolRoutes("MS", RequestType.MS, Set.of(RequestType.MS, RequestType.SS),
        List.of(new PoolRoutes.Ready("a", 2, 1), new PoolRoutes.Ready("b", 4, 0)));
    Pool p = Pool.of(routes, r -> r.instanceId().equals("a") ? 7 : 3);
    assertThat(p.pool()).isEqualTo("MS");
    assertThat(p.types()).containsExactlyInAnyOrder(RequestType.MS, RequestType.SS);
    assertThat(List.<Object>copyOf(p.ready())).containsExactly(new Ready("a", 2, 7, 1), new Ready("b", 4, 3, 0));
  }
}
