package io.dynamollm.control.cluster;

import io.dynamollm.protocol.PoolLayout;
import java.time.Duration;
import java.util.Optional;
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
 * The cluster's current pool layout (the last epoch's budgets) in durable Distributed Data under {@value #KEY_ID},
 * written with majority each cluster epoch and read with majority when a cluster manager starts — so a cluster
 * manager that moves to another node resumes the pools instead of starting over.
 */
public final class LayoutStore {
  public static final String KEY_ID = "pool-layout";
  static final Key<LWWRegister<PoolLayout>> KEY = LWWRegisterKey.create(KEY_ID);

  public sealed interface Command permits Save, Load, Internal {}

  /** Stores {@code layout}; replies true once a majority has it. */
  public record Save(PoolLayout layout, ActorRef<Boolean> replyTo) implements Command, NoSerializationVerificationNeeded {}

  /** Reads with majority; replies with the layout, empty when none was ever saved (or no majority answered). */
  public record Load(ActorRef<Optional<PoolLayout>> replyTo) implements Command, NoSerializationVerificationNeeded {}

  sealed interface Internal extends Command, NoSerializationVerificationNeeded {}

  private record Saved(Replicator.UpdateResponse<LWWRegister<PoolLayout>> response, Save save) implements Internal {}

  private record Loaded(Replicator.GetResponse<LWWRegister<PoolLayout>> response, Load load) implements Internal {}

  private LayoutStore() {}

  public static Behavior<Command> create(Duration timeout) {
    return Behaviors.setup(ctx -> DistributedData.withReplicatorMessageAdapter(
        (ReplicatorMessageAdapter<Command, LWWRegister<PoolLayout>> replicator) -> {
          SelfUniqueAddress self = DistributedData.get(ctx.getSystem()).selfUniqueAddress();
          return Behaviors.receive(Command.class)
              .onMessage(Save.class, s -> {
                replicator.askUpdate(reply -> new Replicator.Update<>(KEY, LWWRegister.create(self, s.layout()),
                    new Replicator.WriteMajority(timeout), reply, r -> r.withValue(self, s.layout())),
                    rsp -> new Saved(rsp, s));
                return Behaviors.same();
              })
              .onMessage(Saved.class, s -> {
                s.save().replyTo().tell(s.response() instanceof Replicator.UpdateSuccess);
                return Behaviors.same();
              })
              .onMessage(Load.class, l -> {
                replicator.askGet(reply -> new Replicator.Get<>(KEY, new Replicator.ReadMajority(timeout), reply),
                    rsp -> new Loaded(rsp, l));
                return Behaviors.same();
              })
              .onMessage(Loaded.class, l -> {
                if (l.response() instanceof Replicator.GetSuccess<LWWRegister<PoolLayout>> ok) {
                  l.load().replyTo().tell(Optional.of(ok.get(KEY).getValue()));
                } else if (l.response() instanceof Replicator.GetFailure<LWWRegister<PoolLayout>>) {
                  // no majority yet: fall back to this node's durable copy
                  replicator.askGet(reply -> new Replicator.Get<>(KEY, Replicator.readLocal(), reply),
                      rsp -> new Loaded(rsp instanceof Replicator.GetFailure ? null : rsp, l.load()));
                } else {
                  l.load().replyTo().tell(Optional.empty());
                }
                return Behaviors.same();
              })
              .build();
        }));
  }
}
