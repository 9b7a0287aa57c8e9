package io.dynamollm.sim;

import io.dynamollm.decision.engine.ContinuousBatching;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SizeClass;

/** A request inside the simulator (mutable; one per arrival). */
final class SimRequest {
  final long id;
  final double arrivalMs;
  final int prompt;
  final int output;
  final RequestType trueType;
  final SizeClass predictedOutput;
  final RequestType routedType;
  /** The instance serving it now, and its place in that instance's engine. */
  SimInstance instance;
  ContinuousBatching.Job<SimRequest> job;
  /** When it was held for lack of a ready instance anywhere (NaN when it was not). */
  double heldSinceMs = Double.NaN;
  int reroutes;

  SimRequest(long id, double arrivalMs, int prompt, int output, RequestType trueType, SizeClass predictedOutput,
      RequestType routedType) {
    this.id = id;
    this.arrivalMs = arrivalMs;
    this.prompt = prompt;
    this.output = output;
    this.trueType = trueType;
    this.predictedOutput = predictedOutput;
    this.routedType = routedType;
  }

  /** Time to first token, from the request's own arrival (not the engine's: it may have been re-routed). */
  double ttftMs() {
    return job.firstTokenMs() - arrivalMs;
  }

  double tbtMs() {
    return job.tbtMs();
  }
}
