package io.dynamollm.sim;

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
  double firstTokenMs = Double.NaN;
  double finishMs = Double.NaN;
  long joinStep;
  long finishStep;
  SimInstance instance;
  boolean dropped;
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

  int kvTokens() {
    return prompt + output;
  }

  double ttftMs() {
    return firstTokenMs - arrivalMs;
  }

  /** Mean time per output token after the first (0 for one-token outputs). */
  double tbtMs() {
    return output > 1 ? (finishMs - firstTokenMs) / (output - 1) : 0;
  }
}
