package io.dynamollm.decision.bench;

import io.dynamollm.decision.pool.ReshardCost;
import io.dynamollm.decision.DecisionSettings;
import io.dynamollm.decision.pool.PoolPlanner;
import io.dynamollm.protocol.FrequencyBounds;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.SloTable;
import io.dynamollm.protocol.TensorParallelism;
import io.dynamollm.protocol.profile.Profiles;
import io.dynamollm.protocol.profile.MemoizedProfile;
import io.dynamollm.protocol.profile.Mix;
import io.dynamollm.protocol.profile.Profile;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Planning every pool of a 64-server cluster: 9 pools × 3 TPs × 7 clocks, each pool with its share of 512 GPUs and of
 * a conversation-like load that fills them. Each Choco model is built fresh, as in production. Run with
 * {@code scripts/bench-planner.sh}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 5, time = 4)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class PoolPlannerBenchmark {
  /** Share of each type in the Azure conversation trace (credit: Azure Public Dataset). */
  static final double[] MIX = {0.036, 0.098, 0.001, 0.190, 0.104, 0.077, 0.151, 0.088, 0.256};

  List<PoolPlanner.Request> requests;
  PoolPlanner planner;

  @Setup
  public void setup() {
    Profile profile = MemoizedProfile.of(Profiles.h100());
    SloTable slos = profile.defaultSlos(5);
    planner = new PoolPlanner(profile, DecisionSettings.defaults().planner(),
        new PoolPlanner.Transitions(ReshardCost.IN_PLACE_NVLINK, 7 * 60_000, 230));
    requests = new ArrayList<>();
    double totalRps = 180; // about what 64 TP8 servers carry for this mix
    int gpus = 512;
    for (RequestType t : RequestType.values()) {
      double share = MIX[t.ordinal()];
      int budget = Math.max(8, (int) Math.round(share * gpus / 8) * 8);
      requests.add(new PoolPlanner.Request(t.name(), Mix.single(t, profile.shape(t), slos.of(t)), share * totalRps,
          budget, FrequencyBounds.H100_DEFAULT,
          TensorParallelism.PAPER_DEGREES, Optional.empty(), 300, false));
    }
  }

  @Benchmark
  public void planNinePools(Blackhole bh) {
    for (PoolPlanner.Request r : requests) {
      bh.consume(planner.plan(r));
    }
  }
}
