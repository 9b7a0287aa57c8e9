package io.dynamollm.control.live;

import io.dynamollm.protocol.CborSerializable;
import io.dynamollm.protocol.Decision;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;

/**
 * The recent decisions of every level, newest first, on each control node: decisions are published on the cluster
 * topic {@value #TOPIC} and every log keeps the last {@code capacity}.
 */
public final class DecisionLog {
  public static final String TOPIC = "decisions";

  public sealed interface Command permits Record, Recent {}

  public record Record(Decision decision) implements Command, CborSerializable {}

  /** Local only (the admin API asks its own node's log). */
  public record Recent(int limit, ActorRef<List<Decision>> replyTo)
      implements Command, org.apache.pekko.actor.NoSerializationVerificationNeeded {}

  private DecisionLog() {}

  public static Behavior<Command> create(ActorRef<Topic.Command<Decision>> topic, int capacity) {
    return Behaviors.setup(ctx -> {
      topic.tell(Topic.subscribe(ctx.messageAdapter(Decision.class, Record::new)));
      ArrayDeque<Decision> recent = new ArrayDeque<>();
      return Behaviors.receive(Command.class)
          .onMessage(Record.class, r -> {
            recent.addFirst(r.decision());
            while (recent.size() > capacity) {
              recent.removeLast();
            }
            return Behaviors.same();
          })
          .onMessage(Recent.class, q -> {
            List<Decision> out = new ArrayList<>();
            Iterator<Decision> it = recent.iterator();
            while (it.hasNext() && out.size() < q.limit()) {
              out.add(it.next());
            }
            q.replyTo().tell(out);
            return Behaviors.same();
          })
          .build();
    });
  }

  /** An actor that publishes every decision it receives on the topic (what the deciding actors are given). */
  public static Behavior<Decision> publisher(ActorRef<Topic.Command<Decision>> topic) {
    return publisher(topic, d -> {});
  }

  /** As above, telling {@code made} of each decision first (metrics: each decision counted once, where it was made). */
  public static Behavior<Decision> publisher(ActorRef<Topic.Command<Decision>> topic,
      java.util.function.Consumer<Decision> made) {
    return Behaviors.receive(Decision.class).onMessage(Decision.class, d -> {
      made.accept(d);
      topic.tell(Topic.publish(d));
      return Behaviors.same();
    }).build();
  }
}
