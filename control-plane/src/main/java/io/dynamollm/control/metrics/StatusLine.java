package io.dynamollm.control.metrics;

import io.dynamollm.control.live.Router;
import io.dynamollm.protocol.RequestType;
import java.util.Locale;

/**
 * The console's periodic status line on a control node: the cluster's GPU energy so far and power now (every GPU
 * host together), and this node's SLO attainment per request type with a total, e.g. {@code status: 0.412 kWh,
 * 3.86 kW on 24 GPUs (3 hosts); attainment 99.2 % of 1,845 (SS 99.6 %, SM 98.9 %, LL 100.0 %); 0 failed}.
 */
public final class StatusLine {
  private StatusLine() {}

  public static String of(Telemetry.Sample s) {
    StringBuilder b = new StringBuilder("status: ");
    if (s.cluster().isPresent()) {
      Telemetry.ClusterTotals c = s.cluster().get();
      b.append(String.format(Locale.ROOT, "%.3f kWh, %.2f kW on %d GPUs (%d hosts)", c.energyJ() / 3.6e6,
          c.powerW() / 1000, c.gpus(), c.hosts()));
    } else {
      b.append("no GPU host read yet");
    }
    if (s.stats().isEmpty()) {
      return b.append("; no requests answered yet").toString();
    }
    Router.Stats st = s.stats().get();
    long served = 0;
    long met = 0;
    StringBuilder types = new StringBuilder();
    for (RequestType t : RequestType.values()) {
      long n = st.served().getOrDefault(t, 0L);
      if (n == 0) {
        continue;
      }
      long m = st.met().getOrDefault(t, 0L);
      served += n;
      met += m;
      types.append(types.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%s %.1f %%", t, 100.0 * m / n));
    }
    if (served == 0) {
      b.append("; no requests served yet");
    } else {
      b.append(String.format(Locale.ROOT, "; attainment %.1f %% of %,d (%s)", 100.0 * met / served, served, types));
    }
    return b.append(String.format(Locale.ROOT, "; %d failed", st.failed())).toString();
  }
}
