package io.dynamollm.control.live;

import io.dynamollm.decision.routing.RequestClassifier;
import io.dynamollm.protocol.ClassThresholds;
import io.dynamollm.sim.TraceRequest;
import io.dynamollm.sim.Workload;
import io.dynamollm.instance.engine.ModelClock;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Replays a workload (built-in or a trace) through a router in model time: each request is sent when the model clock
 * reaches its arrival. Runs on its own daemon thread; counts what was sent, served, within SLO and failed, and says
 * so every {@code progressEvery} requests. A request the model cannot serve at all (its prompt and output do not fit
 * the maximum context: {@link RequestClassifier#refusal}) is not sent but counted apart, as the simulator leaves it
 * out of its metrics; a client would not send it either.
 */
public final class LoadGenerator {
  private final RequestClassifier classifier;
  private final AtomicLong unservable = new AtomicLong();
  private final AtomicLong sent = new AtomicLong();
  private final AtomicLong served = new AtomicLong();
  private final AtomicLong met = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private final java.util.concurrent.ConcurrentMap<String, Long> failures =
      new java.util.concurrent.ConcurrentHashMap<>();
  private final java.util.concurrent.ConcurrentMap<Integer, Long> failedByStatus =
      new java.util.concurrent.ConcurrentSkipListMap<>();
  private volatile boolean stopped;
  private volatile double startedAtMs = Double.NaN;
  private Thread thread;

  /** A replay for a cluster whose routers classify by {@link ClassThresholds#DEFAULT}, as the live ones do. */
  public LoadGenerator() {
    this(ClassThresholds.DEFAULT);
  }

  /** A replay that leaves out what a router classifying by {@code thresholds} would refuse. */
  public LoadGenerator(ClassThresholds thresholds) {
    this.classifier = new RequestClassifier(thresholds);
  }

  public long sent() {
    return sent.get();
  }

  public long served() {
    return served.get();
  }

  public long met() {
    return met.get();
  }

  /** Why requests failed (the router's error, or its outcome), with how many; a router's requests only. */
  public Map<String, Long> failures() {
    return Map.copyOf(failures);
  }

  public long failed() {
    return failed.get();
  }

  /** Requests of the workload not sent because they do not fit the model's context. */
  public long unservable() {
    return unservable.get();
  }

  /** Starts replaying {@code workload} through {@code router}; {@code progress} hears a line now and then. */
  public LoadGenerator start(ActorSystem<?> system, ActorRef<Router.Command> router, Workload workload,
      ModelClock clock, long progressEvery, Consumer<String> progress) {
    return start(system, router, workload, clock, progressEvery, progress, false);
  }

  /**
   * As {@link #start(ActorSystem, ActorRef, Workload, ModelClock, long, Consumer)}; with {@code whenServing} the
   * replay begins only once the router has a ready instance (as a load balancer sends no traffic to a cluster whose
   * engines are still loading), and its time 0 is that moment.
   */
  public LoadGenerator start(ActorSystem<?> system, ActorRef<Router.Command> router, Workload workload,
      ModelClock clock, long progressEvery, Consumer<String> progress, boolean whenServing) {
    return start(system, router, workload, clock, progressEvery, progress, whenServing, Optional.empty());
  }

  /**
   * As above; with {@code frontDoor} (its {@code /v1} URL and the model it serves) each request goes over HTTP as
   * an OpenAI completion — a prompt of exactly its tokens (single-token words of the bundled encoding), its output
   * length as {@code max_tokens} with {@code ignore_eos} — and is judged by the answer's {@code usage.dynamollm}.
   */
  public LoadGenerator start(ActorSystem<?> system, ActorRef<Router.Command> router, Workload workload,
      ModelClock clock, long progressEvery, Consumer<String> progress, boolean whenServing,
      Optional<FrontDoorClient> frontDoor) {
    ActorRef<Router.Response> sink = system.systemActorOf(Behaviors.receive(Router.Response.class)
        .onMessage(Router.Response.class, r -> {
          if (r.completion().isPresent()) {
            served.incrementAndGet();
            if (r.metSlo()) {
              met.incrementAndGet();
            }
          } else {
            failed.incrementAndGet();
            failures.merge(r.error().orElse(String.valueOf(r.outcome())), 1L, Long::sum);
          }
          return Behaviors.same();
        }).build(), "load-generator-" + System.nanoTime(), org.apache.pekko.actor.typed.Props.empty());
    thread = new Thread(() -> {
      if (whenServing) {
        double since = clock.nowMs();
        progress.accept("workload: waiting for the first instance to serve");
        while (!stopped && !Thread.currentThread().isInterrupted() && readyInstances(system, router) == 0) {
          LockSupport.parkNanos(200_000_000);
        }
        progress.accept(String.format(java.util.Locale.ROOT, "workload: the cluster serves after %.0f model seconds;"
            + " replaying", (clock.nowMs() - since) / 1000));
      }
      double origin = clock.nowMs();
      startedAtMs = origin;
      Iterator<TraceRequest> it = workload.iterator();
      while (it.hasNext() && !stopped) {
        TraceRequest r = it.next();
        double due = origin + r.arrivalMs();
        double wait;
        while ((wait = clock.wallMsUntil(due)) > 0 && !stopped) {
          LockSupport.parkNanos((long) Math.min(wait * 1e6, 100e6));
        }
        if (classifier.refusal(r.promptTokens(), r.outputTokens()).isPresent()) {
          unservable.incrementAndGet();
          continue;
        }
        if (frontDoor.isPresent()) {
          frontDoor.get().send(r, (status, met) -> {
            if (status == 200) {
              served.incrementAndGet();
              if (met) {
                this.met.incrementAndGet();
              }
            } else {
              failed.incrementAndGet();
              failedByStatus.merge(status, 1L, Long::sum);
            }
          });
        } else {
          router.tell(new Router.Request(r.id(), r.promptTokens(), 0, r.outputTokens(), sink));
        }
        long n = sent.incrementAndGet();
        if (n % progressEvery == 0) {
          progress.accept(String.format(java.util.Locale.ROOT,
              "workload: %d requests sent (model time %.1f min), %d served, %.2f %% within SLO, %d failed%s%s", n,
              r.arrivalMs() / 60_000, served.get(), served.get() == 0 ? 100.0 : 100.0 * met.get() / served.get(),
              failed.get(), failedByStatus.isEmpty() ? "" : " (HTTP status: count " + failedByStatus + ")",
              unservable.get() == 0 ? "" : "; " + unservable.get() + " not sent (longer than the model's context)"));
        }
      }
      progress.accept("workload: all " + sent.get() + " requests sent" + (unservable.get() == 0 ? ""
          : " (" + unservable.get() + " left out: longer than the model's context)"));
    }, "load-generator");
    thread.setDaemon(true);
    thread.start();
    return this;
  }

  private static int readyInstances(ActorSystem<?> system, ActorRef<Router.Command> router) {
    try {
      return org.apache.pekko.actor.typed.javadsl.AskPattern.<Router.Command, Router.Stats>ask(router,
          Router.GetStats::new, java.time.Duration.ofSeconds(5), system.scheduler())
          .toCompletableFuture().get().readyInstances();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 0;
    } catch (java.util.concurrent.ExecutionException e) {
      return 0; // no answer yet: try again
    }
  }

  /** Model time (ms) at which the replay began; NaN until it has. */
  public double startedAtMs() {
    return startedAtMs;
  }

  public void stop() {
    stopped = true;
  }
}
