package io.dynamollm.protocol;

import java.util.List;

/**
 * Tensor-parallel degree of an inference instance: the number of GPUs one model copy is sharded across. Within one
 * 8-GPU server the degree is a power of two from 1 to 8.
 *
 * @param degree number of GPUs
 */
public record TensorParallelism(int degree) implements Comparable<TensorParallelism>, CborSerializable {

  public static final TensorParallelism TP2 = new TensorParallelism(2);
  public static final TensorParallelism TP4 = new TensorParallelism(4);
  public static final TensorParallelism TP8 = new TensorParallelism(8);

  /** The degrees the paper considers for Llama2-70B on a DGX H100 (TP1 does not fit the weights in 80 GB). */
  public static final List<TensorParallelism> PAPER_DEGREES = List.of(TP2, TP4, TP8);

  public TensorParallelism {
    if (degree < 1 || degree > 8 || Integer.bitCount(degree) != 1) {
      throw new IllegalArgumentException("tensor parallelism must be 1, 2, 4 or 8 GPUs, got " + degree);
    }
  }

  public static TensorParallelism of(int degree) {
    return new TensorParallelism(degree);
  }

  @Override
  public int compareTo(TensorParallelism o) {
    return Integer.compare(degree, o.degree);
  }

  @Override
  public String toString() {
    return "TP" + degree;
  }
}
