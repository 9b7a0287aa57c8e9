package io.dynamollm.control.profiler;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * GPUs as a DCGM exporter shows them ({@code DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION} in mJ, {@code
 * DCGM_FI_DEV_POWER_USAGE} in W, {@code DCGM_FI_DEV_SM_CLOCK} in MHz, one series per GPU labelled {@code gpu}):
 * NVIDIA's dcgm-exporter on a GPU host, or {@code engine-sim}'s {@code /metrics} for its simulated GPUs.
 */
final class ExporterMeter implements GpuMeter {
  static final String ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION";
  static final String POWER = "DCGM_FI_DEV_POWER_USAGE";
  static final String CLOCK = "DCGM_FI_DEV_SM_CLOCK";

  private final HttpClient http;
  private final URI uri;
  private final Set<String> gpus;

  /**
   * @param gpus the {@code gpu} labels of the engine's GPUs
   * @throws IOException when the endpoint does not answer or lacks an energy counter for one of them
   */
  ExporterMeter(HttpClient http, URI uri, List<Integer> gpus) throws IOException {
    this.http = http;
    this.uri = uri;
    this.gpus = new TreeSet<>(gpus.stream().map(String::valueOf).toList());
    Set<String> found = new TreeSet<>();
    for (MetricsText.Sample s : scrape()) {
      if (s.name().equals(ENERGY) && s.labels().containsKey("gpu")) {
        found.add(s.labels().get("gpu"));
      }
    }
    if (!found.containsAll(this.gpus)) {
      throw new IOException(uri + " has no " + ENERGY + " for GPU(s) " + missing(found) + " (it has "
          + (found.isEmpty() ? "none" : String.join(",", found)) + ")");
    }
  }

  private List<String> missing(Set<String> found) {
    List<String> out = new ArrayList<>(gpus);
    out.removeAll(found);
    return out;
  }

  private List<MetricsText.Sample> scrape() throws IOException {
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).GET().build(),
          HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        throw new IOException(uri + " answered " + r.statusCode());
      }
      return MetricsText.parse(r.body());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted reading " + uri, e);
    }
  }

  @Override
  public Reading read() throws IOException {
    long before = System.nanoTime();
    List<MetricsText.Sample> samples = scrape();
    long after = System.nanoTime();
    return reading(samples, before + (after - before) / 2);
  }

  /** Whether this reads {@code metrics} (so one scrape of it serves both the engine's counters and the GPUs). */
  boolean reads(URI metrics) {
    return uri.equals(metrics);
  }

  /** The reading in a scrape taken at {@code nanoTime}. */
  Reading reading(List<MetricsText.Sample> samples, long nanoTime) throws IOException {
    double mj = 0;
    double watts = 0;
    int powers = 0;
    List<Double> clocks = new ArrayList<>();
    int energies = 0;
    for (MetricsText.Sample s : samples) {
      String gpu = s.labels().get("gpu");
      if (gpu == null || !gpus.contains(gpu)) {
        continue;
      }
      switch (s.name()) {
        case ENERGY -> {
          mj += s.value();
          energies++;
        }
        case POWER -> {
          watts += s.value();
          powers++;
        }
        case CLOCK -> clocks.add(s.value());
        default -> { }
      }
    }
    if (energies != gpus.size()) {
      throw new IOException(uri + " stopped showing " + ENERGY + " for GPUs " + gpus);
    }
    Collections.sort(clocks);
    return new Reading(nanoTime, mj / 1000.0, powers == 0 ? Double.NaN : watts / powers,
        clocks.isEmpty() ? Double.NaN : clocks.get(clocks.size() / 2));
  }

  @Override
  public int gpus() {
    return gpus.size();
  }

  @Override
  public String describe() {
    return "DCGM-style metrics at " + uri + " (GPUs " + String.join(",", gpus) + ")";
  }
}
