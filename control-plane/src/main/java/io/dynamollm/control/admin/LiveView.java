package io.dynamollm.control.admin;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;

/**
 * What the admin API shows of the live control plane, as JSON-ready maps: the API reads through this and writes only
 * to the stores — it never talks to the live actors itself.
 */
public interface LiveView {

  /** Every GPU host: its GPUs, those held, those kept out, power now, energy so far. */
  CompletionStage<List<Map<String, Object>>> hosts();

  /** Every pool of the current epoch with its instances and attainment; empty on a node without the control role. */
  CompletionStage<List<Map<String, Object>>> pools();

  /** The newest {@code limit} decisions of every level, newest first. */
  CompletionStage<List<Map<String, Object>>> decisions(int limit);

  /**
   * A plan preview (read-only): what the cluster would run with {@code slos} and {@code limits}, next to what it runs
   * with the settings in force, as JSON; a map with an {@code error} when there is none yet (no GPU host listed).
   */
  CompletionStage<Map<String, Object>> preview(io.dynamollm.protocol.SloTable slos,
      io.dynamollm.control.cluster.ClusterLimits limits);

  /** Whether this node runs the control role's parts (pools, decisions). */
  boolean control();
}
