package io.dynamollm.instance;

import static org.assertj.core.api.Assertions.assertThat;

import io.dynamollm.gpu.GpuDevice;
import io.dynamollm.gpu.GpuException;
import io.dynamollm.gpu.NvmlCodes;
import io.dynamollm.gpu.sim.SimulatedGpuDevice;
import io.dynamollm.protocol.profile.Profiles;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class HostAgentTest {
  private static final ActorTestKit KIT = ActorTestKit.create();

  @AfterAll
  static void shutdown() {
    KIT.shutdownTestKit();
  }

  private static List<SimulatedGpuDevice> host(int n) {
    return SimulatedGpuDevice.host("h", n, Profiles.h100(), System::nanoTime);
  }

  /** A device whose clock reset fails as without root. */
  private static GpuDevice noPermission(GpuDevice d) {
    return (GpuDevice) Proxy.newProxyInstance(GpuDevice.class.getClassLoader(), new Class<?>[] {GpuDevice.class},
        (proxy, m, args) -> {
          if (m.getName().equals("resetLockedGpuClocks")) {
            throw GpuException.of("nvmlDeviceResetGpuLockedClocks", NvmlCodes.ERROR_NO_PERMISSION, "Insufficient Permissions");
          }
          try {
            return m.invoke(d, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  @Test
  void resetsEveryClockAtStartAndKeepsOutAGpuThatCannotBeReset() {
    var gpus = host(4);
    gpus.forEach(g -> g.setLockedGpuClocks(810, 810)); // left throttled by a crashed node
    List<GpuDevice> devices = new ArrayList<>(gpus);
    devices.set(3, noPermission(gpus.get(3)));
    var agent = KIT.spawn(HostAgent.create(devices));
    var inv = KIT.<HostAgent.Inventory>createTestProbe();
    agent.tell(new HostAgent.GetInventory(inv.getRef()));
    HostAgent.Inventory i = inv.receiveMessage();
    assertThat(i.gpus()).hasSize(3);
    assertThat(i.excluded()).containsOnlyKeys(gpus.get(3).uuid());
    assertThat(i.excluded().get(gpus.get(3).uuid())).contains("Insufficient Permissions");
    for (int k = 0; k < 3; k++) {
      assertThat(gpus.get(k).lockedRangeMhz()).isEmpty();
    }
    KIT.stop(agent);
  }

  @Test
  void grantsDisjointGpusAndResetsClocksOnReleaseAndOnStop() {
    var gpus = host(8);
    var agent = KIT.spawn(HostAgent.create(gpus));
    TestProbe<HostAgent.Reservation> r = KIT.createTestProbe();
    agent.tell(new HostAgent.Reserve("i-1", 4, r.getRef()));
    var a = (HostAgent.Granted) r.receiveMessage();
    agent.tell(new HostAgent.Reserve("i-2", 4, r.getRef()));
    var b = (HostAgent.Granted) r.receiveMessage();
    assertThat(a.devices()).doesNotContainAnyElementsOf(b.devices());
    agent.tell(new HostAgent.Reserve("i-3", 2, r.getRef()));
    assertThat(r.receiveMessage()).isEqualTo(new HostAgent.Refused("i-3", "instance i-3 needs 2 GPUs, 0 of 8 are free"));

    // the instance throttles its GPUs; releasing them resets the clocks
    a.devices().forEach(d -> d.setLockedGpuClocks(1200, 1200));
    b.devices().forEach(d -> d.setLockedGpuClocks(1005, 1005));
    TestProbe<HostAgent.Released> rel = KIT.createTestProbe();
    agent.tell(new HostAgent.Release("i-1", rel.getRef()));
    var released = rel.receiveMessage();
    assertThat(released.gpus()).hasSize(4);
    assertThat(released.resetFailures()).isEmpty();
    for (int k = 0; k < 4; k++) {
      assertThat(gpus.get(k).lockedRangeMhz()).isEmpty();
    }
    assertThat(gpus.get(4).lockedRangeMhz()).isPresent();

    // stopping the agent (the node's coordinated shutdown) resets every clock it owns
    KIT.stop(agent); // returns once the agent has stopped
    for (SimulatedGpuDevice g : gpus) {
      assertThat(g.lockedRangeMhz()).isEmpty();
    }
  }
}
