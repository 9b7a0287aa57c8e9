package io.dynamollm.gpu;

/**
 * Device memory, bytes.
 *
 * @param totalBytes installed
 * @param usedBytes allocated
 */
public record MemoryInfo(long totalBytes, long usedBytes) {

  public long freeBytes() {
    return totalBytes - usedBytes;
  }
}
