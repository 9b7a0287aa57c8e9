package io.dynamollm.sim;

/**
 * One request of a workload.
 *
 * @param id sequence number in the workload
 * @param arrivalMs arrival time, milliseconds from the workload's start
 * @param promptTokens prompt length
 * @param outputTokens output length the request will have
 */
public record TraceRequest(long id, double arrivalMs, int promptTokens, int outputTokens) {}
