package io.dynamollm.decision.pool;

import io.dynamollm.protocol.TensorParallelism;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How long changing an instance's tensor parallelism takes, during which its GPUs draw power and serve nothing.
 *
 * <p>Two presets: {@link #IN_PLACE_NVLINK}, the paper's in-place re-shard that moves only the missing weight shards
 * GPU-to-GPU over NVLink (time = bytes each receiving GPU needs ÷ NVLink bandwidth + a fixed overhead; gives ≈ 53 ms
 * for TP4→TP8 and ≈ 96 ms for TP4→TP2, the paper's ~50 and ~100 ms); and {@link #ENGINE_RESTART}, what a stock engine
 * such as vLLM needs: stop, restart with the new TP, reload weights (90 s, the middle of the paper's 1–2 min). A fixed
 * time in between ({@link #preset} of {@code "5s"}: in place, taking 5 s) sweeps the cost between the two.
 *
 * @param name preset name
 * @param inPlace whether time follows the bytes moved (true) or is the fixed restart time (false)
 * @param nvlinkBytesPerSecond NVLink bandwidth into one GPU, for in-place moves
 * @param overheadMs fixed part of every change (or the whole restart)
 * @param modelBytes weights of the whole model
 */
public record ReshardCost(String name, boolean inPlace, double nvlinkBytesPerSecond, double overheadMs, double modelBytes) {
  /** Llama2-70B in bf16. */
  public static final double LLAMA2_70B_BYTES = 68.98e9 * 2;

  public static final ReshardCost IN_PLACE_NVLINK = new ReshardCost("in-place", true, 400e9, 10, LLAMA2_70B_BYTES);
  public static final ReshardCost ENGINE_RESTART = new ReshardCost("restart", false, 0, 90_000, LLAMA2_70B_BYTES);

  /**
   * A TP change that starts a new engine of the new TP and loads its weights in {@code ms} (the live control plane's
   * start-new-then-drain, with its configured engine start-up).
   */
  public static ReshardCost restart(long ms) {
    if (ms < 0) {
      throw new IllegalArgumentException("a restart takes a time >= 0, got " + ms + " ms");
    }
    return new ReshardCost("restart", false, 0, ms, LLAMA2_70B_BYTES);
  }

  /**
   * {@code in-place}, {@code restart}, or a fixed time for every TP change such as {@code 50ms}, {@code 5s} or
   * {@code 90s}: in place on the instance's GPUs, taking that long (for sweeping the cost between the two presets).
   */
  public static ReshardCost preset(String name) {
    switch (name) {
      case "in-place":
        return IN_PLACE_NVLINK;
      case "restart":
        return ENGINE_RESTART;
      default:
        break;
    }
    Matcher m = Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|s)").matcher(name.trim());
    if (!m.matches()) {
      throw new IllegalArgumentException("unknown re-shard cost '" + name
          + "': expected in-place, restart, or a time such as 50ms or 90s");
    }
    double ms = Double.parseDouble(m.group(1)) * (m.group(2).equals("s") ? 1000 : 1);
    // in place on the instance's own GPUs, as the NVLink re-shard, but taking the given time whatever moves
    return new ReshardCost(name.trim(), true, Double.POSITIVE_INFINITY, ms, LLAMA2_70B_BYTES);
  }

  /** Time to go from {@code from} to {@code to}; 0 when they are equal. */
  public double millis(TensorParallelism from, TensorParallelism to) {
    if (from.equals(to)) {
      return 0;
    }
    if (!inPlace) {
      return overheadMs;
    }
    // A GPU of the new layout holds 1/to of the weights; if it was part of the old layout it already holds 1/from
    // (of which it keeps what overlaps); a GPU new to the instance receives its whole shard.
    double need = modelBytes / to.degree();
    double have = from.degree() < to.degree() ? 0 : modelBytes / from.degree();
    double receive = from.degree() < to.degree() ? need : need - have;
    return overheadMs + receive / nvlinkBytesPerSecond * 1e3;
  }
}
