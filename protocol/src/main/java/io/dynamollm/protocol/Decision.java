package io.dynamollm.protocol;

import java.util.Objects;

/**
 * One control decision, for the decision log ({@code GET /api/v1/decisions}).
 *
 * @param atMillis when, wall-clock milliseconds since the Unix epoch (entries of different nodes compare)
 * @param modelMillis when, in the deciding node's model time (ms; equal to the wall clock's pace unless the node runs
 *     sped up)
 * @param level cluster, pool or instance
 * @param target what it applies to (a pool name, an instance id)
 * @param action what was decided, e.g. "epoch 3: [LL=8 GPUs]", "2×TP4@1605", "clock 1980 -> 1395 MHz"
 * @param reason why, in one sentence
 * @param predictedSavingW power this decision is predicted to save, W: the new layout, plan or clock against the one
 *     before it at the load it was made for (negative when it spends more; 0 when it does not change power)
 */
public record Decision(long atMillis, long modelMillis, String level, String target, String action, String reason,
    double predictedSavingW) implements CborSerializable {
  public static final String CLUSTER = "cluster";
  public static final String POOL = "pool";
  public static final String INSTANCE = "instance";

  public Decision {
    Objects.requireNonNull(level, "level");
    Objects.requireNonNull(target, "target");
    Objects.requireNonNull(action, "action");
    Objects.requireNonNull(reason, "reason");
    if (!level.equals(CLUSTER) && !level.equals(POOL) && !level.equals(INSTANCE)) {
      throw new IllegalArgumentException("level must be cluster, pool or instance, got " + level);
    }
    if (!Double.isFinite(predictedSavingW)) {
      throw new IllegalArgumentException("predicted saving must be finite, got " + predictedSavingW);
    }
  }
}
