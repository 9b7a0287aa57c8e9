package io.dynamollm.instance;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class GpuLedgerTest {
  private static final List<String> EIGHT = List.of("g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7");

  @Test
  void aGpuBelongsToAtMostOneInstance() {
    GpuLedger l = GpuLedger.of(EIGHT);
    var a = (GpuLedger.Granted) l.reserve("a", 4);
    assertThat(a.gpus()).containsExactly("g0", "g1", "g2", "g3");
    var b = (GpuLedger.Granted) a.ledger().reserve("b", 2);
    assertThat(b.gpus()).containsExactly("g4", "g5");
    // asking for a held GPU by name is refused and names the holder
    var clash = b.ledger().reserve("c", List.of("g5", "g6"));
    assertThat(clash).isEqualTo(new GpuLedger.Refused("GPU g5 is held by instance b"));
    // more than is free: refused, nothing changes
    var tooMany = b.ledger().reserve("c", 4);
    assertThat(tooMany).isEqualTo(new GpuLedger.Refused("instance c needs 4 GPUs, 2 of 8 are free"));
    assertThat(b.ledger().free()).containsExactly("g6", "g7");
    // an instance holds one set at a time
    assertThat(b.ledger().reserve("a", 1)).isInstanceOf(GpuLedger.Refused.class);
    // every GPU has at most one holder, and the ledger's view per instance agrees
    for (String g : EIGHT) {
      long holders = b.ledger().instances().stream().filter(i -> b.ledger().held(i).contains(g)).count();
      assertThat(holders).isLessThanOrEqualTo(1);
    }
  }

  @Test
  void releaseFreesOnlyThatInstancesGpusAndPrefersAlignedBlocks() {
    var a = (GpuLedger.Granted) GpuLedger.of(EIGHT).reserve("a", 2);
    var b = (GpuLedger.Granted) a.ledger().reserve("b", 2);
    var c = (GpuLedger.Granted) b.ledger().reserve("c", 2);
    GpuLedger afterB = c.ledger().release("b");
    assertThat(afterB.free()).containsExactly("g2", "g3", "g6", "g7");
    assertThat(afterB.held("a")).containsExactly("g0", "g1");
    // no aligned block of four is free (g4, g5 are c's): a TP4 instance gets the lowest four free GPUs
    var d = (GpuLedger.Granted) afterB.reserve("d", 4);
    assertThat(d.gpus()).containsExactly("g2", "g3", "g6", "g7");
    // releasing an instance that holds nothing changes nothing
    assertThat(d.ledger().release("nobody").free()).isEqualTo(d.ledger().free());
  }

  @Test
  void badRequestsAreRefusedWithAReason() {
    GpuLedger l = GpuLedger.of(List.of("g0", "g1"));
    assertThat(l.reserve("a", 0)).isEqualTo(new GpuLedger.Refused("an instance needs at least one GPU, asked for 0"));
    assertThat(l.reserve("a", List.of("g9"))).isEqualTo(new GpuLedger.Refused("GPU g9 is not on this host"));
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> GpuLedger.of(List.of("g0", "g0")))
        .hasMessageContaining("distinct");
  }
}
