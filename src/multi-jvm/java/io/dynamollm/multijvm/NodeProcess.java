package io.dynamollm.multijvm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One {@code dynamollm node} as its own OS process: the built jar, its own data dir, cluster, admin and front-door
 * ports on 127.0.0.1, output to a log file. Faults: {@link #kill} (SIGKILL), {@link #freeze} / {@link #thaw} (SIGSTOP /
 * SIGCONT), {@link #terminate} (SIGTERM, a clean leave). A watchdog process kills the node when the test JVM goes away
 * however it goes (a failed or killed test run leaves no node behind).
 */
final class NodeProcess {
  final String name;
  final int clusterPort;
  final int adminPort;
  final int doorPort;
  /** The ops endpoint: /metrics, /ready, /alive, /cluster/members. */
  final int opsPort;
  final Path dataDir;
  final Path log;
  private final List<String> command;
  private Process process;
  private int starts;

  NodeProcess(String name, int clusterPort, int adminPort, int doorPort, int opsPort, Path dir,
      List<String> extraArgs) {
    this.opsPort = opsPort;
    this.name = name;
    this.clusterPort = clusterPort;
    this.adminPort = adminPort;
    this.doorPort = doorPort;
    this.dataDir = dir.resolve(name + "-data");
    this.log = dir.resolve(name + ".log");
    List<String> c = new ArrayList<>(List.of(javaBin(), "--add-opens", "java.base/java.nio=ALL-UNNAMED",
        "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
        // small and quick to start: several nodes share the test machine's cores
        "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
        "-Djava.util.concurrent.ForkJoinPool.common.parallelism=4",
        "-jar", jar().toString(), "node",
        "--host", "127.0.0.1", "--port", Integer.toString(clusterPort), "--http-port", Integer.toString(adminPort),
        "--front-door-port", Integer.toString(doorPort), "--ops-port", Integer.toString(opsPort),
        "--data-dir", dataDir.toString()));
    c.addAll(extraArgs);
    this.command = List.copyOf(c);
  }

  static Path jar() {
    Path jar = Path.of(System.getProperty("dynamollm.jar", "app/target/dynamollm.jar"));
    if (!Files.isRegularFile(jar)) {
      throw new IllegalStateException("the multi-JVM tests run the built jar, " + jar + ", which is missing: run"
          + " mvn -B verify from the root (it packages app first)");
    }
    return jar;
  }

  private static String javaBin() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  /** The command this node runs (what a person would type, less the JVM flags). */
  List<String> command() {
    return command;
  }

  synchronized void start() throws IOException {
    if (process != null && process.isAlive()) {
      throw new IllegalStateException(name + " is running");
    }
    starts++;
    Files.writeString(log, "\n===== start " + starts + ": " + String.join(" ", command) + "\n",
        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().put("DYNAMOLLM_ADMIN_TOKEN", MultiJvmCluster.TOKEN);
    process = pb.start();
    // the watchdog: kills this node once the test JVM is gone (even after a SIGKILL of the test run)
    new ProcessBuilder("sh", "-c", "while kill -0 " + ProcessHandle.current().pid() + " 2>/dev/null && kill -0 "
        + process.pid() + " 2>/dev/null; do sleep 1; done; kill -9 " + process.pid() + " 2>/dev/null")
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
  }

  synchronized boolean alive() {
    return process != null && process.isAlive();
  }

  synchronized long pid() {
    return process.pid();
  }

  synchronized void kill() throws InterruptedException {
    if (process != null) {
      process.destroyForcibly(); // SIGKILL on Linux
      process.waitFor(30, TimeUnit.SECONDS);
    }
  }

  void freeze() throws IOException, InterruptedException {
    signal("STOP");
  }

  void thaw() throws IOException, InterruptedException {
    signal("CONT");
  }

  /** SIGTERM: the node leaves the cluster and exits. */
  synchronized void terminate() {
    if (process != null) {
      process.destroy();
    }
  }

  private void signal(String sig) throws IOException, InterruptedException {
    // the shell's kill (a builtin): no procps needed on a minimal machine
    int rc = new ProcessBuilder("sh", "-c", "kill -" + sig + " " + pid()).inheritIO().start().waitFor();
    if (rc != 0) {
      throw new IllegalStateException("kill -" + sig + " " + pid() + " failed: " + rc);
    }
  }

  /** Waits for the process to exit; its status, or empty when it did not within {@code timeout}. */
  java.util.OptionalInt awaitExit(Duration timeout) throws InterruptedException {
    Process p;
    synchronized (this) {
      p = process;
    }
    if (p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      return java.util.OptionalInt.of(p.exitValue());
    }
    return java.util.OptionalInt.empty();
  }

  String logText() {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      return "";
    }
  }

  String adminUrl() {
    return "http://127.0.0.1:" + adminPort;
  }

  String address() {
    return "pekko://dynamollm@127.0.0.1:" + clusterPort;
  }
}
