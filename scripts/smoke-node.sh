#!/usr/bin/env bash
# Smoke test of the README's main command: a control node and simulated hosts with a replayed workload must come up,
# show a serving instance in GET /api/v1/pools within a minute, answer /ready, /metrics, /dashboard and a plan preview
# (./dynamollm plan), and stop with exit code 0 on SIGTERM.
# Usage: scripts/smoke-node.sh [HTTP_PORT] [CLUSTER_PORT] [OPS_PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
HTTP="${1:-18080}"
PORT="${2:-25520}"
OPS="${3:-17626}"
DATA="$(mktemp -d)"
LOG="$(mktemp)"
./dynamollm node --simulated-hosts 2 --workload conversation --speedup 20 --http-port "$HTTP" --port "$PORT" \
  --ops-port "$OPS" --data-dir "$DATA" >"$LOG" 2>&1 &
PID=$!
ok=""
for _ in $(seq 1 120); do
  if curl -sf "localhost:$HTTP/api/v1/pools" 2>/dev/null | grep -q '"state":"ready"'; then ok=1; break; fi
  sleep 1
done
checks=""
if [[ -n "$ok" ]]; then
  curl -sf "localhost:$OPS/ready" >/dev/null || checks+=" /ready"
  curl -sf "localhost:$HTTP/metrics" | grep -q '^dynamollm_cluster_gpus ' || checks+=" /metrics"
  curl -sf "localhost:$HTTP/dashboard" | grep -q 'dynamollm dashboard' || checks+=" /dashboard"
  ./dynamollm plan --url "http://localhost:$HTTP" --slo LS=900/90 | grep -q '^difference:' || checks+=" plan"
fi
kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
rm -rf "$DATA"
if [[ -z "$ok" ]]; then
  echo "smoke: no serving instance within two minutes; the node's output:" >&2
  tail -30 "$LOG" >&2
  exit 1
fi
if [[ -n "$checks" ]]; then
  echo "smoke: the node served, but these failed:$checks; the node's output:" >&2
  tail -30 "$LOG" >&2
  exit 1
fi
if [[ "$rc" != 0 ]]; then
  echo "smoke: the node exited with $rc after SIGTERM (expected 0); its output:" >&2
  tail -30 "$LOG" >&2
  exit 1
fi
echo "smoke: the live cluster served (/ready, /metrics, /dashboard, plan preview) and stopped cleanly ($(grep -c '^workload:' "$LOG" || true) progress lines)"
rm -f "$LOG"
