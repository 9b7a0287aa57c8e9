package io.dynamollm.instance.engine;

import java.util.HashMap;
import java.util.Map;

/**
 * Energy per request for an engine whose iterations cannot be seen (a server process): every interval the GPUs'
 * energy counter moved by {@code ΔE} while the server processed {@code ΔT} tokens (prompt and output, from its own
 * counters); each request is charged {@code ΔE / ΔT} for each of its tokens in that interval. Over the intervals a
 * request lived this is the per-iteration split of the simulated engine, at the interval's resolution; energy of
 * intervals without tokens (idle) is charged to nobody. Thread-safe.
 */
final class TokenEnergyLedger {
  private final Map<Long, Account> accounts = new HashMap<>();
  private double lastJoulesPerToken = Double.NaN;

  private static final class Account {
    long tokens;
    double joules;
  }

  synchronized void open(long id) {
    accounts.putIfAbsent(id, new Account());
  }

  /** Request {@code id} had {@code n} more tokens processed. */
  synchronized void tokens(long id, int n) {
    Account a = accounts.get(id);
    if (a != null) {
      a.tokens += n;
    }
  }

  /** An interval ended: the GPUs used {@code joules} while the server processed {@code tokens} tokens. */
  synchronized void interval(double joules, long tokens) {
    if (tokens <= 0 || !(joules >= 0)) {
      return;
    }
    lastJoulesPerToken = joules / tokens;
    for (Account a : accounts.values()) {
      a.joules += a.tokens * lastJoulesPerToken;
      a.tokens = 0;
    }
  }

  /**
   * Closes request {@code id}'s account: what it was charged, its tokens since the last interval at the last
   * interval's rate; NaN when no interval has measured a rate yet.
   */
  synchronized double close(long id) {
    Account a = accounts.remove(id);
    if (a == null || Double.isNaN(lastJoulesPerToken)) {
      return Double.NaN;
    }
    return a.joules + a.tokens * lastJoulesPerToken;
  }
}
