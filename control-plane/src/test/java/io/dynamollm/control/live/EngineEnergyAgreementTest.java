package io.dynamollm.control.live;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.dynamollm.sim.Replays;
import io.dynamollm.sim.TraceRequest;
import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.instance.engine.Engine;
import io.dynamollm.instance.engine.ModelClock;
import io.dynamollm.instance.engine.SimulatedEngine;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/**
 * The live engine and simulated GPUs against the trace-replay simulator: one TP4 instance at 1605 MHz serves the same
 * ten minutes of Poisson arrivals in both; the energy the live GPUs' counters measure and the simulator's agree within
 * 10 %, and the median latencies agree too. (The simulator is the yardstick of every saving the live system claims.)
 */
class EngineEnergyAgreementTest {
  private static final Profile P = MemoizedProfile.of(Profiles.h100());

  @Test
  void liveEngineEnergyMatchesTheSimulator() throws Exception {
    double durationMs = 10 * 60_000;
    List<TraceRequest> reqs = new ArrayList<>();
    SplittableRandom rnd = new SplittableRandom(11);
    double t = 0;
    long id = 0;
    while ((t += -Math.log(1 - rnd.nextDouble()) / 3.0 * 1000) < durationMs) {
      reqs.add(new TraceRequest(id++, t, 300 + rnd.nextInt(400), 30 + rnd.nextInt(60)));
    }

    // the simulator
    var sim = Replays.fixedInstance(P, RequestType.MS, TensorParallelism.TP4, 1605, reqs, durationMs);

    // the live engine, 60x real time
    ModelClock clock = new ModelClock(60);
    List<SimulatedGpuDevice> gpus = SimulatedGpuDevice.host("agree", 4, P, clock::nanoTime);
    gpus.forEach(g -> g.setLockedGpuClocks(1605, 1605));
    SimulatedEngine engine = new SimulatedEngine(P, TensorParallelism.TP4, gpus, () -> gpus.get(0).appliedClockMhz(),
        clock, 0);
    engine.start().toCompletableFuture().get(5, TimeUnit.SECONDS);
    long e0 = gpus.stream().mapToLong(SimulatedGpuDevice::totalEnergyMj).sum();
    double origin = clock.nowMs();
    List<CompletableFuture<Engine.Completion>> done = new ArrayList<>();
    for (TraceRequest r : reqs) {
      double wait;
      while ((wait = clock.wallMsUntil(origin + r.arrivalMs())) > 0) {
        LockSupport.parkNanos((long) (wait * 1e6));
      }
      done.add(engine.submit(new Engine.EngineRequest(r.id(), r.promptTokens(), r.outputTokens())).toCompletableFuture());
    }
    while (clock.wallMsUntil(origin + durationMs) > 0) {
      LockSupport.parkNanos(1_000_000);
    }
    double liveKwh = (gpus.stream().mapToLong(SimulatedGpuDevice::totalEnergyMj).sum() - e0) / 1000.0 / 3.6e6;
    CompletableFuture.allOf(done.toArray(new CompletableFuture[0])).get(30, TimeUnit.SECONDS);
    double liveTtft = median(done.stream().mapToDouble(f -> f.join().ttftMs()).toArray());
    double liveTbt = median(done.stream().mapToDouble(f -> f.join().tbtMs()).toArray());
    engine.close();

    System.out.printf("energy: live %.4f kWh, simulator %.4f kWh; TTFT p50 %.1f vs %.1f ms; TBT p50 %.2f vs %.2f ms%n",
        liveKwh, sim.energyKwh(), liveTtft, sim.ttftP50Ms(), liveTbt, sim.tbtP50Ms());
    assertThat(liveKwh).isCloseTo(sim.energyKwh(), within(0.10 * sim.energyKwh()));
    assertThat(liveTbt).isCloseTo(sim.tbtP50Ms(), within(0.10 * sim.tbtP50Ms()));
    assertThat(liveTtft).isCloseTo(sim.ttftP50Ms(), within(0.25 * sim.ttftP50Ms()));
  }

  private static double median(double[] v) {
    java.util.Arrays.sort(v);
    return v[v.length / 2];
  }
}
