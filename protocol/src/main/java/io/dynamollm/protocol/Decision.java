package io.dynamollm.protocol;

import java.util.Objects;

/**
 * One control decision, for the decision log ({@code GET /api/v1/decisions}).
 *
 * @param atMillis when, in the deciding node's model time (ms)
 * @param level cluster, pool or instance
 * @param target what it applies to (a pool name, an instance id)
 * @param action what was decided, e.g. "budget 16 GPUs", "2×TP4@1605", "clock 1980 -> 1395 MHz"
 * @param reason why
 * @param predictedSavingW predicted power saved, W (0 when not applicable)
 */
public record Decision(long atMillis, String level, String target, String action, String reason,
    double predictedSavingW) implements CborSerializable {
  public Decision {
    Objects.requireNonNull(level, "level");
    Objects.requireNonNull(target, "target");
    Objects.requireNonNull(action, "action");
    Objects.requireNonNull(reason, "reason");
    if (!level.equals("cluster") && !level.equals("pool") && !level.equals("instance")) {
      throw new IllegalArgumentException("level must be cluster, pool or instance, got " + level);
    }
  }
}
