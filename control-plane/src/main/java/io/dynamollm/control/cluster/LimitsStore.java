package io.dynamollm.control.cluster;

import java.time.Duration;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ddata.Key;
import org.apache.pekko.cluster.ddata.LWWRegister;
import org.apache.pekko.cluster.ddata.LWWRegisterKey;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.ddata.typed.javadsl.ReplicatorMessageAdapter;

/**
 * The operator's {@link ClusterLimits} in durable Distributed Data under {@value #KEY_ID}: written with majority
 * ({@code PUT /api/v1/limits} answers 200 only then), read with majority by the cluster manager each epoch and by the
 * API — falling back to this node's durable copy, then to the configured defaults when none was ever set.
 */
public final class LimitsStore {
  public static final String KEY_ID = "cluster-limits";
  static final Key<LWWRegister<ClusterLimits>> KEY = LWWRegisterKey.create(KEY_ID);

  public sealed interface Command permits Put, Get, Internal {}

  /** Stores {@code limits}; replies true once a majority has them. */
  public record Put(ClusterLimits limits, ActorRef<Boolean> replyTo)
      implements Command, NoSerializationVerificationNeeded {}

  /** Replies with the limits in force. */
  public record Get(ActorRef<ClusterLimits> replyTo) implements Command, NoSerializationVerificationNeeded {}

  sealed interface Internal extends Command, NoSerializationVerificationNeeded {}

  private record Stored(Replicator.UpdateResponse<LWWRegister<ClusterLimits>> response, Put put) implements Internal {}

  private record Read(Replicator.GetResponse<LWWRegister<ClusterLimits>> response, Get get, boolean local)
      implements Internal {}

  private LimitsStore() {}

  /** @param defaults the limits in force until an operator sets others */
  public static Behavior<Command> create(Duration timeout, ClusterLimits defaults) {
    return Behaviors.setup(ctx -> DistributedData.withReplicatorMessageAdapter(
        (ReplicatorMessageAdapter<Command, LWWRegister<ClusterLimits>> replicator) -> {
          SelfUniqueAddress self = DistributedData.get(ctx.getSystem()).selfUniqueAddress();
          return Behaviors.receive(Command.class)
              .onMessage(Put.class, p -> {
                replicator.askUpdate(reply -> new Replicator.Update<>(KEY, LWWRegister.create(self, p.limits()),
                    new Replicator.WriteMajority(timeout), reply, r -> r.withValue(self, p.limits())),
                    rsp -> new Stored(rsp, p));
                return Behaviors.same();
              })
              .onMessage(Stored.class, st -> {
                st.put().replyTo().tell(st.response() instanceof Replicator.UpdateSuccess);
                return Behaviors.same();
              })
              .onMessage(Get.class, g -> {
                replicator.askGet(reply -> new Replicator.Get<>(KEY, new Replicator.ReadMajority(timeout), reply),
                    rsp -> new Read(rsp, g, false));
                return Behaviors.same();
              })
              .onMessage(Read.class, r -> {
                if (r.response() instanceof Replicator.GetSuccess<LWWRegister<ClusterLimits>> ok) {
                  r.get().replyTo().tell(ok.get(KEY).getValue());
                } else if (r.response() instanceof Replicator.GetFailure<LWWRegister<ClusterLimits>> && !r.local()) {
                  // no majority answered: this node's durable copy
                  replicator.askGet(reply -> new Replicator.Get<>(KEY, Replicator.readLocal(), reply),
                      rsp -> new Read(rsp, r.get(), true));
                } else {
                  r.get().replyTo().tell(defaults); // never set
                }
                return Behaviors.same();
              })
              .build();
        }));
  }
}
