package io.dynamollm.control.admin;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.Slo;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class SloUpdateTest {
  private static final SloUpdate V = new SloUpdate(MemoizedProfile.of(Profiles.h100()));

  @Test
  void acceptsAReachableTargetForAnyCaseOfTheTypeName() {
    var r = V.validate("ls", "{\"ttft_p99_ms\": 500, \"tbt_p99_ms\": 60.5}");
    assertThat(r).isEqualTo(new SloUpdate.Accepted(RequestType.LS, new Slo(500, 60.5)));
  }

  @ParameterizedTest(name = "{0} {1} -> {2}")
  @CsvSource(delimiter = '|', value = {
      "XX | {\"ttft_p99_ms\": 500, \"tbt_p99_ms\": 60} | 404 | unknown request type 'XX'",
      "LS | {\"ttft_p99_ms\": 500, | 400 | not valid JSON",
      "LS | '' | 400 | the body is empty",
      "LS | [500, 60] | 400 | must be a JSON object",
      "LS | 42 | 400 | must be a JSON object",
      "LS | {\"tbt_p99_ms\": 60} | 422 | missing field 'ttft_p99_ms'",
      "LS | {\"ttft_p99_ms\": 500} | 422 | missing field 'tbt_p99_ms'",
      "LS | {\"ttft_p99_ms\": null, \"tbt_p99_ms\": 60} | 422 | missing field 'ttft_p99_ms'",
      "LS | {\"ttft_p99_ms\": \"500\", \"tbt_p99_ms\": 60} | 422 | 'ttft_p99_ms' must be a number",
      "LS | {\"ttft_p99_ms\": 500, \"tbt_p99_ms\": true} | 422 | 'tbt_p99_ms' must be a number",
      "LS | {\"ttft_p99_ms\": 0, \"tbt_p99_ms\": 60} | 422 | 'ttft_p99_ms' must be a positive, finite number",
      "LS | {\"ttft_p99_ms\": 500, \"tbt_p99_ms\": -1} | 422 | 'tbt_p99_ms' must be a positive, finite number",
      "LS | {\"ttft_p99_ms\": 1e999, \"tbt_p99_ms\": 60} | 422 | 'ttft_p99_ms' must be a positive, finite number",
      "LS | {\"ttft_p99_ms\": 5, \"tbt_p99_ms\": 60} | 422 | ttft_p99_ms 5.0 ms is below what any configuration reaches for LS",
      "SS | {\"ttft_p99_ms\": 500, \"tbt_p99_ms\": 1} | 422 | tbt_p99_ms 1.0 ms is below what any configuration reaches for SS",
      "LS | {\"ttft_p99_ms\": 1e300, \"tbt_p99_ms\": 60} | 422 | 'ttft_p99_ms' must be at most one hour (3600000 ms)",
      "LS | {\"ttft_p99_ms\": 500, \"tbt_p99_ms\": 3600001} | 422 | 'tbt_p99_ms' must be at most one hour",
      "LS | {\"ttft_p99_ms\": 500, \"tbt_p99_ms\": 60} x | 400 | not valid JSON",
      "LS | {\"ttft_p99_ms\": 500, \"tbt_p99_ms\": 60}{\"ttft_p99_ms\": 1} | 400 | more after its JSON object",
  })
  void rejectsWithAStatusAndAMessageNamingTheProblem(String type, String body, int status, String message) {
    var r = V.validate(type, body);
    assertThat(r).isInstanceOf(SloUpdate.Rejected.class);
    var rej = (SloUpdate.Rejected) r;
    assertThat(rej.status()).isEqualTo(status);
    assertThat(rej.message()).contains(message).doesNotContain("Source").doesNotContain("Exception");
  }

  @Test
  void theFloorItQuotesIsReachable() {
    // the message quotes the best TTFT; asking exactly that (with a loose TBT) is accepted
    var rej = (SloUpdate.Rejected) V.validate("LL", "{\"ttft_p99_ms\": 1, \"tbt_p99_ms\": 1000}");
    var m = java.util.regex.Pattern.compile("the best is ([0-9.]+) ms").matcher(rej.message());
    assertThat(m.find()).isTrue();
    double best = Double.parseDouble(m.group(1)) + 0.1;
    assertThat(V.validate("LL", "{\"ttft_p99_ms\": " + best + ", \"tbt_p99_ms\": 1000}"))
        .isInstanceOf(SloUpdate.Accepted.class);
  }
}
