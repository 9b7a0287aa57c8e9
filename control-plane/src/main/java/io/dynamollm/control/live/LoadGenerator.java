package io.dynamollm.control.live;

import io.dynamollm.control.sim.TraceRequest;
import io.dynamollm.control.sim.Workload;
import io.dynamollm.instance.engine.ModelClock;
import java.util.Iterator;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Replays a workload (built-in or a trace) through a router in model time: each request is sent when the model clock
 * reaches its arrival. Runs on its own daemon thread; counts what was sent, served, within SLO and failed, and says
 * so every {@code progressEvery} requests.
 */
public final class LoadGenerator {
  private final AtomicLong sent = new AtomicLong();
  private final AtomicLong served = new AtomicLong();
  private final AtomicLong met = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private volatile boolean stopped;
  private Thread thread;

  public long sent() {
    return sent.get();
  }

  public long served() {
    return served.get();
  }

  public long met() {
    return met.get();
  }

  public long failed() {
    return failed.get();
  }

  /** Starts replaying {@code workload} through {@code router}; {@code progress} hears a line now and then. */
  public LoadGenerator start(ActorSystem<?> system, ActorRef<Router.Command> router, Workload workload,
      ModelClock clock, long progressEvery, Consumer<String> progress) {
    ActorRef<Router.Response> sink = system.systemActorOf(Behaviors.receive(Router.Response.class)
        .onMessage(Router.Response.class, r -> {
          if (r.completion().isPresent()) {
            served.incrementAndGet();
            if (r.metSlo()) {
              met.incrementAndGet();
            }
          } else {
            failed.incrementAndGet();
          }
          return Behaviors.same();
        }).build(), "load-generator-" + System.nanoTime(), org.apache.pekko.actor.typed.Props.empty());
    double origin = clock.nowMs();
    thread = new Thread(() -> {
      Iterator<TraceRequest> it = workload.iterator();
      while (it.hasNext() && !stopped) {
        TraceRequest r = it.next();
        double due = origin + r.arrivalMs();
        double wait;
        while ((wait = clock.wallMsUntil(due)) > 0 && !stopped) {
          LockSupport.parkNanos((long) Math.min(wait * 1e6, 100e6));
        }
        router.tell(new Router.Request(r.id(), r.promptTokens(), 0, r.outputTokens(), sink));
        long n = sent.incrementAndGet();
        if (n % progressEvery == 0) {
          progress.accept(String.format(java.util.Locale.ROOT,
              "workload: %d requests sent (model time %.1f min), %d served, %.2f %% within SLO, %d failed", n,
              r.arrivalMs() / 60_000, served.get(), served.get() == 0 ? 100.0 : 100.0 * met.get() / served.get(),
              failed.get()));
        }
      }
      progress.accept("workload: all " + sent.get() + " requests sent");
    }, "load-generator");
    thread.setDaemon(true);
    thread.start();
    return this;
  }

  public void stop() {
    stopped = true;
  }
}
