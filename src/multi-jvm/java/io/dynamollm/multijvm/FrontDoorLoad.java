package io.dynamollm.multijvm;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A client of the cluster's front doors, as a load balancer in front of them: {@code rate} short completions a
 * second, round-robin over the nodes in rotation, each on its own thread (open loop), each outcome kept with the
 * router's SLO verdict ({@code usage.dynamollm.slo_met}). Each second it also notes what instances serve.
 */
final class FrontDoorLoad implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One request: the node it went to, its status (−1: no answer), whether it met its SLO, when. */
  record Outcome(NodeProcess node, int status, boolean sloMet, String error, double sentAt, double answeredAt) {}

  private final MultiJvmCluster cluster;
  private final List<NodeProcess> doors;
  private final Map<NodeProcess, Boolean> inRotation = new ConcurrentHashMap<>();
  private final List<Outcome> outcomes = new CopyOnWriteArrayList<>();
  private final AtomicInteger sent = new AtomicInteger();
  private final AtomicInteger next = new AtomicInteger();
  // daemon threads: a scenario that fails half-way leaves nothing running
  private final ScheduledExecutorService clock = Executors.newSingleThreadScheduledExecutor(FrontDoorLoad::daemon);
  private final ExecutorService workers = Executors.newCachedThreadPool(FrontDoorLoad::daemon);
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(2)).build();

  private static Thread daemon(Runnable r) {
    Thread t = new Thread(r, "front-door-load");
    t.setDaemon(true);
    return t;
  }

  /** Starts sending to {@code doors} (control nodes) at {@code rate} requests a second for {@code model}. */
  FrontDoorLoad(MultiJvmCluster cluster, List<NodeProcess> doors, String model, int rate, Duration requestTimeout) {
    this.cluster = cluster;
    this.doors = List.copyOf(doors);
    doors.forEach(d -> inRotation.put(d, true));
    String body = "{\"model\": \"" + model + "\", \"prompt\": \"Say hello to the cluster, briefly.\","
        + " \"max_tokens\": 16}";
    clock.scheduleAtFixedRate(() -> send(body, requestTimeout), 0, 1000 / rate, TimeUnit.MILLISECONDS);
    clock.scheduleAtFixedRate(this::noteInstances, 1000, 1000, TimeUnit.MILLISECONDS);
  }

  private void send(String body, Duration timeout) {
    NodeProcess n = null;
    for (int tries = 0; tries < doors.size() && n == null; tries++) {
      NodeProcess k = doors.get(Math.floorMod(next.getAndIncrement(), doors.size()));
      if (inRotation.get(k)) {
        n = k;
      }
    }
    if (n == null) {
      return;
    }
    NodeProcess target = n;
    sent.incrementAndGet();
    double sentAt = cluster.seconds();
    workers.submit(() -> {
      try {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + target.doorPort
            + "/v1/completions")).timeout(timeout).header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        boolean met = r.statusCode() == 200
            && JSON.readTree(r.body()).path("usage").path("dynamollm").path("slo_met").asBoolean(false);
        outcomes.add(new Outcome(target, r.statusCode(), met, r.statusCode() == 200 ? null : r.body(), sentAt,
            cluster.seconds()));
      } catch (Exception e) {
        outcomes.add(new Outcome(target, -1, false, e.toString(), sentAt, cluster.seconds()));
      }
    });
  }

  private void noteInstances() {
    for (NodeProcess d : doors) {
      if (inRotation.get(d)) {
        var j = cluster.get(d, "/api/v1/instances");
        if (j.isPresent()) {
          StringBuilder b = new StringBuilder();
          j.get().forEach(i -> b.append(i.path("id").asText()).append('=').append(i.path("state").asText())
              .append(' '));
          cluster.note("INSTANCES (" + d.name + ") " + b);
          return;
        }
      }
    }
  }

  /** Takes {@code n} out of the rotation (nothing new goes to it) or puts it back. */
  void rotation(NodeProcess n, boolean in) {
    inRotation.put(n, in);
  }

  int sent() {
    return sent.get();
  }

  /** Requests sent and not answered yet. */
  int outstanding() {
    return sent.get() - outcomes.size();
  }

  List<Outcome> outcomes() {
    return List.copyOf(outcomes);
  }

  /** Stops sending and waits for every request sent to come back; false if some did not within {@code wait}. */
  boolean finish(Duration wait) throws InterruptedException {
    clock.shutdown();
    clock.awaitTermination(5, TimeUnit.SECONDS);
    workers.shutdown();
    return workers.awaitTermination(wait.toMillis(), TimeUnit.MILLISECONDS);
  }

  List<Outcome> failed() {
    return outcomes.stream().filter(o -> o.status() != 200).toList();
  }

  /** The share of answered requests within their SLO (failures count as misses). */
  double attainment() {
    return outcomes.isEmpty() ? 0 : outcomes.stream().filter(Outcome::sloMet).count() / (double) outcomes.size();
  }

  /** Notes the first {@code max} failures on the timeline. */
  void noteFailures(int max) {
    failed().stream().limit(max).forEach(o -> cluster.note(String.format(Locale.ROOT, "FAILED sent %.1f s,"
        + " answered %.1f s on %s: %d %s", o.sentAt(), o.answeredAt(), o.node().name, o.status(), o.error())));
  }

  /** The model a node's front door serves (empty when it does not answer). */
  static String modelOf(NodeProcess n) {
    try {
      HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
          + n.doorPort + "/v1/models")).timeout(Duration.ofSeconds(2)).GET().build(),
          HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? JSON.readTree(r.body()).path("data").path(0).path("id").asText() : "";
    } catch (Exception e) {
      return "";
    }
  }

  @Override
  public void close() {
    clock.shutdownNow();
    workers.shutdownNow();
  }
}
