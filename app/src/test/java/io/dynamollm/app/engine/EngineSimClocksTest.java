package io.dynamollm.app.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.control.engine.EngineSimServer;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * engine-sim's {@code /dynamollm/gpu-clocks}: what NVML's locked clocks are to a real host, for {@code profile build
 * --sweep-clocks --clock-control engine}. Locks its simulated GPUs (the DCGM-style metrics show it), resets them, and
 * refuses what is not a clock they have with a JSON error.
 */
class EngineSimClocksTest {
  private final HttpClient http = HttpClient.newHttpClient();

  private HttpResponse<String> send(String method, URI uri, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(uri).method(method, body == null ? HttpRequest.BodyPublishers.noBody()
        : HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void locksResetsAndRefusesWhatIsNoClock() throws Exception {
    try (EngineSimServer engine = new EngineSimServer(Profiles.h100(), TensorParallelism.TP2, "127.0.0.1", 0, 1, 0,
        4096)) {
      String base = "http://127.0.0.1:" + engine.address().getPort();
      URI clocks = URI.create(base + "/dynamollm/gpu-clocks");
      assertThat(send("GET", clocks, null).body()).contains("\"locked_mhz\":null");
      HttpResponse<String> locked = send("PUT", clocks, "{\"locked_mhz\": 1200}");
      assertThat(locked.statusCode()).isEqualTo(200);
      assertThat(locked.body()).contains("\"locked_mhz\":1200");
      assertThat(send("GET", URI.create(base + "/metrics"), null).body())
          .containsPattern("DCGM_FI_DEV_SM_CLOCK\\{gpu=\"1\",UUID=\"[^\"]+\"} 1200");
      HttpResponse<String> reset = send("DELETE", clocks, null);
      assertThat(reset.statusCode()).isEqualTo(200);
      assertThat(reset.body()).contains("\"locked_mhz\":null");

      HttpResponse<String> garbage = send("PUT", clocks, "{\"locked_mhz\": ");
      assertThat(garbage.statusCode()).isEqualTo(400);
      assertThat(garbage.body()).contains("not valid JSON");
      for (String body : new String[] {"{\"locked_mhz\": \"fast\"}", "{\"locked_mhz\": 1200.5}", "{}", "[]"}) {
        HttpResponse<String> r = send("PUT", clocks, body);
        assertThat(r.statusCode()).as(body).isEqualTo(422);
        assertThat(r.body()).as(body).contains("a whole number of MHz");
      }
      HttpResponse<String> high = send("PUT", clocks, "{\"locked_mhz\": 2500}");
      assertThat(high.statusCode()).isEqualTo(422);
      assertThat(high.body()).contains("locked_mhz must be within the GPUs'");
      assertThat(send("GET", clocks, null).body()).as("nothing refused was applied").contains("\"locked_mhz\":null");
    }
  }
}
