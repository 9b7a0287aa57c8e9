package io.dynamollm.decision.pool;

import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.TensorParallelism;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Brings a live pool towards a plan, make-before-break: instances of a TP the plan still wants keep running (their
 * clock target follows the plan); what is missing starts; what is extra drains — but only once no instance of the pool
 * is still starting, so the pool never loses capacity before its replacement serves. A TP change is therefore a start
 * of the new instances followed by a drain of the old ones (the in-place re-shard over NVLink of the paper is not done
 * live yet). Pure: the pool manager turns the actions into messages.
 */
public final class PoolReconciler {
  private PoolReconciler() {}

  /** An instance of the pool as its manager knows it. */
  public record Live(String id, TensorParallelism tp, int clockTargetMhz, InstanceState state) {}

  /** What to do now. */
  public record Actions(List<PoolPlan.Group> start, List<String> drain, Map<String, Integer> clockTargets,
      String summary) {
    public Actions {
      start = List.copyOf(start);
      drain = List.copyOf(drain);
      clockTargets = Map.copyOf(clockTargets);
    }

    public boolean none() {
      return start.isEmpty() && drain.isEmpty() && clockTargets.isEmpty();
    }
  }

  public static Actions reconcile(PoolPlan plan, List<Live> live) {
    List<Live> serving = live.stream()
        .filter(i -> i.state() == InstanceState.READY || i.state() == InstanceState.STARTING)
        .sorted(Comparator.comparing(Live::id))
        .toList();
    boolean starting = serving.stream().anyMatch(i -> i.state() == InstanceState.STARTING);
    List<PoolPlan.Group> start = new ArrayList<>();
    List<String> drain = new ArrayList<>();
    Map<String, Integer> clocks = new LinkedHashMap<>();
    for (TensorParallelism tp : TensorParallelism.PAPER_DEGREES) {
      List<Live> have = serving.stream().filter(i -> i.tp().equals(tp)).toList();
      List<PoolPlan.Group> want = plan.groups().stream().filter(g -> g.tp().equals(tp)).toList();
      int k = 0;
      for (PoolPlan.Group g : want) {
        for (int n = 0; n < g.instances(); n++) {
          if (k < have.size()) {
            Live i = have.get(k++);
            if (i.clockTargetMhz() != g.clockMhz()) {
              clocks.put(i.id(), g.clockMhz());
            }
          } else {
            start.add(new PoolPlan.Group(tp, g.clockMhz(), 1, g.capacityRps(), g.loadPerInstanceRps()));
          }
        }
      }
      for (; k < have.size(); k++) {
        drain.add(have.get(k).id());
      }
    }
    boolean hold = !drain.isEmpty() && (starting || !start.isEmpty());
    List<String> drainNow = hold ? List.of() : drain;
    String summary = String.format("%d to start, %d to drain%s, %d clock targets", start.size(), drain.size(),
        hold ? " once the new ones serve" : "", clocks.size());
    return new Actions(start, drainNow, clocks, summary);
  }
}
