package io.dynamollm.control.profiler;

import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.GpuException;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;

/**
 * Locks the SM clock of the engine's GPUs for {@code profile build --sweep-clocks}, the one thing the profiler ever
 * changes on them, and only where the operator asked for it: never on a shared or borrowed machine. Implementations:
 * {@link Devices} (the GPU driver: NVML's locked clocks on this host, as the instance manager sets them) and
 * {@link EngineSim} (engine-sim's simulated GPUs, through its {@code /dynamollm/gpu-clocks}). {@link #close} gives the
 * GPUs their own clocks back.
 */
public interface ClockLock extends AutoCloseable {

  /** Locks every GPU of the engine at {@code mhz}. */
  void lock(int mhz) throws IOException;

  /** Gives the GPUs their own clocks back. */
  void reset() throws IOException;

  /** What is locked, for the profile's provenance. */
  String describe();

  /** Resets; a failure is reported, not thrown (the run's own error comes first). */
  @Override
  default void close() {
    try {
      reset();
    } catch (IOException e) {
      System.err.println("warning: could not give the GPUs their own clocks back: " + e.getMessage()
          + " (nvidia-smi -rgc resets them)");
    }
  }

  /** The GPU driver's devices: NVML on the host (or simulated devices in this process). */
  final class Devices implements ClockLock {
    private final List<? extends GpuDevice> devices;
    private final String description;
    private final AutoCloseable driver;

    /** @param driver closed after the clocks are reset (NVML's session), once */
    public Devices(List<? extends GpuDevice> devices, String description, AutoCloseable driver) {
      if (devices.isEmpty()) {
        throw new IllegalArgumentException("no GPUs to lock");
      }
      this.devices = List.copyOf(devices);
      this.description = description;
      this.driver = driver;
    }

    private boolean closed;

    @Override
    public synchronized void close() {
      if (closed) {
        return;
      }
      ClockLock.super.close();
      closed = true;
      try {
        driver.close();
      } catch (Exception e) {
        // nothing held that outlives the process
      }
    }

    @Override
    public void lock(int mhz) throws IOException {
      try {
        for (GpuDevice d : devices) {
          d.setLockedGpuClocks(mhz, mhz);
        }
      } catch (GpuException e) {
        throw new IOException("locking the GPUs at " + mhz + " MHz: " + e.getMessage()
            + " (it needs root, or an administrator's permission for locked clocks)", e);
      }
    }

    @Override
    public void reset() throws IOException {
      try {
        for (GpuDevice d : devices) {
          d.resetLockedGpuClocks();
        }
      } catch (GpuException e) {
        throw new IOException("resetting the GPUs' clocks: " + e.getMessage(), e);
      }
    }

    @Override
    public String describe() {
      return description;
    }
  }

  /** engine-sim's simulated GPUs ({@code PUT} and {@code DELETE /dynamollm/gpu-clocks}). */
  final class EngineSim implements ClockLock {
    private final HttpClient http;
    private final URI clocks;

    public EngineSim(HttpClient http, URI engine) {
      this.http = http;
      this.clocks = engine.resolve("/dynamollm/gpu-clocks");
    }

    @Override
    public void lock(int mhz) throws IOException {
      send(HttpRequest.newBuilder(clocks).timeout(Duration.ofSeconds(10))
          .PUT(HttpRequest.BodyPublishers.ofString("{\"locked_mhz\": " + mhz + "}"))
          .header("Content-Type", "application/json").build(), "locking the GPUs at " + mhz + " MHz");
    }

    @Override
    public void reset() throws IOException {
      send(HttpRequest.newBuilder(clocks).timeout(Duration.ofSeconds(10)).DELETE().build(),
          "resetting the GPUs' clocks");
    }

    private void send(HttpRequest r, String what) throws IOException {
      try {
        HttpResponse<String> answer = http.send(r, HttpResponse.BodyHandlers.ofString());
        if (answer.statusCode() != 200) {
          throw new IOException(what + ": " + clocks + " answered " + answer.statusCode() + " " + answer.body()
              + " (--clock-control engine works with engine-sim only)");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException(what + ": interrupted", e);
      }
    }

    @Override
    public String describe() {
      return "engine-sim's simulated GPUs (" + clocks + ")";
    }
  }
}
