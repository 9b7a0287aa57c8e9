package io.dynamollm.gpu;

/**
 * What a device can do, found out once when it is opened: read calls are probed; setters are reported supported when
 * the driver lists what they need (supported clocks, power-limit constraints). Permission is only known on the first
 * attempt, which fails with {@link GpuNoPermissionException}.
 *
 * @param lockedClocks the graphics clock can be locked to a range
 * @param powerLimit the power limit can be changed
 * @param energyCounter a total-energy counter is readable (Volta and newer)
 * @param clockEventReasons the reasons for a reduced clock are readable
 */
public record GpuCapabilities(boolean lockedClocks, boolean powerLimit, boolean energyCounter, boolean clockEventReasons) {}
