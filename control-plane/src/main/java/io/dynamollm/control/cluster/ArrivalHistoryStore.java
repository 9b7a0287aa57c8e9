package io.dynamollm.control.cluster;

import io.dynamollm.decision.cluster.LoadForecaster;
import io.dynamollm.protocol.CborSerializable;
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
 * The cluster's arrival history — what the cluster manager's forecaster counted — in durable Distributed Data, one
 * register per model hour in a ring of {@value #HOURS} keys ({@value #KEY_PREFIX}{@code <hour mod 192>}: eight days,
 * what the forecaster's weekly template looks back). The cluster manager writes the hour under way (with majority)
 * each pool epoch; a cluster manager that takes over on another node reads the ring back (majority, else this node's
 * durable copy) and forecasts on from it instead of starting from nothing — without it, a takeover would run the
 * bootstrap layout for the forecaster's minimum history.
 */
public final class ArrivalHistoryStore {
  public static final String KEY_PREFIX = "arrival-history-";
  /** Hours the ring holds: eight days. */
  public static final int HOURS = 192;
  public static final long HOUR_MS = 3_600_000L;

  /** One model hour's counts (hour = model ms / {@value #HOUR_MS}). */
  public record Hour(long hour, LoadForecaster.Snapshot arrivals) implements CborSerializable {}

  public sealed interface Command permits Save, Load, Internal {}

  /** Stores an hour's counts over the ring's slot for it; replies true once a majority has them. */
  public record Save(Hour hour, ActorRef<Boolean> replyTo) implements Command, NoSerializationVerificationNeeded {}

  /**
   * Reads every slot; replies with the hours in [fromHour, toHour) that were found (a slot holding an older hour of
   * the ring's previous turn is left out), oldest first.
   */
  public record Load(long fromHour, long toHour, ActorRef<List<Hour>> replyTo)
      implements Command, NoSerializationVerificationNeeded {}

  sealed interface Internal extends Command, NoSerializationVerificationNeeded {}

  private record Saved(Replicator.UpdateResponse<LWWRegister<Hour>> response, Save save) implements Internal {}

  private record Slot(Replicator.GetResponse<LWWRegister<Hour>> response, Reading reading, boolean local)
      implements Internal {}

  /** A load in progress: the slots still to answer and the hours found so far. */
  private static final class Reading {
    final Load load;
    int pending = HOURS;
    final List<Hour> found = new ArrayList<>();

    Reading(Load load) {
      this.load = load;
    }
  }

  private ArrivalHistoryStore() {}

  static Key<LWWRegister<Hour>> key(long hour) {
    return LWWRegisterKey.create(KEY_PREFIX + Math.floorMod(hour, HOURS));
  }

  public static Behavior<Command> create(Duration timeout) {
    return Behaviors.setup(ctx -> DistributedData.withReplicatorMessageAdapter(
        (ReplicatorMessageAdapter<Command, LWWRegister<Hour>> replicator) -> {
          SelfUniqueAddress self = DistributedData.get(ctx.getSystem()).selfUniqueAddress();
          return Behaviors.receive(Command.class)
              .onMessage(Save.class, s -> {
                Hour h = s.hour();
                replicator.askUpdate(reply -> new Replicator.Update<>(key(h.hour()), LWWRegister.create(self, h),
                    new Replicator.WriteMajority(timeout), reply, r -> r.withValue(self, h)),
                    rsp -> new Saved(rsp, s));
                return Behaviors.same();
              })
              .onMessage(Saved.class, s -> {
                s.save().replyTo().tell(s.response() instanceof Replicator.UpdateSuccess);
                return Behaviors.same();
              })
              .onMessage(Load.class, l -> {
                Reading reading = new Reading(l);
                for (int slot = 0; slot < HOURS; slot++) {
                  Key<LWWRegister<Hour>> k = key(slot);
                  replicator.askGet(reply -> new Replicator.Get<>(k, new Replicator.ReadMajority(timeout), reply),
                      rsp -> new Slot(rsp, reading, false));
                }
                return Behaviors.same();
              })
              .onMessage(Slot.class, s -> {
                Reading r = s.reading();
                if (s.response() instanceof Replicator.GetSuccess<LWWRegister<Hour>> ok) {
                  Hour h = ok.get(ok.key()).getValue();
                  if (h.hour() >= r.load.fromHour() && h.hour() < r.load.toHour()) {
                    r.found.add(h);
                  }
                } else if (s.response() instanceof Replicator.GetFailure<LWWRegister<Hour>> failed && !s.local()) {
                  // no majority answered: this node's durable copy of the slot
                  replicator.askGet(reply -> new Replicator.Get<>(failed.key(), Replicator.readLocal(), reply),
                      rsp -> new Slot(rsp, r, true));
                  return Behaviors.same();
                }
                if (--r.pending == 0) {
                  r.found.sort(java.util.Comparator.comparingLong(Hour::hour));
                  r.load.replyTo().tell(List.copyOf(r.found));
                }
                return Behaviors.same();
              })
              .build();
        }));
  }
}
