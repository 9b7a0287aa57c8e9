package io.dynamollm.app.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.GpuException;
import io.dynamollm.gpu.GpuInventory;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Renders what the GPU driver reads from each device. Read-only: nothing here sets a clock or a limit. A reading the
 * device refuses shows as "n/a" (text) or null with the error (JSON), without hiding the rest.
 */
public final class GpuReport {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private GpuReport() {}

  public static String text(GpuInventory.Available inv) {
    StringBuilder out = new StringBuilder();
    out.append(String.format(Locale.ROOT, "backend: %s, driver %s, %d GPU(s)%n", inv.backend(), inv.driverVersion(),
        inv.devices().size()));
    for (GpuDevice g : inv.devices()) {
      List<Integer> clocks = g.supportedGraphicsClocksMhz();
      out.append(String.format(Locale.ROOT, "%nGPU %d  %s  %s%n", g.index(), g.name(), g.uuid()));
      row(out, "power", read(() -> fmt("%.1f W", g.powerUsageMw() / 1000.0)));
      row(out, "energy counter", read(() -> fmt("%.3f kJ", g.totalEnergyMj() / 1e6)));
      row(out, "SM clock", read(() -> g.smClockMhz() + " MHz"));
      row(out, "clocks", clocks.isEmpty() ? "n/a"
          : fmt("%d supported, %d–%d MHz", clocks.size(), clocks.get(clocks.size() - 1), clocks.get(0)));
      row(out, "utilization", read(() -> {
        var u = g.utilization();
        return u.gpuPercent() + " % GPU, " + u.memoryPercent() + " % memory";
      }));
      row(out, "memory", read(() -> {
        var m = g.memory();
        return fmt("%.1f / %.1f GiB", m.usedBytes() / GIB, m.totalBytes() / GIB);
      }));
      row(out, "temperature", read(() -> g.temperatureC() + " °C"));
      row(out, "power limit", read(() -> {
        var c = g.powerLimitConstraints();
        return fmt("%.0f W (settable %.0f–%.0f W)", g.powerLimitMw() / 1000.0, c.minMw() / 1000.0, c.maxMw() / 1000.0);
      }));
      row(out, "clock reasons", read(() -> {
        List<String> n = g.clockEventReasons().names();
        return n.isEmpty() ? "none" : String.join(", ", n);
      }));
    }
    return out.toString();
  }

  public static String json(GpuInventory.Available inv) {
    ObjectNode root = JSON.createObjectNode();
    root.put("backend", inv.backend());
    root.put("driver_version", inv.driverVersion());
    ArrayNode gpus = root.putArray("gpus");
    for (GpuDevice g : inv.devices()) {
      ObjectNode n = gpus.addObject();
      n.put("index", g.index());
      n.put("uuid", g.uuid());
      n.put("name", g.name());
      n.put("simulated", g.simulated());
      ObjectNode caps = n.putObject("capabilities");
      caps.put("locked_clocks", g.capabilities().lockedClocks());
      caps.put("power_limit", g.capabilities().powerLimit());
      caps.put("energy_counter", g.capabilities().energyCounter());
      caps.put("clock_event_reasons", g.capabilities().clockEventReasons());
      put(n, "power_mw", () -> (long) g.powerUsageMw());
      put(n, "energy_mj", g::totalEnergyMj);
      put(n, "sm_clock_mhz", () -> (long) g.smClockMhz());
      ArrayNode clocks = n.putArray("supported_graphics_clocks_mhz");
      g.supportedGraphicsClocksMhz().forEach(clocks::add);
      put(n, "utilization_gpu_pct", () -> (long) g.utilization().gpuPercent());
      put(n, "memory_used_bytes", () -> g.memory().usedBytes());
      put(n, "memory_total_bytes", () -> g.memory().totalBytes());
      put(n, "temperature_c", () -> (long) g.temperatureC());
      put(n, "power_limit_mw", () -> (long) g.powerLimitMw());
      try {
        n.putPOJO("clock_event_reasons", g.clockEventReasons().names());
      } catch (GpuException e) {
        n.putNull("clock_event_reasons");
        n.put("clock_event_reasons_error", e.getMessage());
      }
    }
    try {
      return JSON.writeValueAsString(root) + "\n";
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException("cannot render GPU JSON", e);
    }
  }

  private static final double GIB = 1024.0 * 1024 * 1024;

  private static void row(StringBuilder out, String label, String value) {
    out.append(String.format(Locale.ROOT, "  %-15s%s%n", label, value));
  }

  private static String fmt(String format, Object... args) {
    return String.format(Locale.ROOT, format, args);
  }

  private static String read(Supplier<String> s) {
    try {
      return s.get();
    } catch (GpuException e) {
      return "n/a (" + e.nvmlMessage() + ")";
    }
  }

  private static void put(ObjectNode n, String field, Supplier<Long> s) {
    try {
      n.put(field, s.get());
    } catch (GpuException e) {
      n.putNull(field);
      n.put(field + "_error", e.getMessage());
    }
  }
}
