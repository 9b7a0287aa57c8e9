package io.dynamollm.instance.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class SimulatedEngineTest {
  private static final Profile P = MemoizedProfile.of(Profiles.h100());
  private static final TensorParallelism TP4 = TensorParallelism.TP4;

  private final ModelClock clock = new ModelClock(20);
  private final List<SimulatedGpuDevice> gpus = SimulatedGpuDevice.host("t", 4, P, clock::nanoTime);

  /** An engine on the four GPUs, locked at {@code mhz}; the engine reads the clock its GPUs run at. */
  private SimulatedEngine engine(int mhz) {
    gpus.forEach(g -> g.setLockedGpuClocks(mhz, mhz));
    return new SimulatedEngine(P, TP4, gpus, () -> gpus.get(0).appliedClockMhz(), clock, 2_000);
  }

  @Test
  void aLoneRequestTakesWhatTheProfileSays() throws Exception {
    try (var e = engine(1980)) {
      assertThatThrownBy(() -> e.submit(new Engine.EngineRequest(0, 100, 10)).toCompletableFuture().get())
          .hasCauseInstanceOf(Engine.EngineUnavailable.class); // not started
      e.start().toCompletableFuture().get(5, TimeUnit.SECONDS);
      assertThat(e.healthy()).isTrue();
      var c = e.submit(new Engine.EngineRequest(1, 1000, 40)).toCompletableFuture().get(10, TimeUnit.SECONDS);
      double prefill = P.prefillMs(TP4, 1000, 1980);
      double step = P.decodeStepMs(TP4, 1, 1020, 1980);
      assertThat(c.ttftMs()).isBetween(prefill, prefill * 1.25 + 5);
      assertThat(c.tbtMs()).isCloseTo(step, within(step * 0.05));
      assertThat(c.outputTokens()).isEqualTo(40);
    }
  }

  @Test
  void aLowerClockIsSlowerAndDrawsLessPower() throws Exception {
    double[] tbt = new double[2];
    double[] joules = new double[2];
    int[] clocks = {1980, 1005};
    for (int k = 0; k < 2; k++) {
      try (var e = engine(clocks[k])) {
        e.start().toCompletableFuture().get(5, TimeUnit.SECONDS);
        long e0 = gpus.get(0).totalEnergyMj();
        double t0 = clock.nowMs();
        var c = e.submit(new Engine.EngineRequest(1, 200, 200)).toCompletableFuture().get(20, TimeUnit.SECONDS);
        tbt[k] = c.tbtMs();
        joules[k] = (gpus.get(0).totalEnergyMj() - e0) / 1000.0 / ((clock.nowMs() - t0) / 1000.0); // mean W
      }
    }
    assertThat(tbt[1]).isGreaterThan(tbt[0]);
    assertThat(joules[1]).isLessThan(joules[0]);
  }

  @Test
  void batchesConcurrentRequestsAndDrains() throws Exception {
    var e = engine(1980);
    e.start().toCompletableFuture().get(5, TimeUnit.SECONDS);
    List<CompletableFuture<Engine.Completion>> all = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      all.add(e.submit(new Engine.EngineRequest(i, 300, 30)).toCompletableFuture());
    }
    var drained = e.drain().toCompletableFuture();
    assertThatThrownBy(() -> e.submit(new Engine.EngineRequest(99, 10, 10)).toCompletableFuture().get())
        .isInstanceOf(ExecutionException.class).hasCauseInstanceOf(Engine.EngineUnavailable.class)
        .hasMessageContaining("draining");
    drained.get(20, TimeUnit.SECONDS);
    for (var f : all) {
      assertThat(f).isCompleted();
      assertThat(f.get().outputTokens()).isEqualTo(30);
    }
    // thirty 300-token prompts fit in two prefill iterations: later ones waited for earlier batches, not one by one
    double maxTtft = all.stream().mapToDouble(f -> f.join().ttftMs()).max().orElseThrow();
    assertThat(maxTtft).isLessThan(30 * P.prefillMs(TP4, 300, 1980));
    assertThat(e.load().completed()).isEqualTo(30);
    e.close();
    assertThat(e.healthy()).isFalse();
    assertThat(gpus.get(0).activity()).isEqualTo(io.dynamollm.gpu.sim.GpuActivity.IDLE);
  }

  @Test
  void closeFailsWhatIsInFlight() throws Exception {
    var e = engine(1980);
    e.start().toCompletableFuture().get(5, TimeUnit.SECONDS);
    var f = e.submit(new Engine.EngineRequest(1, 100, 100_000)).toCompletableFuture();
    e.close();
    assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(Engine.EngineUnavailable.class);
  }

  private static Engine.OpenAiCall call(long seed, boolean ignoreEos, List<String> stop) {
    return new Engine.OpenAiCall(Engine.OpenAiCall.COMPLETIONS, "{}", seed, stop, ignoreEos);
  }

  @Test
  void anApiCallStreamsItsTextTokenByTokenAndIsChargedItsShareOfTheEnergy() throws Exception {
    try (var e = engine(1980)) {
      e.start().toCompletableFuture().get(5, TimeUnit.SECONDS);
      List<String> pieces = java.util.Collections.synchronizedList(new ArrayList<>());
      List<Double> at = java.util.Collections.synchronizedList(new ArrayList<>());
      var alone = e.submit(new Engine.EngineRequest(1, 500, 30, java.util.Optional.of(call(7, true, List.of()))),
          (i, t) -> {
            assertThat(i).isEqualTo(pieces.size());
            pieces.add(t);
            at.add(clock.nowMs());
          }).toCompletableFuture().get(10, TimeUnit.SECONDS);
      assertThat(pieces).hasSize(30);
      assertThat(String.join("", pieces)).isEqualTo(alone.text());
      assertThat(alone.finishReason()).isEqualTo("length");
      // tokens come at the engine's pace, not at once
      assertThat(at.get(29) - at.get(0)).isGreaterThan(20 * P.decodeStepMs(TP4, 1, 520, 1980));
      // alone, it pays for every iteration it was in: its prefill and 29 steps on four GPUs
      double expected = 4 * (P.prefillPowerW(TP4, 500, 1980) * P.prefillMs(TP4, 500, 1980)
          + 29 * P.decodePowerW(TP4, 1, 1980) * P.decodeStepMs(TP4, 1, 520, 1980)) / 1000;
      assertThat(alone.energyJ()).isCloseTo(expected, within(expected * 0.05));
      // two requests side by side share each step: each pays about half of what it would alone
      var a = e.submit(new Engine.EngineRequest(2, 500, 30, java.util.Optional.of(call(8, true, List.of()))),
          (i, t) -> {}).toCompletableFuture();
      var b = e.submit(new Engine.EngineRequest(3, 500, 30, java.util.Optional.of(call(9, true, List.of()))),
          (i, t) -> {}).toCompletableFuture();
      double shared = a.get(10, TimeUnit.SECONDS).energyJ() + b.get(10, TimeUnit.SECONDS).energyJ();
      assertThat(a.get().energyJ()).isLessThan(alone.energyJ() * 0.8);
      assertThat(shared).isLessThan(2 * alone.energyJ());
    }
  }

  @Test
  void aCancelledRequestLeavesTheBatchAndItsFutureSaysSo() throws Exception {
    try (var e = engine(1980)) {
      e.start().toCompletableFuture().get(5, TimeUnit.SECONDS);
      var started = new java.util.concurrent.CountDownLatch(3);
      var f = e.submit(new Engine.EngineRequest(5, 200, 5000, java.util.Optional.of(call(1, true, List.of()))),
          (i, t) -> started.countDown()).toCompletableFuture();
      assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
      assertThat(e.load().running()).isEqualTo(1);
      assertThat(e.cancel(5)).isTrue();
      assertThatThrownBy(() -> f.get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(Engine.Cancelled.class);
      long deadline = System.nanoTime() + 5_000_000_000L;
      while (e.load().running() > 0 && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(e.load().running()).isZero();
      assertThat(e.cancel(5)).isFalse(); // gone
      assertThat(e.cancel(99)).isFalse(); // never there
    }
  }
}
