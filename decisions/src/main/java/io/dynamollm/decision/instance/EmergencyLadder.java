package io.dynamollm.decision.instance;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

/**
 * What an instance does when requests threaten their SLO — typically after an output-length misprediction put a long
 * request into a pool sized for short ones. Each rung is taken only when the ones below it are not enough:
 *
 * <ol>
 *   <li>reorder the waiting queue by deadline (earliest TTFT deadline first);
 *   <li>raise the clock to the maximum;
 *   <li>re-route requests that have not started to another instance of the same or a larger pool;
 *   <li>reject requests already past their deadline (they can no longer meet it anywhere).
 * </ol>
 *
 * <p>Pure: a snapshot of the queue in, the actions out.
 */
public final class EmergencyLadder {

  /**
   * A request waiting for its prefill.
   *
   * @param id request id
   * @param deadlineMs when its first token is due (arrival + TTFT SLO)
   * @param prefillMs its prefill time at the current clock
   * @param prefillAtMaxMs its prefill time at the maximum clock
   */
  public record Waiting(long id, double deadlineMs, double prefillMs, double prefillAtMaxMs) {}

  /**
   * The instance as the ladder sees it.
   *
   * @param nowMs the time
   * @param waiting the waiting queue in its current order
   * @param busyUntilMs when the iteration in progress ends (now when idle)
   * @param atMaxClock whether the clock is already the maximum
   * @param canReroute whether a same-or-larger pool has an instance with room
   * @param mispredicted running requests that outlived their predicted output class (they enlarge the batch)
   */
  public record Snapshot(
      double nowMs, List<Waiting> waiting, double busyUntilMs, boolean atMaxClock, boolean canReroute, int mispredicted) {
    public Snapshot {
      waiting = List.copyOf(waiting);
    }
  }

  /**
   * The actions, and which rungs were needed.
   *
   * @param order the waiting queue's new order (ids), rejected and re-routed ones removed
   * @param reordered rung 1 was taken
   * @param raiseToMaxClock rung 2 was taken
   * @param reroute ids to send elsewhere (rung 3)
   * @param reject ids to drop (rung 4)
   */
  public record Actions(List<Long> order, boolean reordered, boolean raiseToMaxClock, List<Long> reroute, List<Long> reject) {
    public Actions {
      order = List.copyOf(order);
      reroute = List.copyOf(reroute);
      reject = List.copyOf(reject);
    }

    public boolean any() {
      return reordered || raiseToMaxClock || !reroute.isEmpty() || !reject.isEmpty();
    }
  }

  public Actions evaluate(Snapshot s) {
    Objects.requireNonNull(s, "snapshot");
    List<Waiting> live = new ArrayList<>();
    List<Long> reject = new ArrayList<>();
    for (Waiting w : s.waiting()) {
      if (w.deadlineMs() < s.nowMs()) {
        reject.add(w.id()); // rung 4: already late; serving it would only make others late too
      } else {
        live.add(w);
      }
    }
    boolean reordered = false;
    boolean maxClock = false;
    List<Long> reroute = new ArrayList<>();
    if (!misses(s, live, false).isEmpty()) {
      List<Waiting> edf = new ArrayList<>(live);
      edf.sort(Comparator.comparingDouble(Waiting::deadlineMs).thenComparingLong(Waiting::id));
      reordered = !edf.equals(live);
      live = edf;
      if (!misses(s, live, false).isEmpty() && !s.atMaxClock()) {
        maxClock = true;
      }
      boolean fast = maxClock || s.atMaxClock();
      if (s.canReroute()) {
        // send away the requests that would still miss, latest in the queue first, until the rest fit
        List<Waiting> late = misses(s, live, fast);
        while (!late.isEmpty()) {
          Waiting last = late.get(late.size() - 1);
          reroute.add(last.id());
          live.remove(last);
          late = misses(s, live, fast);
        }
      }
    }
    List<Long> order = live.stream().map(Waiting::id).toList();
    return new Actions(order, reordered, maxClock, reroute, reject);
  }

  /** The waiting requests whose first token would come after their deadline, serving the queue in order. */
  private static List<Waiting> misses(Snapshot s, List<Waiting> queue, boolean atMax) {
    List<Waiting> late = new ArrayList<>();
    double t = Math.max(s.nowMs(), s.busyUntilMs());
    for (Waiting w : queue) {
      t += atMax ? w.prefillAtMaxMs() : w.prefillMs();
      if (t > w.deadlineMs()) {
        late.add(w);
      }
    }
    return late;
  }
}
