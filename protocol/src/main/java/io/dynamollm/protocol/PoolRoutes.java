package io.dynamollm.protocol;

import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Pool manager → routers (on a cluster topic), every keep-alive and whenever its ready instances change: where the
 * pool's requests may go. Routers read it; the request path never waits for a controller.
 *
 * @param pool the pool
 * @param nativeType the type its instances are sized for
 * @param types the types it serves
 * @param ready its ready instances (never draining, stopped or unreachable ones)
 */
public record PoolRoutes(String pool, RequestType nativeType, Set<RequestType> types, List<Ready> ready)
    implements CborSerializable {

  /**
   * One ready instance.
   *
   * @param instanceId the instance
   * @param capacityRps its planned capacity, req/s (routers share load in proportion)
   * @param queued requests waiting for prefill at its last telemetry
   */
  public record Ready(String instanceId, double capacityRps, int queued) implements CborSerializable {
    public Ready {
      Objects.requireNonNull(instanceId, "instanceId");
    }
  }

  public PoolRoutes {
    Objects.requireNonNull(pool, "pool");
    Objects.requireNonNull(nativeType, "nativeType");
    types = Set.copyOf(types);
    ready = List.copyOf(ready);
  }
}
