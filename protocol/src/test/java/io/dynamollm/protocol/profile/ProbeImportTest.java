package io.dynamollm.protocol.profile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.ProfileJson.ProfileFormatException;
import org.junit.jupiter.api.Test;

/** A shard probe's CSV on top of a base profile; a malformed CSV is refused naming the line and column. */
class ProbeImportTest {
  static final String HEADER = "kind,tp,tokens,batch,context,iter_ms,avg_power_w,median_sm_mhz,median_inst_power_w,"
      + "iterations\n";
  static final String TP8 = """
      idle,0,0,0,0,0,80.0,345,80.0,0
      decode,8,1,1,1024,8.0,400,1980,400,100
      decode,8,256,256,1024,14.0,560,1980,560,100
      decode,8,128,128,256,8.0,550,1980,550,100
      decode,8,128,128,4096,14.0,550,1980,550,100
      decode,8,128,128,1024,10.0,550,1980,550,100
      prefill,8,128,1,128,9.0,500,1980,500,100
      prefill,8,8192,1,8192,230.0,620,1935,620,10
      """;
  static final ProbeImport.Options OPTIONS = new ProbeImport.Options("Test server", 100_000, 0.9, 2e9, "a test");

  @Test
  void theProbesSeriesReplaceTheBasesForTheDegreesItMeasured() {
    ProfileDocument base = Profiles.h100().document();
    ProfileDocument d = ProbeImport.apply(base, "probe.csv", HEADER + TP8, OPTIONS);
    TableProfile p = new TableProfile(d);
    assertThat(d.hardware()).isEqualTo("Test server");
    assertThat(d.idlePowerW()).isEqualTo(80.0);
    assertThat(d.series(8).orElseThrow().decode().batch()).containsExactly(1, 128, 256);
    assertThat(d.series(8).orElseThrow().decodeContext()).hasSize(2);
    assertThat(d.series(4).orElseThrow()).isSameAs(base.series(4).orElseThrow());
    // 128 × (4096 − 1024) tokens × 40,960 bytes per GPU in 4 ms more, and 768 fewer tokens in 2 ms less
    assertThat(p.kvReadBytesPerS(TensorParallelism.TP8)).isBetween(3.5e12, 4.5e12);
    assertThat(d.provenance().get("decode")).contains("measured on a test").contains("probe.csv");
    assertThat(d.provenance().get("all_reduce")).startsWith("from the base profile");
    assertThat(ProfileJson.read("again", ProfileJson.write(d)).series(8).orElseThrow().kvCacheTokens())
        .isEqualTo(d.series(8).orElseThrow().kvCacheTokens());
  }

  @Test
  void aMalformedProbeIsRefusedNamingWhere() {
    ProfileDocument base = Profiles.h100().document();
    assertThatThrownBy(() -> ProbeImport.apply(base, "p.csv", "kind,tp\n", OPTIONS))
        .isInstanceOf(ProfileFormatException.class).hasMessageContaining("p.csv line 1: expected the header");
    assertThatThrownBy(() -> ProbeImport.apply(base, "p.csv", HEADER + TP8.replace("9.0,500", "x,500"), OPTIONS))
        .hasMessageContaining("p.csv line 8: iter_ms is not a number: 'x'");
    assertThatThrownBy(() -> ProbeImport.apply(base, "p.csv", HEADER + TP8.replace("idle,0,0,0,0,0,80.0,345,80.0,0\n",
        ""), OPTIONS)).hasMessageContaining("no idle row");
    assertThatThrownBy(() -> ProbeImport.apply(base, "p.csv", HEADER + TP8 + "decode,16,1,1,1024,5,400,1980,400,1\n",
        OPTIONS)).hasMessageContaining("TP16 is not in the base profile");
    assertThatThrownBy(() -> ProbeImport.apply(base, "p.csv", HEADER + TP8.replace("decode,8,1,1,1024",
        "decode,8,2,2,1024"), OPTIONS)).hasMessageContaining("must start at batch 1");
    assertThatThrownBy(() -> ProbeImport.apply(base, "p.csv", HEADER + TP8,
        new ProbeImport.Options("x", 2000, 0.9, 2e9, "a test"))).hasMessageContaining("the weights do not fit");
  }
}
