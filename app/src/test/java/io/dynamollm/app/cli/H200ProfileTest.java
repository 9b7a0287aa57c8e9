package io.dynamollm.app.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profile;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.TableProfile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bundled H200 profile: what the shard probe measured on a real H200, on the H100 profile's model. */
class H200ProfileTest {
  static final Path PROBE = Path.of("..", "..", "shared", "data", "h200_llama2_70b_shard_probe.csv");
  /** The command docs/profile.md gives for building the bundled file. */
  static final String[] FROM_PROBE = {"profile", "from-probe", "--csv", PROBE.toString(),
      "--hardware", "DGX H200 (8x H200 141GB HBM3e, NVLink)", "--gpu-memory-mib", "143771", "--measured-on",
      "a real NVIDIA H200 141GB HBM3e (driver 580.159.04; memory.total 143,771 MiB, SM clocks 345-1980 MHz,"
          + " 700 W limit, read with nvidia-smi)"};

  @Test
  void theBundledFileIsWhatFromProbeBuildsFromTheMeasurements(@TempDir Path dir) throws Exception {
    assumeTrue(Files.isRegularFile(PROBE), "the shared H200 probe data is not on this machine");
    Path out = dir.resolve("h200.json");
    String[] args = java.util.Arrays.copyOf(FROM_PROBE, FROM_PROBE.length + 2);
    args[FROM_PROBE.length] = "--out";
    args[FROM_PROBE.length + 1] = out.toString();
    CliTest.Result r = CliTest.run(args);
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.out()).contains("TP8: shard decode at batch 1 7.3 ms");
    assertThat(Files.readString(out)).isEqualTo(Profiles.bundledText(Profiles.H200));
  }

  @Test
  void itAnswersWithTheMeasuredFigures() {
    TableProfile h200 = Profiles.h200();
    Profile h100 = Profiles.h100();
    TensorParallelism tp8 = TensorParallelism.TP8;
    // the shard's measured decode step at batch 1 plus 160 all-reduces of the DGX (same NVLink switch as the H100's)
    double allReduce = h100.decodeStepMs(tp8, 1, 1024, 1980) - 9.201;
    assertThat(h200.decodeStepMs(tp8, 1, 1024, 1980)).isCloseTo(7.312 + allReduce, within(1e-9));
    // decode grows with context as measured: batch 128 at 4,096 tokens is 14.8 ms on the shard, the fit within 1 %
    double at4096 = h200.decodeStepMs(tp8, 128, 4096, 1980) - allReduceMs(h200, 128);
    assertThat(at4096).isCloseTo(14.793, within(0.15));
    assertThat(h200.kvReadBytesPerS(tp8)).isBetween(2.9e12, 3.1e12);
    assertThat(h200.idlePowerW()).isEqualTo(78.1);
    // 141 GB holds far more KV cache than 80 GB
    assertThat(h200.kvCacheTokens(TensorParallelism.TP2)).isGreaterThan(10 * h100.kvCacheTokens(TensorParallelism.TP2));
    assertThat(h200.aloneLatency(RequestType.SS).tbtP99Ms()).isLessThan(h100.aloneLatency(RequestType.SS).tbtP99Ms());
  }

  private static double allReduceMs(Profile p, int batch) {
    // the all-reduce part of a TP8 decode step does not depend on the context: the step at two contexts differs by
    // the shard's KV read alone, so the part is the step minus the shard at the measured context
    return p.decodeStepMs(TensorParallelism.TP8, batch, 1024, 1980) - 9.408;
  }
}
