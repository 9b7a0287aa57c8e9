package io.dynamollm.gpu.nvml;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.gpu.nvml.CudaVisibleDevices.NvmlGpu;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CudaVisibleDevicesTest {
  static final List<NvmlGpu> FOUR = List.of(
      new NvmlGpu(0, "GPU-aaaa1111"), new NvmlGpu(1, "GPU-bbbb2222"), new NvmlGpu(2, "GPU-bbbb3333"), new NvmlGpu(3, "GPU-cccc4444"));

  @ParameterizedTest(name = "CUDA_VISIBLE_DEVICES=''{0}'' -> {1}")
  @CsvSource(delimiter = ';', value = {
    "<unset>; 0 1 2 3",
    "''; ''",
    "3,1; 3 1",
    " 2 , 0 ; 2 0",
    "0,9,1; 0",
    "GPU-cccc; 3",
    "GPU-bbbb; ''",
    "GPU-bbbb3333,0; 2 0",
    "1,1; 1",
    "MIG-xyz; ''",
    "-1; ''",
  })
  void followsCudaRules(String value, String expected) {
    Optional<String> v = "<unset>".equals(value) ? Optional.empty() : Optional.of(value == null ? "" : value);
    List<Integer> want = expected == null || expected.isBlank()
        ? List.of() : Arrays.stream(expected.trim().split(" ")).map(Integer::valueOf).toList();
    assertThat(CudaVisibleDevices.visible(v, FOUR)).isEqualTo(want);
  }
}
