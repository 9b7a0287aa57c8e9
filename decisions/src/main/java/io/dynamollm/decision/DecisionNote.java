package io.dynamollm.decision;

import io.dynamollm.protocol.Decision;
import java.util.Objects;

/**
 * One decision a step took, for the decision log: the live actors stamp it with the time ({@link #at}) and publish
 * it as a {@link Decision}; the simulator logs it.
 *
 * @param level cluster, pool or instance
 * @param target the pool or instance it applies to
 * @param action what was decided
 * @param reason why, in one sentence
 * @param predictedSavingW power it is predicted to save (negative when it spends more)
 */
public record DecisionNote(String level, String target, String action, String reason, double predictedSavingW) {
  public DecisionNote {
    Objects.requireNonNull(level, "level");
    Objects.requireNonNull(target, "target");
    Objects.requireNonNull(action, "action");
    Objects.requireNonNull(reason, "reason");
    predictedSavingW = Double.isFinite(predictedSavingW) ? predictedSavingW : 0;
  }

  /** The log entry: the note taken at wall-clock {@code atMillis} (epoch ms) and model time {@code modelMillis}. */
  public Decision at(long atMillis, long modelMillis) {
    return new Decision(atMillis, modelMillis, level, target, action, reason, predictedSavingW);
  }
}
