package io.dynamollm.instance;

import io.dynamollm.gpu.ClockRequestRecorder;
import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.GpuException;
import io.dynamollm.protocol.CborSerializable;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One per {@code gpu-host} node, local: owns the host's GPUs and the {@link GpuLedger} that gives each to at most one
 * instance. At start it resets the clock lock of every GPU (a node that crashed may have left them throttled); a GPU
 * whose reset fails is kept out of the ledger and reported. A reservation hands the device handles to the instance
 * (the instance manager then owns their clock); a release takes them back and resets their clocks; so does stopping
 * the agent (coordinated shutdown of the node).
 */
public final class HostAgent {

  /** Messages of the agent. Reservations are local to the node (device handles never cross nodes). */
  public sealed interface Command permits Reserve, Release, GetInventory {}

  /** Asks for {@code count} free GPUs for {@code instance} (local: the reply carries device handles). */
  public record Reserve(String instance, int count, ActorRef<Reservation> replyTo)
      implements Command, NoSerializationVerificationNeeded {}

  /** Gives back what {@code instance} holds; its GPUs' clocks are reset first. */
  public record Release(String instance, ActorRef<Released> replyTo)
      implements Command, NoSerializationVerificationNeeded {}

  /** Asks what the host holds; may come from another node (the placement of a new instance). */
  public record GetInventory(ActorRef<Inventory> replyTo) implements Command, CborSerializable {}

  /** Where agents register with the receptionist. */
  public static final ServiceKey<Command> KEY = ServiceKey.create(Command.class, "host-agent");

  /** The answer to a {@link Reserve}. */
  public sealed interface Reservation extends NoSerializationVerificationNeeded permits Granted, Refused {}

  /** {@code devices} now belong to {@code instance}, in index order. */
  public record Granted(String instance, List<GpuDevice> devices) implements Reservation {}

  public record Refused(String instance, String reason) implements Reservation {}

  /** {@code gpus} were freed (UUIDs); {@code resetFailures} lists GPUs whose clock reset failed, with the error. */
  public record Released(String instance, List<String> gpus, Map<String, String> resetFailures)
      implements NoSerializationVerificationNeeded {}

  /**
   * The host's GPUs: who holds each ({@code holders}: UUID → instance, free ones absent), which are kept out
   * ({@code excluded}: UUID → why), and every GPU's energy counter (mJ since the driver loaded) and power draw (mW)
   * as read now — held, free or kept out, they all draw power.
   */
  public record Inventory(List<String> gpus, Map<String, String> holders, Map<String, String> excluded,
      Map<String, Long> energyMj, Map<String, Integer> powerMw, List<GpuReading> readings)
      implements CborSerializable {
    public int free() {
      return gpus.size() - holders.size();
    }

    /** The sum of every GPU's energy counter, mJ. */
    public long totalEnergyMj() {
      return energyMj.values().stream().mapToLong(Long::longValue).sum();
    }

    /** The sum of every GPU's power draw, W. */
    public double powerW() {
      return powerMw.values().stream().mapToInt(Integer::intValue).sum() / 1000.0;
    }
  }

  /**
   * One GPU as read now, for metrics: NVML index and UUID, power (mW), energy counter (mJ), the SM clock it applies and
   * the one last requested of it (0: not locked), MHz, and the instance holding it ("" when free).
   */
  public record GpuReading(int index, String uuid, String name, int powerMw, long energyMj, int smClockMhz,
      int requestedMhz, String instance) implements CborSerializable {}

  private HostAgent() {}

  public static Behavior<Command> create(List<? extends GpuDevice> devices) {
    return Behaviors.setup(ctx -> new Running(ctx, devices).behavior());
  }

  private static final class Running {
    private final ActorContext<Command> ctx;
    private final Map<String, GpuDevice> byUuid = new LinkedHashMap<>();
    private final Map<String, String> excluded = new LinkedHashMap<>();
    private GpuLedger ledger;

    Running(ActorContext<Command> ctx, List<? extends GpuDevice> devices) {
      this.ctx = ctx;
      List<String> usable = new ArrayList<>();
      for (GpuDevice raw : devices) {
        // the agent hands out recording devices: what was requested shows next to what the GPU applies
        GpuDevice d = raw instanceof ClockRequestRecorder r ? r : new ClockRequestRecorder(raw);
        byUuid.put(d.uuid(), d);
        try {
          d.resetLockedGpuClocks();
          usable.add(d.uuid());
        } catch (GpuException e) {
          excluded.put(d.uuid(), "clock reset at start failed: " + e.getMessage());
          ctx.getLog().error("GPU {} ({}) kept out: its clock lock could not be reset at start: {}", d.index(), d.uuid(),
              e.getMessage());
        }
      }
      ledger = GpuLedger.of(usable);
      ctx.getLog().info("host agent: {} GPUs, clocks reset; {} kept out", usable.size(), excluded.size());
    }

    Behavior<Command> behavior() {
      return Behaviors.receive(Command.class)
          .onMessage(Reserve.class, this::onReserve)
          .onMessage(Release.class, this::onRelease)
          .onMessage(GetInventory.class, this::onInventory)
          .onSignal(PostStop.class, s -> {
            resetAll();
            return Behaviors.same();
          })
          .build();
    }

    private Behavior<Command> onReserve(Reserve r) {
      GpuLedger.Result result = ledger.reserve(r.instance(), r.count());
      if (result instanceof GpuLedger.Granted g) {
        ledger = g.ledger();
        r.replyTo().tell(new Granted(r.instance(), g.gpus().stream().map(byUuid::get).toList()));
      } else {
        r.replyTo().tell(new Refused(r.instance(), ((GpuLedger.Refused) result).reason()));
      }
      return Behaviors.same();
    }

    private Behavior<Command> onRelease(Release r) {
      List<String> gpus = ledger.held(r.instance());
      Map<String, String> failures = reset(gpus);
      ledger = ledger.release(r.instance());
      r.replyTo().tell(new Released(r.instance(), gpus, failures));
      return Behaviors.same();
    }

    private Behavior<Command> onInventory(GetInventory g) {
      Map<String, String> holders = new LinkedHashMap<>();
      for (String u : ledger.gpus()) {
        ledger.holderOf(u).ifPresent(i -> holders.put(u, i));
      }
      Map<String, Long> energy = new LinkedHashMap<>();
      Map<String, Integer> power = new LinkedHashMap<>();
      List<GpuReading> readings = new ArrayList<>();
      byUuid.forEach((u, d) -> {
        try {
          long mj = d.totalEnergyMj();
          int mw = d.powerUsageMw();
          energy.put(u, mj);
          power.put(u, mw);
          int requested = ((ClockRequestRecorder) d).requestedMhz().orElse(0);
          readings.add(new GpuReading(d.index(), u, d.name(), mw, mj, d.smClockMhz(), requested,
              holders.getOrDefault(u, "")));
        } catch (GpuException e) {
          ctx.getLog().warn("GPU {}: energy and power unreadable: {}", u, e.getMessage());
        }
      });
      g.replyTo().tell(new Inventory(ledger.gpus(), holders, Map.copyOf(excluded), energy, power, readings));
      return Behaviors.same();
    }

    private Map<String, String> reset(List<String> gpus) {
      Map<String, String> failures = new LinkedHashMap<>();
      for (String u : gpus) {
        try {
          byUuid.get(u).resetLockedGpuClocks();
        } catch (GpuException e) {
          failures.put(u, e.getMessage());
          ctx.getLog().error("GPU {}: clock reset failed: {}", u, e.getMessage());
        }
      }
      return failures;
    }

    private void resetAll() {
      Map<String, String> failures = reset(ledger.gpus());
      ctx.getLog().info("host agent stopping: clocks of {} GPUs reset ({} failed)", ledger.gpus().size(),
          failures.size());
    }
  }
}
