package io.dynamollm.gpu;

import java.util.ArrayList;
import java.util.List;

/**
 * Why the GPU runs below its maximum clock right now: NVML's {@code nvmlClocksEventReasons} bit mask, decoded.
 *
 * @param mask the raw bit mask
 */
public record ClockEventReasons(long mask) {
  public static final long GPU_IDLE = 0x1L;
  public static final long APPLICATIONS_CLOCKS_SETTING = 0x2L;
  public static final long SW_POWER_CAP = 0x4L;
  public static final long HW_SLOWDOWN = 0x8L;
  public static final long SYNC_BOOST = 0x10L;
  public static final long SW_THERMAL_SLOWDOWN = 0x20L;
  public static final long HW_THERMAL_SLOWDOWN = 0x40L;
  public static final long HW_POWER_BRAKE_SLOWDOWN = 0x80L;
  public static final long DISPLAY_CLOCK_SETTING = 0x100L;

  public static final ClockEventReasons NONE = new ClockEventReasons(0);

  private static final long[] BITS = {
    GPU_IDLE, APPLICATIONS_CLOCKS_SETTING, SW_POWER_CAP, HW_SLOWDOWN, SYNC_BOOST, SW_THERMAL_SLOWDOWN,
    HW_THERMAL_SLOWDOWN, HW_POWER_BRAKE_SLOWDOWN, DISPLAY_CLOCK_SETTING
  };
  private static final String[] NAMES = {
    "gpu_idle", "applications_clocks_setting", "sw_power_cap", "hw_slowdown", "sync_boost", "sw_thermal_slowdown",
    "hw_thermal_slowdown", "hw_power_brake_slowdown", "display_clock_setting"
  };

  public boolean has(long bit) {
    return (mask & bit) != 0;
  }

  /** The names of the reasons set, in NVML's order; unknown bits as hex. */
  public List<String> names() {
    List<String> out = new ArrayList<>();
    long rest = mask;
    for (int i = 0; i < BITS.length; i++) {
      if ((mask & BITS[i]) != 0) {
        out.add(NAMES[i]);
        rest &= ~BITS[i];
      }
    }
    if (rest != 0) {
      out.add("0x" + Long.toHexString(rest));
    }
    return out;
  }
}
