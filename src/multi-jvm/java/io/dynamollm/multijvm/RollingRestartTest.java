package io.dynamollm.multijvm;

import static io.dynamollm.multijvm.MultiJvmCluster.await;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 13, scenario 6: a rolling restart of every node (the first seed and the cluster manager's node included)
 * under steady client load through the front doors. The client is a load balancer over the three front doors: it
 * takes a node out of rotation before it is stopped (SIGTERM: the node leaves the cluster) and back once it is up
 * again, as an operator's rolling restart does. Every request sent must come back completed (none lost), and the
 * share answered within its SLO (the router's own verdict, {@code usage.dynamollm.slo_met}) stays at 95 % or more.
 */
class RollingRestartTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Client requests per wall second (at 20x: 0.4 model req/s, short prompts). */
  private static final int RATE = 8;

  private record Outcome(int node, int status, boolean sloMet, String error, double sentAt, double answeredAt) {}

  @Test
  @Timeout(600)
  void everyNodeRestartedInTurnUnderLoadLosesNoRequestAndKeepsTheSlos() throws Exception {
    // DGX-like hosts of 8 GPUs (the bootstrap pool plans TP8 instances)
    List<String> all = List.of("--speedup", "20", "--gpus-per-host", "8");
    try (var c = new MultiJvmCluster("rolling-restart", List.of("a", "b", "c"), 3, all, Map.of(), "")) {
      c.startAll();
      c.awaitFormed(Duration.ofSeconds(120));
      NodeProcess first = c.node("a");
      boolean serving = await(Duration.ofSeconds(120), () -> c.get(first, "/api/v1/instances").map(j -> {
        for (JsonNode i : j) {
          if (i.path("state").asText().equals("ready")) {
            return true;
          }
        }
        return false;
      }).orElse(false));
      assertThat(serving).as("an instance serves").isTrue();
      String model = modelOf(c, first);
      c.note("SERVING model " + model);

      // the load balancer: round-robin over the nodes in rotation, RATE requests a second, each on its own thread
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(2)).build();
      Map<Integer, Boolean> inRotation = new ConcurrentHashMap<>();
      for (int k = 0; k < 3; k++) {
        inRotation.put(k, true);
      }
      List<Outcome> outcomes = new CopyOnWriteArrayList<>();
      AtomicInteger sent = new AtomicInteger();
      AtomicInteger next = new AtomicInteger();
      ScheduledExecutorService clock = Executors.newSingleThreadScheduledExecutor();
      var workers = Executors.newCachedThreadPool();
      String body = "{\"model\": \"" + model + "\", \"prompt\": \"Say hello to the cluster, briefly.\","
          + " \"max_tokens\": 16}";
      clock.scheduleAtFixedRate(() -> {
        int node = -1;
        for (int tries = 0; tries < 3 && node < 0; tries++) {
          int k = Math.floorMod(next.getAndIncrement(), 3);
          if (inRotation.get(k)) {
            node = k;
          }
        }
        if (node < 0) {
          return;
        }
        int target = node;
        NodeProcess n = c.nodes().get(target);
        sent.incrementAndGet();
        double sentAt = c.seconds();
        workers.submit(() -> {
          try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + n.doorPort
                + "/v1/completions")).timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            boolean met = false;
            if (r.statusCode() == 200) {
              met = JSON.readTree(r.body()).path("usage").path("dynamollm").path("slo_met").asBoolean(false);
            }
            outcomes.add(new Outcome(target, r.statusCode(), met, r.statusCode() == 200 ? null : r.body(), sentAt,
                c.seconds()));
          } catch (Exception e) {
            outcomes.add(new Outcome(target, -1, false, e.toString(), sentAt, c.seconds()));
          }
        });
      }, 0, 1000 / RATE, TimeUnit.MILLISECONDS);
      // what serves, each second, as a control node in rotation sees it
      clock.scheduleAtFixedRate(() -> {
        for (int k = 0; k < 3; k++) {
          if (inRotation.get(k)) {
            var j = c.get(c.nodes().get(k), "/api/v1/instances");
            if (j.isPresent()) {
              StringBuilder b = new StringBuilder();
              j.get().forEach(i -> b.append(i.path("id").asText()).append('=').append(i.path("state").asText())
                  .append(' '));
              c.note("INSTANCES (" + c.nodes().get(k).name + ") " + b);
              return;
            }
          }
        }
      }, 1000, 1000, TimeUnit.MILLISECONDS);

      Thread.sleep(15_000); // steady state before the first restart
      c.note("LOAD steady: " + outcomes.size() + " answered of " + sent.get());
      int answeredBefore = outcomes.size();
      for (int k = 0; k < 3; k++) {
        NodeProcess n = c.nodes().get(k);
        inRotation.put(k, false);
        Thread.sleep(2000); // the load balancer drains it: requests it already took finish meanwhile
        n.terminate();
        c.note("RESTART " + n.name + ": out of rotation, SIGTERM");
        OptionalInt status = n.awaitExit(Duration.ofSeconds(60));
        c.note(n.name + " exited " + status);
        assertThat(status).as(n.name + " leaves and exits on SIGTERM (log " + n.log + ")").hasValue(0);
        c.start(n);
        for (NodeProcess m : c.nodes()) {
          boolean ok = await(Duration.ofSeconds(120), () -> c.sees(m, c.nodes()));
          assertThat(ok).as(m.name + " sees all three up after " + n.name + "'s restart").isTrue();
        }
        boolean door = await(Duration.ofSeconds(60), () -> modelOf(c, n).equals(model));
        assertThat(door).as(n.name + "'s front door answers again").isTrue();
        inRotation.put(k, true);
        c.note("BACK " + n.name + " in rotation; " + outcomes.size() + " answered of " + sent.get());
        Thread.sleep(5000);
      }
      clock.shutdown();
      workers.shutdown();
      boolean drained = workers.awaitTermination(90, TimeUnit.SECONDS);
      assertThat(drained).as("every request sent came back").isTrue();
      long ok = outcomes.stream().filter(o -> o.status() == 200).count();
      long met = outcomes.stream().filter(Outcome::sloMet).count();
      List<Outcome> failed = outcomes.stream().filter(o -> o.status() != 200).toList();
      failed.stream().limit(30).forEach(o -> c.note(String.format(Locale.ROOT, "FAILED sent %.1f s, answered %.1f s"
          + " on %s: %d %s", o.sentAt(), o.answeredAt(), c.nodes().get(o.node()).name, o.status(), o.error())));
      // the decisions of the run, for a person to read next to the timeline
      c.get(c.node("a"), "/api/v1/decisions?limit=500").ifPresent(j -> {
        List<String> lines = new java.util.ArrayList<>();
        j.forEach(d -> lines.add(0, d.path("at").asLong() + " " + d.path("level").asText() + " "
            + d.path("target").asText() + ": " + d.path("action").asText() + " — " + d.path("reason").asText()));
        try {
          java.nio.file.Files.write(c.dir.resolve("decisions.txt"), lines);
        } catch (java.io.IOException e) {
          c.note("decisions not written: " + e);
        }
      });
      double attainment = outcomes.isEmpty() ? 0 : (double) met / outcomes.size();
      c.note(String.format(Locale.ROOT, "RESULT %d requests sent during the rolling restart of a, b, c (%d before"
          + " the first restart), %d completed, %d failed; SLO attainment %.1f %% (failures count as misses)",
          sent.get(), answeredBefore, ok, failed.size(), attainment * 100));
      assertThat(outcomes).hasSize(sent.get());
      assertThat(failed).as("no request lost").isEmpty();
      assertThat(attainment).as("attainment through the restarts").isGreaterThanOrEqualTo(0.95);
    }
  }

  /** The model {@code n}'s front door serves (empty when it does not answer). */
  private static String modelOf(MultiJvmCluster c, NodeProcess n) {
    try {
      HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
          + n.doorPort + "/v1/models")).timeout(Duration.ofSeconds(2)).GET().build(),
          HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? JSON.readTree(r.body()).path("data").path(0).path("id").asText() : "";
    } catch (Exception e) {
      return "";
    }
  }
}
