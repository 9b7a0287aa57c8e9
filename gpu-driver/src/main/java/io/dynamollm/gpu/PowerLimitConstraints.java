package io.dynamollm.gpu;

/**
 * The power limits a GPU accepts, in milliwatts (NVML's unit).
 *
 * @param minMw lowest settable limit
 * @param maxMw highest settable limit
 * @param defaultMw the limit the GPU has after a reset
 */
public record PowerLimitConstraints(int minMw, int maxMw, int defaultMw) {

  public boolean allows(int mw) {
    return mw >= minMw && mw <= maxMw;
  }
}
