package io.dynamollm.control.cluster;

import io.dynamollm.protocol.CborSerializable;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.SloTable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ddata.Key;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.LWWMapKey;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.ddata.typed.javadsl.ReplicatorMessageAdapter;

/**
 * The cluster's SLOs, one per request type, in Distributed Data under the durable key {@value #KEY_ID} (LMDB, see
 * the node's configuration). A change is acknowledged only after a majority of the nodes stored it; the node reads
 * with majority when it starts, and follows every change afterwards. Types never changed keep the configured
 * defaults.
 *
 * <p>One store runs on every {@code control} node; admin requests talk to the local one.
 */
public final class SloStore {
  public static final String KEY_ID = "slos";
  static final Key<LWWMap<String, Slo>> KEY = LWWMapKey.create(KEY_ID);

  /** Messages the store understands. */
  public sealed interface Command permits Get, Put, Subscribe, Internal {}

  /** Replies with the current table. */
  public record Get(ActorRef<SloTable> replyTo) implements Command, CborSerializable {}

  /**
   * {@code subscriber} hears the table once it is known (after the majority read at start) and again after every
   * change (local).
   */
  public record Subscribe(ActorRef<SloTable> subscriber) implements Command, NoSerializationVerificationNeeded {}

  /** Sets {@code type}'s SLO; replies once a majority stored it, or says why not. */
  public record Put(RequestType type, Slo slo, ActorRef<PutResult> replyTo) implements Command, CborSerializable {}

  /** The outcome of a {@link Put}. */
  public sealed interface PutResult extends CborSerializable permits Stored, NotStored {}

  /** Stored on a majority of the nodes: the change is acknowledged. */
  public record Stored(RequestType type, Slo slo) implements PutResult {}

  /** Not acknowledged (it may still reach the nodes later; the caller should retry). */
  public record NotStored(RequestType type, String reason) implements PutResult {}

  sealed interface Internal extends Command, NoSerializationVerificationNeeded
      permits Loaded, ReadForGet, Updated, Changed {}

  private record Loaded(Replicator.GetResponse<LWWMap<String, Slo>> response) implements Internal {}

  private record ReadForGet(Replicator.GetResponse<LWWMap<String, Slo>> response, Get get) implements Internal {}

  private record Updated(Replicator.UpdateResponse<LWWMap<String, Slo>> response, Put put) implements Internal {}

  private record Changed(Replicator.SubscribeResponse<LWWMap<String, Slo>> change) implements Internal {}

  private SloStore() {}

  /**
   * @param defaults the SLOs of types never changed
   * @param timeout how long a majority read or write may take
   */
  public static Behavior<Command> create(SloTable defaults, Duration timeout) {
    return Behaviors.setup(ctx -> DistributedData.withReplicatorMessageAdapter(
        (ReplicatorMessageAdapter<Command, LWWMap<String, Slo>> replicator) ->
            new Running(ctx, replicator, defaults, timeout).start()));
  }

  private static final class Running {
    private final ActorContext<Command> ctx;
    private final ReplicatorMessageAdapter<Command, LWWMap<String, Slo>> replicator;
    private final SelfUniqueAddress self;
    private final Duration timeout;
    private final SloTable defaults;
    private final Map<RequestType, Slo> stored = new EnumMap<>(RequestType.class);
    /** Gets that came before the first read completed: answered once it has. */
    private final List<Get> early = new ArrayList<>();
    private final List<ActorRef<SloTable>> subscribers = new ArrayList<>();
    private boolean loaded;

    Running(ActorContext<Command> ctx, ReplicatorMessageAdapter<Command, LWWMap<String, Slo>> replicator,
        SloTable defaults, Duration timeout) {
      this.ctx = ctx;
      this.replicator = replicator;
      this.self = DistributedData.get(ctx.getSystem()).selfUniqueAddress();
      this.defaults = defaults;
      this.timeout = timeout;
    }

    Behavior<Command> start() {
      replicator.askGet(reply -> new Replicator.Get<>(KEY, new Replicator.ReadMajority(timeout), reply), Loaded::new);
      replicator.subscribe(KEY, Changed::new);
      return Behaviors.receive(Command.class)
          .onMessage(Get.class, this::onGet)
          .onMessage(Put.class, this::onPut)
          .onMessage(Subscribe.class, sub -> {
            subscribers.add(sub.subscriber());
            if (loaded) {
              sub.subscriber().tell(table());
            }
            return Behaviors.same();
          })
          .onMessage(Changed.class, c -> {
            if (c.change() instanceof Replicator.Changed<LWWMap<String, Slo>> ch) {
              absorb(ch.get(KEY));
              if (loaded) {
                SloTable t = table();
                subscribers.forEach(sub -> sub.tell(t));
              }
            }
            return Behaviors.same();
          })
          .onMessage(Loaded.class, this::onLoaded)
          .onMessage(ReadForGet.class, this::onReadForGet)
          .onMessage(Updated.class, this::onUpdated)
          .build();
    }

    private Behavior<Command> onGet(Get get) {
      if (loaded) {
        replicator.askGet(reply -> new Replicator.Get<>(KEY, Replicator.readLocal(), reply), r -> new ReadForGet(r, get));
      } else {
        early.add(get);
      }
      return Behaviors.same();
    }

    private Behavior<Command> onReadForGet(ReadForGet msg) {
      if (msg.response() instanceof Replicator.GetSuccess<LWWMap<String, Slo>> ok) {
        absorb(ok.get(KEY));
      }
      msg.get().replyTo().tell(table());
      return Behaviors.same();
    }

    private Behavior<Command> onPut(Put put) {
      replicator.askUpdate(
          reply -> new Replicator.Update<>(KEY, LWWMap.create(), new Replicator.WriteMajority(timeout), reply,
              current -> current.put(self, put.type().name(), put.slo())),
          response -> new Updated(response, put));
      return Behaviors.same();
    }

    private Behavior<Command> onLoaded(Loaded msg) {
      if (msg.response() instanceof Replicator.GetSuccess<LWWMap<String, Slo>> ok) {
        absorb(ok.get(KEY));
      } else if (msg.response() instanceof Replicator.GetFailure<LWWMap<String, Slo>>) {
        // no majority reachable yet (a node starting alone): the local, durable copy stands until one is
        ctx.getLog().warn("SLOs: majority read timed out; serving the local durable copy until the cluster forms");
        replicator.askGet(reply -> new Replicator.Get<>(KEY, Replicator.readLocal(), reply), Loaded::new);
        return Behaviors.same();
      }
      loaded = true;
      early.forEach(g -> g.replyTo().tell(table()));
      early.clear();
      SloTable t = table();
      subscribers.forEach(sub -> sub.tell(t));
      return Behaviors.same();
    }

    private Behavior<Command> onUpdated(Updated msg) {
      Put put = msg.put();
      if (msg.response() instanceof Replicator.UpdateSuccess<LWWMap<String, Slo>>) {
        stored.put(put.type(), put.slo());
        ctx.getLog().info("SLO of {} set to TTFT p99 {} ms, TBT p99 {} ms (majority)", put.type(),
            put.slo().ttftP99Ms(), put.slo().tbtP99Ms());
        // this node's subscribers hear it now (the replicator's change notice follows, batched, and repeats it)
        SloTable t = table();
        subscribers.forEach(sub -> sub.tell(t));
        put.replyTo().tell(new Stored(put.type(), put.slo()));
      } else if (msg.response() instanceof Replicator.UpdateTimeout<LWWMap<String, Slo>>) {
        put.replyTo().tell(new NotStored(put.type(),
            "no majority of the cluster confirmed the write within " + timeout.toMillis() + " ms"));
      } else {
        put.replyTo().tell(new NotStored(put.type(), "the write failed: " + msg.response()));
      }
      return Behaviors.same();
    }

    private void absorb(LWWMap<String, Slo> data) {
      for (var e : data.getEntries().entrySet()) {
        stored.put(RequestType.valueOf(e.getKey()), e.getValue());
      }
    }

    private SloTable table() {
      SloTable t = defaults;
      for (var e : stored.entrySet()) {
        t = t.with(e.getKey(), e.getValue());
      }
      return t;
    }
  }
}
