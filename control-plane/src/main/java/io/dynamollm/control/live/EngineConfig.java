package io.dynamollm.control.live;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.instance.engine.HttpEngine;
import io.dynamollm.protocol.TensorParallelism;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Which engine instances run ({@code dynamollm.engine}): the in-process simulated one, or a server process. The
 * command's {@code {profile}} is the node's profile (docs/profile.md) — its file, or its bundled name.
 */
public record EngineConfig(boolean process, List<String> command, String model, boolean streaming,
    Duration startTimeout, Path logDir) {

  public static EngineConfig fromConfig(Config root) {
    try {
      Config c = root.getConfig("dynamollm.engine");
      String kind = c.getString("kind");
      if (!kind.equals("simulated") && !kind.equals("process")) {
        throw new IllegalArgumentException("dynamollm.engine.kind must be simulated or process, got '" + kind + "'");
      }
      // {profile}: the node's own profile (its file, or its bundled name), so that engine-sim runs what planners plan on
      String file = root.getString("dynamollm.profile.file").trim();
      String profile = file.isEmpty() ? root.getString("dynamollm.profile.name") : file;
      List<String> command = c.getStringList("command").stream().map(a -> a.replace("{profile}", profile)).toList();
      if (kind.equals("process") && command.isEmpty()) {
        throw new IllegalArgumentException("dynamollm.engine.command must not be empty when kind = process");
      }
      return new EngineConfig(kind.equals("process"), command, c.getString("model"), c.getBoolean("streaming"),
          c.getDuration("start-timeout"), Path.of(c.getString("log-dir")));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("configuration: " + e.getMessage(), e);
    }
  }

  /** A server process for instance {@code id} on {@code devices}, on a free port, its output in the log folder. */
  HttpEngine httpEngine(String id, TensorParallelism tp, List<GpuDevice> devices, double speedup) {
    try {
      Files.createDirectories(logDir);
      int port;
      try (ServerSocket s = new ServerSocket(0)) {
        port = s.getLocalPort();
      }
      Path log = logDir.resolve(id.replaceAll("[^A-Za-z0-9.-]", "_") + ".log");
      return new HttpEngine(new HttpEngine.Settings(command, model, streaming, startTimeout, log, speedup), port,
          tp.degree(), devices.stream().map(GpuDevice::index).toList());
    } catch (IOException e) {
      throw new IllegalStateException("cannot prepare an engine for " + id + ": " + e.getMessage(), e);
    }
  }
}
