package io.dynamollm.multijvm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.BooleanSupplier;

/**
 * A cluster of {@link NodeProcess}es for one scenario: every node lists the same seeds (the cluster's first nodes,
 * itself included), as the README's multi-node commands do; all run on simulated GPUs. {@link #close} kills whatever
 * still runs. The scenario's timeline (faults, writes, what each node saw) goes to {@code timeline.txt} in its folder
 * under {@code target/multi-jvm/}.
 */
final class MultiJvmCluster implements AutoCloseable {
  static final String TOKEN = "multi-jvm-test-token";
  private static final ObjectMapper JSON = new ObjectMapper();

  final Path dir;
  private final Map<String, NodeProcess> nodes = new LinkedHashMap<>();
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private final long t0 = System.nanoTime();
  private final List<String> timeline = new ArrayList<>();

  /**
   * @param names the nodes, the first {@code seeds} of them the seeds
   * @param extraArgs more flags for every node (e.g. roles)
   */
  MultiJvmCluster(String scenario, List<String> names, int seeds, List<String> extraArgs) throws IOException {
    this(scenario, names, seeds, extraArgs, Map.of(), "");
  }

  /**
   * @param perNode more flags for single nodes, by name (e.g. roles)
   * @param config more lines of the nodes' config file
   */
  MultiJvmCluster(String scenario, List<String> names, int seeds, List<String> extraArgs,
      Map<String, List<String>> perNode, String config) throws IOException {
    this.dir = Path.of(System.getProperty("dynamollm.multi-jvm.out", "target/multi-jvm")).resolve(scenario);
    if (Files.exists(dir)) {
      try (var walk = Files.walk(dir)) {
        walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
    Files.createDirectories(dir);
    Path conf = dir.resolve("node.conf");
    // simulated GPUs (no NVML here); 2 per host keeps each node's engines light
    Files.writeString(conf, "dynamollm.gpu.backend = simulated\ndynamollm.gpu.simulated-count = 2\n" + config);
    List<int[]> ports = new ArrayList<>();
    for (int k = 0; k < names.size(); k++) {
      ports.add(new int[] {freePort(), freePort(), freePort(), freePort()});
    }
    List<String> seedList = new ArrayList<>();
    for (int k = 0; k < seeds; k++) {
      seedList.add("127.0.0.1:" + ports.get(k)[0]);
    }
    for (int k = 0; k < names.size(); k++) {
      List<String> args = new ArrayList<>(List.of("--seeds", String.join(",", seedList), "--config", conf.toString()));
      args.addAll(extraArgs);
      args.addAll(perNode.getOrDefault(names.get(k), List.of()));
      int[] p = ports.get(k);
      nodes.put(names.get(k), new NodeProcess(names.get(k), p[0], p[1], p[2], p[3], dir, args));
    }
    Runtime.getRuntime().addShutdownHook(new Thread(this::killAll));
    note("cluster of " + names + ", seeds " + seedList);
  }

  /** The node whose cluster address is {@code host:port}. */
  Optional<NodeProcess> byHost(String hostPort) {
    return nodes.values().stream().filter(n -> ("127.0.0.1:" + n.clusterPort).equals(hostPort)).findFirst();
  }

  NodeProcess node(String name) {
    return nodes.get(name);
  }

  List<NodeProcess> nodes() {
    return List.copyOf(nodes.values());
  }

  /** Writes a line to the timeline, stamped with seconds since the scenario began. */
  synchronized void note(String what) {
    String line = String.format(Locale.ROOT, "%8.2f s  %s", seconds(), what);
    timeline.add(line);
    try {
      Files.write(dir.resolve("timeline.txt"), timeline);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  double seconds() {
    return (System.nanoTime() - t0) / 1e9;
  }

  void startAll() throws IOException {
    for (NodeProcess n : nodes.values()) {
      start(n);
    }
  }

  void start(NodeProcess n) throws IOException {
    n.start();
    note("START " + n.name + " (pid " + n.pid() + "): " + String.join(" ", n.command().subList(
        n.command().indexOf("node"), n.command().size())));
  }

  /** GET {@code path} on {@code n}'s admin API; empty when it does not answer 200 within 2 s. */
  Optional<JsonNode> get(NodeProcess n, String path) {
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(n.adminUrl() + path))
          .timeout(Duration.ofSeconds(2)).GET().build(), HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? Optional.of(JSON.readTree(r.body())) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  /** PUT a JSON body with the admin token; the status (−1 when there was no answer) and body. */
  Map.Entry<Integer, String> put(NodeProcess n, String path, String body, Duration timeout) {
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(n.adminUrl() + path)).timeout(timeout)
          .header("Authorization", "Bearer " + TOKEN).header("Content-Type", "application/json")
          .PUT(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
      return Map.entry(r.statusCode(), r.body());
    } catch (IOException e) {
      return Map.entry(-1, e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Map.entry(-1, "interrupted");
    }
  }

  /** The members {@code n} sees as up, by address (empty when it does not answer). */
  List<String> upMembers(NodeProcess n) {
    return get(n, "/api/v1/cluster").map(j -> {
      List<String> up = new ArrayList<>();
      j.path("members").forEach(m -> {
        if (m.path("status").asText().equals("up")) {
          up.add(m.path("address").asText());
        }
      });
      return up;
    }).orElse(List.of());
  }

  /** True when {@code n} answers and sees exactly {@code expected} as its up members, all reachable. */
  boolean sees(NodeProcess n, List<NodeProcess> expected) {
    return get(n, "/api/v1/cluster").map(j -> {
      List<String> up = new ArrayList<>();
      j.path("members").forEach(m -> up.add(m.path("address").asText() + "/" + m.path("status").asText()));
      List<String> want = expected.stream().map(e -> e.address() + "/up").sorted().toList();
      return up.stream().sorted().toList().equals(want) && j.path("unreachable").isEmpty();
    }).orElse(false);
  }

  /** Waits until every node sees every node up and reachable; fails naming the first that does not. */
  void awaitFormed(Duration timeout) throws InterruptedException {
    for (NodeProcess n : nodes()) {
      boolean ok = await(timeout, () -> sees(n, nodes()));
      if (!ok) {
        throw new AssertionError(n.name + " does not see " + nodes().stream().map(m -> m.name).toList()
            + " up; it sees " + upMembers(n) + " (log: " + n.log + ")");
      }
    }
    note("FORMED " + nodes().stream().map(m -> m.name).toList() + " (every one sees all up, all reachable)");
  }

  /** Waits until {@code condition} holds, polling every 250 ms; false after {@code timeout}. */
  static boolean await(Duration timeout, BooleanSupplier condition) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < end) {
      if (condition.getAsBoolean()) {
        return true;
      }
      Thread.sleep(250);
    }
    return condition.getAsBoolean();
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    }
  }

  private void killAll() {
    for (NodeProcess n : nodes.values()) {
      try {
        if (n.alive()) {
          n.thaw(); // a frozen process cannot run its exit, but SIGKILL works on it anyway
          n.kill();
        }
      } catch (Exception e) {
        // best effort: the watchdog kills it when this JVM exits
      }
    }
  }

  @Override
  public void close() {
    killAll();
    note("all nodes stopped");
  }
}
