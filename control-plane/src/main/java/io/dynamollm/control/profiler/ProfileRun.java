package io.dynamollm.control.profiler;

import io.dynamollm.gpu.GpuInventory;
import io.dynamollm.gpu.nvml.NvmlGpuDevices;
import io.dynamollm.protocol.profile.Measurements.Row;
import io.dynamollm.protocol.profile.ProfileBuild;
import io.dynamollm.protocol.profile.ProfileDocument;
import io.dynamollm.protocol.profile.TableProfile;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * One {@code profile build} run: finds how to read the engine's GPUs, measures every point of the plan not yet in the
 * journal ({@link EngineProfiler}), and turns the journal into a profile on top of the base ({@link ProfileBuild}).
 */
public final class ProfileRun {
  private ProfileRun() {}

  /** Where the GPUs' power is read. */
  public sealed interface PowerSource {
    /** NVML where it loads and shows the GPUs, else the engine's own DCGM-style metrics (engine-sim's). */
    record Auto(Optional<String> nvmlLibrary) implements PowerSource {}

    /** NVML, the host's GPU driver. */
    record Nvml(Optional<String> nvmlLibrary) implements PowerSource {}

    /** A DCGM exporter's (or engine-sim's) metrics endpoint. */
    record Exporter(URI metrics) implements PowerSource {}
  }

  /**
   * @param engine the engine's base URL, e.g. http://127.0.0.1:8000
   * @param model the model name to send; empty: the engine's first of /v1/models, else the base profile's
   * @param gpus the engine's GPUs (indices)
   * @param journal the measurement journal; an existing one is resumed when {@code resume}, refused otherwise
   * @param clockControl how the GPUs' clocks are locked where the plan sweeps them
   */
  public record Settings(URI engine, Optional<String> model, List<Integer> gpus, PowerSource power, Path journal,
      boolean resume, String hardware, ClockControl clockControl) {
    /** Settings of a run that does not sweep clocks. */
    public Settings(URI engine, Optional<String> model, List<Integer> gpus, PowerSource power, Path journal,
        boolean resume, String hardware) {
      this(engine, model, gpus, power, journal, resume, hardware, new ClockControl.Nvml(Optional.empty()));
    }
  }

  /** How the GPUs' clocks are locked for a sweep. */
  public sealed interface ClockControl {
    /** NVML's locked clocks on this host (root, or the administrator's permission). */
    record Nvml(Optional<String> nvmlLibrary) implements ClockControl {}

    /** engine-sim's simulated GPUs, through its own endpoint. */
    record EngineSim() implements ClockControl {}
  }

  /**
   * What a run gives.
   *
   * @param rows every measurement, the journal's earlier ones included
   * @param resumed rows the journal held before the run
   * @param document the built profile
   * @param meter what the GPUs were read through
   */
  public record Result(List<Row> rows, int resumed, ProfileDocument document, String meter) {}

  /**
   * Runs the sweep and builds the profile.
   *
   * @throws IOException when the engine or the GPUs cannot be read (the journal keeps what was measured)
   * @throws IllegalArgumentException for settings that cannot work (a journal of another degree, GPUs that do not
   *     match the degree), with a message that says what to change
   */
  public static Result run(Settings s, TableProfile base, EngineProfiler.Plan plan, EngineProfiler.Progress progress)
      throws IOException, InterruptedException {
    if (s.gpus().size() != plan.tp().degree()) {
      throw new IllegalArgumentException(plan.tp() + " runs on " + plan.tp().degree() + " GPUs; --gpus names "
          + s.gpus().size() + ": " + s.gpus());
    }
    for (int mhz : plan.sweepMhz()) {
      if (mhz < base.document().clocks().minMhz() || mhz >= base.maxClockMhz()) {
        throw new IllegalArgumentException("--sweep-clocks: " + mhz + " MHz is outside the base profile's "
            + base.document().clocks().minMhz() + "–" + base.maxClockMhz() + " MHz below its maximum (the series"
            + " are measured at the GPUs' own clock, the maximum)");
      }
    }
    if (Files.exists(s.journal()) && !s.resume()) {
      throw new IllegalArgumentException("the journal " + s.journal() + " exists: --resume goes on from the points"
          + " it holds; remove it to measure afresh");
    }
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    String model = s.model().or(() -> EngineClient.servedModel(http, s.engine())).orElse(base.model());
    EngineClient client = new EngineClient(http, s.engine(), model, 20251203L);
    try {
      client.metrics();
    } catch (IOException e) {
      throw new IOException("the engine at " + s.engine() + " does not answer GET /metrics (" + e.getMessage()
          + "); is it an OpenAI-compatible server such as vLLM or engine-sim, and up?", e);
    }
    Optional<ClockLock> lock = plan.sweepMhz().isEmpty() ? Optional.empty() : Optional.of(clockLock(s, http));
    // an interrupted sweep gives the GPUs their own clocks back too
    Thread restore = new Thread(() -> lock.ifPresent(ClockLock::close), "profile-build-restore-clocks");
    if (lock.isPresent()) {
      Runtime.getRuntime().addShutdownHook(restore);
    }
    try (GpuMeter meter = meter(s, http)) {
      EngineProfiler profiler = new EngineProfiler(client, meter, base, plan, s.journal(), progress, lock);
      int resumed = profiler.resumed();
      List<Row> rows = profiler.run();
      String gpus = s.gpus().stream().map(String::valueOf).collect(Collectors.joining(","));
      String clocks = lock.map(l -> "the series at the GPUs' own clocks, the frequency axis with them locked at "
          + plan.sweepMhz() + " MHz through " + l.describe()).orElse("clocks as the host runs them (not swept)");
      String by = String.format(java.util.Locale.ROOT, "dynamollm profile build on %s: %s %s (model %s) on GPUs %s,"
          + " GPUs read through %s, %s%s",
          Instant.now().truncatedTo(ChronoUnit.SECONDS), plan.tp(), s.engine(), model, gpus, meter.describe(), clocks,
          plan.timeScale() == 1 ? "" : ", engine time " + plan.timeScale() + "x real time");
      ProfileDocument doc = ProfileBuild.apply(base.document(), s.journal().toString(), rows,
          new ProfileBuild.Options(s.hardware(), by));
      return new Result(rows, resumed, doc, meter.describe());
    } finally {
      if (lock.isPresent()) {
        lock.get().close();
        try {
          Runtime.getRuntime().removeShutdownHook(restore);
        } catch (IllegalStateException shuttingDown) {
          // the hook runs anyway
        }
      }
    }
  }

  private static ClockLock clockLock(Settings s, HttpClient http) throws IOException {
    if (s.clockControl() instanceof ClockControl.EngineSim) {
      return new ClockLock.EngineSim(http, s.engine());
    }
    String gpus = s.gpus().stream().map(String::valueOf).collect(Collectors.joining(","));
    NvmlGpuDevices nvml = NvmlGpuDevices.open(((ClockControl.Nvml) s.clockControl()).nvmlLibrary(),
        Optional.of(gpus));
    if (nvml.inventory() instanceof GpuInventory.Available a && a.devices().size() == s.gpus().size()) {
      return new ClockLock.Devices(a.devices(), "NVML " + a.driverVersion() + " (GPUs " + gpus + ")", nvml);
    }
    String problem = nvml.inventory() instanceof GpuInventory.Unavailable u ? u.reason()
        : "NVML shows not all of GPUs " + gpus;
    nvml.close();
    throw new IOException("cannot lock the GPUs' clocks for --sweep-clocks: " + problem);
  }

  private static GpuMeter meter(Settings s, HttpClient http) throws IOException {
    String gpus = s.gpus().stream().map(String::valueOf).collect(Collectors.joining(","));
    if (s.power() instanceof PowerSource.Exporter e) {
      return new ExporterMeter(http, e.metrics(), s.gpus());
    }
    if (s.power() instanceof PowerSource.Nvml n) {
      Nvml viaNvml = nvml(n.nvmlLibrary(), gpus);
      return viaNvml.meter().orElseThrow(() -> new IOException(viaNvml.problem()));
    }
    Nvml viaNvml = nvml(((PowerSource.Auto) s.power()).nvmlLibrary(), gpus);
    if (viaNvml.meter().isPresent()) {
      return viaNvml.meter().get();
    }
    try {
      return new ExporterMeter(http, s.engine().resolve("/metrics"), s.gpus());
    } catch (IOException e) {
      throw new IOException("cannot read the GPUs' power: " + viaNvml.problem() + "; and " + e.getMessage()
          + ". Run on the GPU host (NVML), or give --power-from URL of a DCGM exporter", e);
    }
  }

  /** NVML's meter of the GPUs, or why there is none. */
  private record Nvml(Optional<GpuMeter> meter, String problem) {}

  private static Nvml nvml(Optional<String> library, String gpus) {
    NvmlGpuDevices nvml = NvmlGpuDevices.open(library, Optional.of(gpus));
    if (nvml.inventory() instanceof GpuInventory.Available a && !a.devices().isEmpty()) {
      return new Nvml(Optional.of(new DeviceMeter(a.devices(), "NVML " + a.driverVersion() + " (GPUs " + gpus + ")",
          nvml)), "");
    }
    String problem = nvml.inventory() instanceof GpuInventory.Unavailable u ? u.reason()
        : "NVML shows none of GPUs " + gpus;
    nvml.close();
    return new Nvml(Optional.empty(), problem);
  }
}
