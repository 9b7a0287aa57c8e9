package io.dynamollm.control.cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
 * ({@code PUT /api/v1/limits} answers 200 only then), read with majority by the API and by a subscriber when it
 * subscribes — falling back to this node's durable copy, then to the configured defaults when none was ever set. The
 * store follows the key's changes and passes each on to its {@link Subscribe}rs (the cluster manager).
 */
public final class LimitsStore {
  public static final String KEY_ID = "cluster-limits";
  static final Key<LWWRegister<ClusterLimits>> KEY = LWWRegisterKey.create(KEY_ID);

  public sealed interface Command permits Put, Get, Subscribe, Internal {}

  /** Stores {@code limits}; replies true once a majority has them. */
  public record Put(ClusterLimits limits, ActorRef<Boolean> replyTo)
      implements Command, NoSerializationVerificationNeeded {}

  /** Replies with the limits in force (majority read). */
  public record Get(ActorRef<ClusterLimits> replyTo) implements Command, NoSerializationVerificationNeeded {}

  /** {@code subscriber} hears the limits in force now (majority read) and again after every change. */
  public record Subscribe(ActorRef<ClusterLimits> subscriber) implements Command, NoSerializationVerificationNeeded {}

  sealed interface Internal extends Command, NoSerializationVerificationNeeded {}

  private record Stored(Replicator.UpdateResponse<LWWRegister<ClusterLimits>> response, Put put) implements Internal {}

  private record Read(Replicator.GetResponse<LWWRegister<ClusterLimits>> response, ActorRef<ClusterLimits> replyTo,
      boolean local) implements Internal {}

  private record Changed(Replicator.SubscribeResponse<LWWRegister<ClusterLimits>> change) implements Internal {}

  private LimitsStore() {}

  /** @param defaults the limits in force until an operator sets others */
  public static Behavior<Command> create(Duration timeout, ClusterLimits defaults) {
    return Behaviors.setup(ctx -> DistributedData.withReplicatorMessageAdapter(
        (ReplicatorMessageAdapter<Command, LWWRegister<ClusterLimits>> replicator) -> {
          SelfUniqueAddress self = DistributedData.get(ctx.getSystem()).selfUniqueAddress();
          List<ActorRef<ClusterLimits>> subscribers = new ArrayList<>();
          replicator.subscribe(KEY, Changed::new);
          return Behaviors.receive(Command.class)
              .onMessage(Put.class, p -> {
                replicator.askUpdate(reply -> new Replicator.Update<>(KEY, LWWRegister.create(self, p.limits()),
                    new Replicator.WriteMajority(timeout), reply, r -> r.withValue(self, p.limits())),
                    rsp -> new Stored(rsp, p));
                return Behaviors.same();
              })
              .onMessage(Stored.class, st -> {
                boolean ok = st.response() instanceof Replicator.UpdateSuccess;
                if (ok) {
                  // this node's subscribers hear it now (the replicator's change notice follows, batched)
                  subscribers.forEach(s -> s.tell(st.put().limits()));
                }
                st.put().replyTo().tell(ok);
                return Behaviors.same();
              })
              .onMessage(Get.class, g -> {
                replicator.askGet(reply -> new Replicator.Get<>(KEY, new Replicator.ReadMajority(timeout), reply),
                    rsp -> new Read(rsp, g.replyTo(), false));
                return Behaviors.same();
              })
              .onMessage(Subscribe.class, s -> {
                subscribers.add(s.subscriber());
                replicator.askGet(reply -> new Replicator.Get<>(KEY, new Replicator.ReadMajority(timeout), reply),
                    rsp -> new Read(rsp, s.subscriber(), false));
                return Behaviors.same();
              })
              .onMessage(Read.class, r -> {
                if (r.response() instanceof Replicator.GetSuccess<LWWRegister<ClusterLimits>> ok) {
                  r.replyTo().tell(ok.get(KEY).getValue());
                } else if (r.response() instanceof Replicator.GetFailure<LWWRegister<ClusterLimits>> && !r.local()) {
                  // no majority answered: this node's durable copy
                  replicator.askGet(reply -> new Replicator.Get<>(KEY, Replicator.readLocal(), reply),
                      rsp -> new Read(rsp, r.replyTo(), true));
                } else {
                  r.replyTo().tell(defaults); // never set
                }
                return Behaviors.same();
              })
              .onMessage(Changed.class, c -> {
                if (c.change() instanceof Replicator.Changed<LWWRegister<ClusterLimits>> ch) {
                  ClusterLimits l = ch.get(KEY).getValue();
                  subscribers.forEach(s -> s.tell(l));
                }
                return Behaviors.same();
              })
              .build();
        }));
  }
}
