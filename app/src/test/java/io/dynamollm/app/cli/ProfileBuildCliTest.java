package io.dynamollm.app.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code profile build} and {@code profile merge} refuse what cannot work with a line that says why, no trace. */
class ProfileBuildCliTest {
  @TempDir Path dir;

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private CliTest.Result build(String... extra) {
    String[] base = {"profile", "build", "--tp", "4", "--gpus", "0,1,2,3", "--out", dir.resolve("p.json").toString()};
    String[] args = new String[base.length + extra.length];
    System.arraycopy(base, 0, args, 0, base.length);
    System.arraycopy(extra, 0, args, base.length, extra.length);
    return CliTest.run(args);
  }

  @Test
  void badFlagsAreUsageErrors() {
    CliTest.Result url = build("--engine", "localhost:8000");
    assertThat(url.code()).isEqualTo(2);
    assertThat(url.err()).contains("--engine: not an http(s) URL: 'localhost:8000'").contains("Usage:");
    CliTest.Result tp = CliTest.run("profile", "build", "--engine", "http://127.0.0.1:1", "--tp", "3", "--gpus", "0",
        "--out", "x.json");
    assertThat(tp.code()).isEqualTo(2);
    assertThat(tp.err()).contains("--tp:");
    CliTest.Result batches = build("--engine", "http://127.0.0.1:1", "--batches", "8,32");
    assertThat(batches.code()).isEqualTo(2);
    assertThat(batches.err()).contains("decode batches must start at 1");
    CliTest.Result merge = CliTest.run("profile", "merge", "--out", "m.json", "one.json");
    assertThat(merge.code()).isEqualTo(2);
    CliTest.Result control = build("--engine", "http://127.0.0.1:1", "--clock-control", "engine");
    assertThat(control.code()).isEqualTo(2);
    assertThat(control.err()).contains("--clock-control is for --sweep-clocks, which is not given").contains("Usage:");
    CliTest.Result how = build("--engine", "http://127.0.0.1:1", "--sweep-clocks", "1200", "--clock-control", "gpu");
    assertThat(how.code()).isEqualTo(2);
    assertThat(how.err()).contains("--clock-control must be nvml or engine, got 'gpu'");
    CliTest.Result zero = build("--engine", "http://127.0.0.1:1", "--sweep-clocks", "0,1200");
    assertThat(zero.code()).isEqualTo(2);
    assertThat(zero.err()).contains("the clocks to sweep must be positive and ascending");
  }

  @Test
  void whatCannotWorkSaysWhy() throws Exception {
    String engine = "http://127.0.0.1:" + freePort();
    CliTest.Result gpus = CliTest.run("profile", "build", "--engine", engine, "--tp", "4", "--gpus", "0,1", "--out",
        dir.resolve("p.json").toString());
    assertThat(gpus.code()).isEqualTo(1);
    assertThat(gpus.err()).contains("TP4 runs on 4 GPUs; --gpus names 2: [0, 1]").doesNotContain("Exception");

    CliTest.Result down = build("--engine", engine);
    assertThat(down.code()).isEqualTo(1);
    assertThat(down.err()).contains("does not answer GET /metrics").doesNotContain("journal")
        .doesNotContain("Exception");

    CliTest.Result above = build("--engine", engine, "--sweep-clocks", "1200,2100", "--clock-control", "engine");
    assertThat(above.code()).isEqualTo(1);
    assertThat(above.err()).contains("--sweep-clocks: 2100 MHz is outside the base profile's 800–1980 MHz")
        .doesNotContain("Exception");

    Files.writeString(dir.resolve("p.json.measurements.csv"), "kind,tp,batch,tokens,ms,power_w,sm_mhz,samples\n");
    CliTest.Result exists = build("--engine", engine);
    assertThat(exists.code()).isEqualTo(1);
    assertThat(exists.err()).contains("exists: --resume goes on from the points it holds");
  }
}
