package io.dynamollm.sim;

import io.dynamollm.decision.pool.PoolPlan;
import io.dynamollm.decision.routing.RoutingPolicy;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.MixSpec;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/** A pool inside the simulator: its instances, the types it serves and its GPU budget. */
final class SimPool implements RoutingPolicy.PoolView {
  final Simulation sim;
  final String name;
  RequestType nativeType;
  Set<RequestType> types = EnumSet.noneOf(RequestType.class);
  Slo slo;
  final List<SimInstance> instances = new ArrayList<>();
  /** Its instances that serve now (kept current on every state change: the routers read it per request). */
  private final List<SimInstance> ready = new ArrayList<>();
  /** GPUs the pool holds beyond its instances' (idle, counted). */
  int parkedGpus;
  /** GPUs the pool may hold. */
  int budgetGpus;
  PoolPlan plan = PoolPlan.EMPTY;
  /** The requests its instances serve (their governors plan with it). */
  MixSpec mix;
  /** The clock range its instances may use. */
  FrequencyBounds bounds = FrequencyBounds.H100_DEFAULT;
  /** Told whenever one of its instances changes state (the policy's pool step listens). */
  Consumer<SimInstance> onStateChange = i -> { };
  /** Told about each of its requests that completed, and whether it met its own type's SLO. */
  BiConsumer<SimRequest, Boolean> onCompleted = (r, met) -> { };
  /** While set, state changes are not told (a re-shard the policy learns of as one change). */
  boolean muted;
  /** Told about each request routed to it. */
  Consumer<SimRequest> onRouted = r -> { };

  SimPool(Simulation sim, String name, RequestType nativeType, Slo slo) {
    this.sim = sim;
    this.name = name;
    this.nativeType = nativeType;
    this.slo = slo;
  }

  @Override
  public String pool() {
    return name;
  }

  @Override
  public RequestType nativeType() {
    return nativeType;
  }

  @Override
  public Set<RequestType> types() {
    return types;
  }

  @Override
  public List<SimInstance> ready() {
    return ready;
  }

  /** Re-reads which instances serve (after a state change). */
  void refreshReady() {
    ready.clear();
    for (SimInstance i : instances) {
      if (i.acceptsRequests()) {
        ready.add(i);
      }
    }
  }

  int gpusInInstances() {
    int g = 0;
    for (SimInstance i : instances) {
      if (i.state != io.dynamollm.protocol.InstanceState.STOPPED) {
        g += i.tp.degree();
      }
    }
    return g;
  }
}
