package io.dynamollm.protocol;

/** A message flowing down the hierarchy: cluster manager → pool manager → instance manager. */
public sealed interface Constraint extends CborSerializable permits PoolBudget, InstanceTarget {

  /** The epoch this constraint belongs to; a receiver ignores constraints older than the last one it applied. */
  long epoch();
}
