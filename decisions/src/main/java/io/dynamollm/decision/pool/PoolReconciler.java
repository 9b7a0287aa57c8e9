package io.dynamollm.decision.pool;

import io.dynamollm.protocol.InstanceState;
import io.dynamollm.protocol.TensorParallelism;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Brings a pool's instances towards its plan. Instances of a TP the plan still wants keep running; with in-place
 * re-shards (an engine that can move weight shards over NVLink) an instance of a TP no longer wanted becomes one or
 * more instances of a wanted TP on its own GPUs — joined by other such instances when the wanted TP is wider —
 * staggered so that at most {@code maxOfflineShare} of the pool's capacity is offline at once; what is still missing
 * starts new; what is still extra drains, make-before-break: only once nothing of the pool is starting or
 * re-sharding, so the pool never loses capacity before its replacement serves. Without in-place re-shards a TP
 * change is a start of the new instances followed by a drain of the old ones. An instance the plan no longer needs
 * may stay as a warm spare ({@link Spares}): loaded, unrouted, at the lowest clock; a missing instance of its TP wakes
 * it instead of a cold start. An instance whose host is leaving is surplus however the plan looks: replaced first, then
 * drained, never parked. Pure.
 */
public final class PoolReconciler {
  private PoolReconciler() {}

  /**
   * An instance of the pool as its manager knows it.
   *
   * @param capacityRps its planned capacity (for staggering re-shards)
   * @param leaving its host is leaving the cluster (a rolling restart): it serves on but counts for nothing of the
   *     plan, so a replacement starts elsewhere, and it drains once the pool has settled (make-before-break)
   */
  public record Live(String id, TensorParallelism tp, InstanceState state, double capacityRps, boolean leaving) {
    public Live {
      Objects.requireNonNull(id, "id");
      Objects.requireNonNull(tp, "tp");
      Objects.requireNonNull(state, "state");
    }

    public Live(String id, TensorParallelism tp, InstanceState state, double capacityRps) {
      this(id, tp, state, capacityRps, false);
    }
  }

  /**
   * Re-shard instance {@code id}, together with {@code partners} (their GPUs join it), into instances of
   * {@code into}'s TPs on the same GPUs, {@code delayMs} from now (a later wave of a staggered change).
   */
  public record Reshard(String id, List<String> partners, List<PoolPlan.Group> into, long delayMs) {
    public Reshard {
      partners = List.copyOf(partners);
      into = List.copyOf(into);
    }
  }

  /** A warm spare of the pool: ready, routed nothing, since {@code sinceMs}. */
  public record Spare(String id, TensorParallelism tp, double sinceMs) {
    public Spare {
      Objects.requireNonNull(id, "id");
      Objects.requireNonNull(tp, "tp");
    }
  }

  /**
   * Whether the pool keeps warm spares: an instance the plan no longer needs stays loaded (unrouted, at the lowest
   * clock) for at most {@code keepMs} — within the pool's GPU budget, beside the plan's instances — and then drains.
   *
   * @param keepMs longest a spare is kept; 0: none are kept
   * @param gpuBudget GPUs the pool may hold, the plan's and the spares' together
   * @param nowMs now
   */
  public record Spares(long keepMs, int gpuBudget, double nowMs) {
    public static final Spares NONE = new Spares(0, 0, 0);

    public Spares {
      if (keepMs < 0 || gpuBudget < 0) {
        throw new IllegalArgumentException("spare keep time and GPU budget must be >= 0, got " + keepMs + " ms, "
            + gpuBudget + " GPUs");
      }
    }
  }

  /**
   * What to do now.
   *
   * @param park ready instances the plan no longer needs, kept as warm spares (no longer routed)
   * @param wake warm spares that serve again (routed at once: no start-up)
   */
  public record Actions(List<PoolPlan.Group> start, List<String> drain, List<Reshard> reshard, List<String> park,
      List<String> wake, String summary) {
    public Actions {
      start = List.copyOf(start);
      drain = List.copyOf(drain);
      reshard = List.copyOf(reshard);
      park = List.copyOf(park);
      wake = List.copyOf(wake);
    }

    public boolean none() {
      return start.isEmpty() && drain.isEmpty() && reshard.isEmpty() && park.isEmpty() && wake.isEmpty();
    }
  }

  /** How the pool may change TP. */
  public record Reshards(boolean inPlace, ReshardCost cost, double maxOfflineShare) {
    /** TP changes start new instances and drain the old ones (engines that cannot re-shard in place). */
    public static Reshards byRestart(ReshardCost cost) {
      return new Reshards(false, cost, 1);
    }
  }

  public static Actions reconcile(PoolPlan plan, List<Live> live, Reshards reshards) {
    return reconcile(plan, live, reshards, false, List.of(), Spares.NONE);
  }

  /**
   * As {@link #reconcile(PoolPlan, List, Reshards)}; with {@code breakFirst} as few of the extra instances as free
   * the GPUs of the missing ones drain at once, before their replacements serve (the rest once they do; which ones:
   * {@link #breakFirst}) — for a pool that holds GPUs the cluster has given to others and whose new instances find no
   * room until it lets them go (and no spare is kept). {@code live} are the instances that serve or will; {@code spares} the warm spares, kept as
   * {@code keep} allows: a missing instance wakes a spare of its TP (the newest) before anything starts; an extra
   * ready instance that would drain is parked as a spare while the plan's GPUs and the spares fit the budget; a spare
   * older than the keep time, or beyond the budget (the oldest first), drains.
   */
  public static Actions reconcile(PoolPlan plan, List<Live> live, Reshards reshards, boolean breakFirst,
      List<Spare> spares, Spares keep) {
    List<Live> serving = live.stream()
        .filter(i -> i.state() == InstanceState.READY || i.state() == InstanceState.STARTING
            || i.state() == InstanceState.RESHARDING)
        .sorted(Comparator.comparing(Live::id))
        .toList();
    boolean settling = serving.stream().anyMatch(i -> i.state() != InstanceState.READY);
    List<PoolPlan.Group> deficit = new ArrayList<>(); // one entry per missing instance
    List<Live> surplus = new ArrayList<>();
    for (TensorParallelism tp : TensorParallelism.PAPER_DEGREES) {
      List<Live> have = serving.stream().filter(i -> i.tp().equals(tp) && !i.leaving()).toList();
      serving.stream().filter(i -> i.tp().equals(tp) && i.leaving()).forEach(surplus::add);
      int k = 0;
      for (PoolPlan.Group g : plan.groups()) {
        if (!g.tp().equals(tp)) {
          continue;
        }
        for (int n = 0; n < g.instances(); n++) {
          if (k < have.size()) {
            k++;
          } else {
            deficit.add(new PoolPlan.Group(tp, g.clockMhz(), 1, g.capacityRps(), g.loadPerInstanceRps()));
          }
        }
      }
      surplus.addAll(have.subList(k, have.size()));
    }
    List<String> wake = new ArrayList<>();
    List<Spare> kept = new ArrayList<>(spares.stream().sorted(Comparator.comparingDouble(Spare::sinceMs)).toList());
    for (Iterator<PoolPlan.Group> it = deficit.iterator(); it.hasNext(); ) {
      PoolPlan.Group g = it.next();
      for (int k = kept.size() - 1; k >= 0; k--) {
        if (kept.get(k).tp().equals(g.tp())) {
          wake.add(kept.remove(k).id());
          it.remove();
          break;
        }
      }
    }
    List<Reshard> reshard = reshards.inPlace() ? reshard(surplus, deficit, serving, reshards) : List.of();
    boolean hold = !surplus.isEmpty() && !plan.groups().isEmpty()
        && (settling || !deficit.isEmpty() || !reshard.isEmpty());
    List<String> drain = new ArrayList<>();
    List<String> park = new ArrayList<>();
    // spares past their keep time go; the rest, newest first, as long as they fit beside the plan's GPUs
    int room = keep.gpuBudget() - plan.groups().stream().mapToInt(g -> g.instances() * g.tp().degree()).sum();
    if (breakFirst || keep.keepMs() == 0) {
      room = 0;
    }
    for (int k = kept.size() - 1; k >= 0; k--) {
      Spare s = kept.get(k);
      if (keep.nowMs() - s.sinceMs() >= keep.keepMs() || s.tp().degree() > room) {
        drain.add(s.id());
      } else {
        room -= s.tp().degree();
      }
    }
    if (!hold) {
      for (Live l : surplus) {
        if (l.state() == InstanceState.READY && l.tp().degree() <= room && !l.leaving()) {
          park.add(l.id());
          room -= l.tp().degree();
        } else {
          drain.add(l.id());
        }
      }
    }
    if (hold && breakFirst) {
      drain.addAll(breakFirst(surplus, serving, deficit));
    }
    String summary = String.format(Locale.ROOT, "%d to start, %d to re-shard, %d to drain%s%s", deficit.size(),
        reshard.size(), surplus.size() - park.size(), hold ? " once the new ones serve" : "",
        park.isEmpty() && wake.isEmpty() ? "" : ", " + park.size() + " to park as spares, " + wake.size() + " to wake");
    return new Actions(deficit, drain, reshard, park, wake, summary);
  }

  /**
   * The extra instances a pool breaking first lets go now: as few as free the GPUs its missing instances need. An
   * instance of a leaving host frees nothing (its GPUs leave with the host; it serves until the replacements do); a
   * starting one goes first (it serves nothing yet), then ready ones, widest first; the pool's last ready instance on a
   * staying host goes only when nothing else frees any GPU (a TP change by restart on the pool's own GPUs: the one gap
   * that cannot be avoided), so a pool keeps serving through a shrink wherever it can.
   */
  private static List<String> breakFirst(List<Live> surplus, List<Live> serving, List<PoolPlan.Group> deficit) {
    int need = deficit.stream().mapToInt(g -> g.tp().degree()).sum();
    long ready = serving.stream().filter(i -> i.state() == InstanceState.READY && !i.leaving()).count();
    List<String> out = new ArrayList<>();
    int freed = 0;
    for (Live l : surplus.stream().filter(i -> !i.leaving())
        .sorted(Comparator.comparing((Live i) -> i.state() == InstanceState.READY)
            .thenComparing(i -> -i.tp().degree())).toList()) {
      if (freed >= need) {
        break;
      }
      if (l.state() == InstanceState.READY) {
        if (ready <= 1 && freed > 0) {
          break; // the last ready instance serves on: what is freed already starts the first replacements
        }
        ready--;
      }
      out.add(l.id());
      freed += l.tp().degree();
    }
    return out;
  }

  /**
   * Turns surplus instances into deficit ones on their own GPUs, taking both out of the lists: an instance takes the
   * missing instances that fit in its GPUs, or joins other surplus instances to make a wider one. Waves keep at most
   * {@code maxOfflineShare} of the pool's capacity offline at once.
   */
  private static List<Reshard> reshard(List<Live> surplus, List<PoolPlan.Group> deficit, List<Live> serving,
      Reshards r) {
    double capacity = Math.max(1e-9, serving.stream().filter(i -> i.state() == InstanceState.READY)
        .mapToDouble(Live::capacityRps).sum());
    List<Reshard> out = new ArrayList<>();
    double offline = 0;
    long delay = 0;
    long waveMs = (long) Math.ceil(r.cost().millis(TensorParallelism.TP4, TensorParallelism.TP2)) + 1;
    while (!surplus.isEmpty() && !deficit.isEmpty()) {
      Live old = surplus.remove(0);
      int gpus = old.tp().degree();
      List<PoolPlan.Group> into = new ArrayList<>();
      for (Iterator<PoolPlan.Group> it = deficit.iterator(); it.hasNext(); ) {
        PoolPlan.Group g = it.next();
        if (g.tp().degree() <= gpus) {
          into.add(g);
          gpus -= g.tp().degree();
          it.remove();
        }
      }
      List<String> partners = new ArrayList<>();
      if (into.isEmpty()) {
        // the deficit wants wider instances: join other surplus instances until their GPUs make one
        PoolPlan.Group g = deficit.get(0);
        int need = g.tp().degree() - old.tp().degree();
        List<Live> joined = new ArrayList<>();
        for (Live o : surplus) {
          if (need <= 0) {
            break;
          }
          joined.add(o);
          need -= o.tp().degree();
        }
        if (need > 0) {
          surplus.add(0, old); // not enough GPUs among the surplus: the rest starts new and drains
          break;
        }
        surplus.removeAll(joined);
        joined.forEach(o -> partners.add(o.id()));
        deficit.remove(0);
        into.add(g);
      }
      if (offline > 0 && offline + old.capacityRps() > r.maxOfflineShare() * capacity) {
        delay += waveMs; // this one would take too much offline: the next wave, once the earlier ones serve again
        offline = 0;
      }
      out.add(new Reshard(old.id(), partners, into, delay));
      offline += old.capacityRps();
    }
    return out;
  }
}
