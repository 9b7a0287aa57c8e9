package io.dynamollm.app.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dynamollm plan}: asks a running control node what it would do with other SLOs or limits (its plan preview,
 * {@code POST /api/v1/plan/preview}) and prints the answer next to what it runs now. Read-only: nothing is applied.
 */
@Command(
    name = "plan",
    mixinStandardHelpOptions = true,
    description = {
      "What a running cluster would do with other SLOs and/or limits, under its current forecast: pools, GPUs, TP and"
          + " clocks, predicted power and energy per hour, per type whether its SLO is met — next to the settings in"
          + " force. Read-only, no token needed: nothing is applied.",
      "Limits left out keep the values in force (read from GET /api/v1/limits).",
      "Example: dynamollm plan --slo LS=500/60 --slo LL=2000/120 --min-mhz 1200 --max-mhz 1980",
      "Example: dynamollm plan --power-budget-w 9000"
    })
final class PlanCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern SLO = Pattern.compile("([A-Za-z]{2})=([0-9]+(?:\\.[0-9]+)?)/([0-9]+(?:\\.[0-9]+)?)");

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--url", paramLabel = "URL", defaultValue = "http://127.0.0.1:8080",
      description = "A control node's admin API (default ${DEFAULT-VALUE}).")
  String url;

  @Option(names = "--slo", paramLabel = "TYPE=TTFT/TBT",
      description = "A proposed SLO in ms, p99, e.g. LS=500/60; repeat for several types.")
  List<String> slos = List.of();

  @Option(names = "--min-mhz", paramLabel = "MHZ", description = "Proposed lowest clock.")
  Integer minMhz;

  @Option(names = "--max-mhz", paramLabel = "MHZ", description = "Proposed highest clock.")
  Integer maxMhz;

  @Option(names = "--gpu-budget", paramLabel = "N", description = "Proposed GPU budget.")
  Integer gpuBudget;

  @Option(names = "--power-budget-w", paramLabel = "W",
      description = "Proposed watt budget: the most GPU power the cluster may draw.")
  Double powerBudgetW;

  @Option(names = "--json", description = "Print the preview as the API answers it.")
  boolean json;

  @Override
  public Integer call() throws Exception {
    ObjectNode body = JSON.createObjectNode();
    if (!slos.isEmpty()) {
      ObjectNode s = body.putObject("slos");
      for (String x : slos) {
        Matcher m = SLO.matcher(x.trim());
        if (!m.matches()) {
          throw new CommandLine.ParameterException(spec.commandLine(), "--slo must look like LS=500/60 (type ="
              + " TTFT ms / TBT ms), got '" + x + "'");
        }
        ObjectNode t = s.putObject(m.group(1).toUpperCase(Locale.ROOT));
        t.put("ttft_p99_ms", Double.parseDouble(m.group(2)));
        t.put("tbt_p99_ms", Double.parseDouble(m.group(3)));
      }
    }
    URI base;
    try {
      base = URI.create(url.replaceAll("/+$", "") + "/");
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--url is not a URL: " + url);
    }
    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    if (minMhz != null || maxMhz != null || gpuBudget != null || powerBudgetW != null) {
      // a proposal of limits is a whole set: what is not proposed stays as it is in force
      HttpResponse<String> now = send(client, HttpRequest.newBuilder(base.resolve("api/v1/limits")).GET(), base);
      if (now.statusCode() != 200) {
        throw new DynamoLlmCli.UserError("could not read the limits in force (" + now.statusCode() + "): "
            + now.body());
      }
      ObjectNode l = (ObjectNode) JSON.readTree(now.body());
      body.set("limits", l);
      if (minMhz != null) {
        l.put("min_mhz", minMhz);
      }
      if (maxMhz != null) {
        l.put("max_mhz", maxMhz);
      }
      if (gpuBudget != null) {
        l.put("gpu_budget", gpuBudget);
      }
      if (powerBudgetW != null) {
        l.put("power_budget_w", powerBudgetW);
      }
    }
    HttpResponse<String> r = send(client, HttpRequest.newBuilder(base.resolve("api/v1/plan/preview"))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body.toString())), base);
    PrintWriter out = spec.commandLine().getOut();
    JsonNode answer = JSON.readTree(r.body());
    if (r.statusCode() != 200) {
      throw new DynamoLlmCli.UserError("the cluster refused the preview (" + r.statusCode() + "): "
          + answer.path("error").path("message").asText(r.body()));
    }
    if (json) {
      out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(answer));
      return 0;
    }
    out.print(text(answer));
    out.flush();
    return 0;
  }

  private static HttpResponse<String> send(HttpClient client, HttpRequest.Builder req, URI base)
      throws InterruptedException {
    try {
      return client.send(req.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    } catch (java.io.IOException e) {
      throw new DynamoLlmCli.UserError("no answer from " + base + ": " + e.getMessage()
          + " (is a control node running there? --url)");
    }
  }

  /** The preview as a person reads it: each side's pools, then the difference. */
  static String text(JsonNode a) {
    StringBuilder b = new StringBuilder();
    for (String side : List.of("now", "proposed")) {
      JsonNode s = a.get(side);
      b.append(String.format(Locale.ROOT, "%s: %.1f kW predicted (%.2f kWh per hour) on %d of %d GPUs%n",
          side.equals("now") ? "in force" : "proposed", s.get("predicted_power_w").asDouble() / 1000,
          s.get("energy_per_hour_kwh").asDouble(), s.get("gpus_used").asInt(), a.get("host_gpus").asInt()));
      for (JsonNode p : s.get("pools")) {
        JsonNode cap = p.path("power_cap_w");
        b.append(String.format(Locale.ROOT, "  %-4s %-28s %3d GPUs  %-26s %7.2f of %7.2f req/s  %s%s%n",
            p.get("pool").asText(), p.get("types").toString().replace("\"", ""), p.get("gpus").asInt(),
            p.get("plan").asText(), p.get("load_rps").asDouble(), p.get("capacity_rps").asDouble(),
            p.get("meets_slos").asBoolean() ? "meets its SLOs" : "SHORT: misses its SLOs",
            cap.isNumber() ? String.format(Locale.ROOT, " (capped at %.0f W by the watt budget)", cap.asDouble())
                : ""));
      }
    }
    JsonNode d = a.get("difference");
    b.append(String.format(Locale.ROOT, "difference: %+.1f kW (%+.1f %%), %+.2f kWh per hour, %+d GPUs; types whose"
            + " pool plan changes: %s%n", d.get("power_w").asDouble() / 1000, d.get("power_percent").asDouble(),
        d.get("energy_per_hour_kwh").asDouble(), d.get("gpus_used").asInt(),
        d.get("types_changed").isEmpty() ? "none" : d.get("types_changed").toString().replace("\"", "")));
    return b.toString();
  }
}
