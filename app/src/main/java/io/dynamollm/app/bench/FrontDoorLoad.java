package io.dynamollm.app.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * The load of {@code scripts/bench-front-door.sh}: streamed completions sent open loop at a fixed rate (each at its
 * scheduled time, whether or not earlier ones finished) for a bounded time, timed at the client — time to the first
 * {@code data:} event and to the end of the stream; or {@code --hold N}: N long streams kept open (for the server's
 * heap per request in flight). {@code --warmup S}: first S seconds at the same rate, not counted (the JIT compilers of
 * every process on the path are done by then; on 2 cores they otherwise dominate a short run). Prints one JSON line.
 *
 * <pre>java -cp dynamollm.jar io.dynamollm.app.bench.FrontDoorLoad URL RATE SECONDS MAX_TOKENS [--hold N] [--warmup S]
 * </pre>
 */
public final class FrontDoorLoad {
  private FrontDoorLoad() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 4) {
      System.err.println("usage: FrontDoorLoad URL(/v1/completions) RATE SECONDS MAX_TOKENS [--hold N] [--warmup S] [--cpu-of NAME=PID,...]");
      System.exit(2);
    }
    URI url = URI.create(args[0]);
    double rate = Double.parseDouble(args[1]);
    double seconds = Double.parseDouble(args[2]);
    int maxTokens = Integer.parseInt(args[3]);
    int hold = 0;
    double warmup = 0;
    String cpuOf = "";
    for (int a = 4; a + 1 < args.length; a += 2) {
      switch (args[a]) {
        case "--hold" -> hold = Integer.parseInt(args[a + 1]);
        case "--warmup" -> warmup = Double.parseDouble(args[a + 1]);
        case "--cpu-of" -> cpuOf = args[a + 1];
        default -> {
          System.err.println("unknown option " + args[a] + " (--hold N, --warmup SECONDS, --cpu-of NAME=PID,...)");
          System.exit(2);
        }
      }
    }
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    String body = "{\"model\": \"meta-llama/Llama-2-70b-chat-hf\", \"prompt\": \"The quick brown fox jumps over the "
        + "lazy dog\", \"max_tokens\": " + maxTokens + ", \"ignore_eos\": true, \"stream\": true}";
    if (warmup > 0 && hold == 0) {
      Run w = send(http, url, body, rate, (int) Math.round(rate * warmup));
      CompletableFuture.allOf(w.all.toArray(CompletableFuture[]::new)).exceptionally(e -> null)
          .get(5, TimeUnit.MINUTES);
      System.err.printf(Locale.ROOT, "warm-up: %d sent, %d errors%n", w.all.size(), w.errors.get());
      Thread.sleep(1000);
    }
    int n = hold > 0 ? hold : (int) Math.round(rate * seconds);
    java.util.Map<String, Long> cpuBefore = cpu(cpuOf);
    Run run = send(http, url, body, rate, n);
    ConcurrentLinkedQueue<double[]> times = run.times;
    AtomicInteger errors = run.errors;
    double sendSeconds = (System.nanoTime() - run.start) / 1e9;
    if (hold > 0) {
      Thread.sleep(3000); // all sent and accepted: running at the engine, or waiting in its queue
      System.out.printf(Locale.ROOT, "{\"in_flight\": %d, \"streaming\": %d, \"errors\": %d}%n",
          hold - times.size() - errors.get(), run.firsts.get(), errors.get());
      System.out.flush();
      // the script measures the server's heap now; it ends this process when done
      Thread.sleep(TimeUnit.MINUTES.toMillis(5));
      return;
    }
    CompletableFuture.allOf(run.all.toArray(CompletableFuture[]::new)).exceptionally(e -> null)
        .get(5, TimeUnit.MINUTES);
    StringBuilder cpuMs = new StringBuilder();
    cpu(cpuOf).forEach((name, ticks) -> cpuMs.append(String.format(Locale.ROOT, ", \"%s_cpu_ms_per_request\": %.3f",
        name, (ticks - cpuBefore.get(name)) * 10.0 / n)));
    double[] ttft = times.stream().mapToDouble(t -> t[0]).sorted().toArray();
    double[] total = times.stream().mapToDouble(t -> t[1]).sorted().toArray();
    System.out.printf(Locale.ROOT, "{\"rate\": %.0f, \"sent\": %d, \"send_seconds\": %.2f, \"ok\": %d, \"errors\": %d, "
        + "\"ttft_p50_ms\": %.3f, \"ttft_p99_ms\": %.3f, \"total_p50_ms\": %.3f, \"total_p99_ms\": %.3f%s}%n", rate,
        n, sendSeconds, ttft.length, errors.get(), q(ttft, 0.5), q(ttft, 0.99), q(total, 0.5), q(total, 0.99), cpuMs);
    System.exit(0);
  }

  /** Requests sent so far, and how they fared. */
  private static final class Run {
    final long start;
    final ConcurrentLinkedQueue<double[]> times = new ConcurrentLinkedQueue<>(); // {ttft ms, total ms}
    final AtomicInteger errors = new AtomicInteger();
    final AtomicInteger firsts = new AtomicInteger();
    final List<CompletableFuture<?>> all = new ArrayList<>();

    Run(long start) {
      this.start = start;
    }
  }

  /** Sends {@code n} requests open loop at {@code rate} per second (each at its time); returns once all are sent. */
  private static Run send(HttpClient http, URI url, String body, double rate, int n) {
    Run run = new Run(System.nanoTime());
    for (int k = 0; k < n; k++) {
      long due = run.start + (long) (k / rate * 1e9);
      long wait;
      while ((wait = due - System.nanoTime()) > 0) {
        LockSupport.parkNanos(Math.min(wait, 1_000_000));
      }
      long t0 = System.nanoTime();
      HttpRequest req = HttpRequest.newBuilder(url).header("Content-Type", "application/json")
          .timeout(Duration.ofMinutes(5)).POST(HttpRequest.BodyPublishers.ofString(body)).build();
      double[] first = {-1};
      run.all.add(http.sendAsync(req, HttpResponse.BodyHandlers.fromLineSubscriber(new Flow.Subscriber<String>() {
        @Override
        public void onSubscribe(Flow.Subscription s) {
          s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(String line) {
          if (first[0] < 0 && line.startsWith("data:")) {
            first[0] = (System.nanoTime() - t0) / 1e6;
            run.firsts.incrementAndGet();
          }
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onComplete() {}
      })).whenComplete((r, e) -> {
        if (e != null || r.statusCode() != 200 || first[0] < 0) {
          run.errors.incrementAndGet();
        } else {
          run.times.add(new double[] {first[0], (System.nanoTime() - t0) / 1e6});
        }
      }));
    }
    return run;
  }

  /**
   * CPU time (user + system, in clock ticks of 10 ms) so far of each NAME=PID in {@code spec}, from Linux's
   * {@code /proc/PID/stat}; none where that cannot be read.
   */
  private static java.util.Map<String, Long> cpu(String spec) {
    java.util.Map<String, Long> out = new java.util.LinkedHashMap<>();
    for (String part : spec.split(",")) {
      String[] kv = part.split("=");
      if (kv.length != 2) {
        continue;
      }
      try {
        String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc", kv[1].trim(), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        out.put(kv[0].trim(), Long.parseLong(f[11]) + Long.parseLong(f[12])); // utime, stime (fields 14, 15)
      } catch (java.io.IOException | RuntimeException e) {
        System.err.println("no CPU time for " + part + ": " + e.getMessage());
      }
    }
    return out;
  }

  private static double q(double[] sorted, double p) {
    if (sorted.length == 0) {
      return Double.NaN;
    }
    return sorted[Math.min(sorted.length - 1, (int) Math.floor(p * sorted.length))];
  }
}
