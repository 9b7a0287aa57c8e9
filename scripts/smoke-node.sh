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
  pools="$(curl -sf "localhost:$HTTP/api/v1/pools" 2>/dev/null || true)"
  if grep -q '"state":"ready"' <<<"$pools"; then ok=1; break; fi
  sleep 1
done
# has URL PATTERN: the body of URL has a line matching PATTERN within ten seconds. The body goes to a file first:
# `curl | grep -q` under pipefail fails whenever grep stops reading before curl has written a large body (SIGPIPE).
has() {
  local body
  body="$(mktemp)"
  for _ in $(seq 1 10); do
    if curl -sf "$1" -o "$body" && grep -q "$2" "$body"; then rm -f "$body"; return 0; fi
    sleep 1
  done
  rm -f "$body"
  return 1
}
checks=""
if [[ -n "$ok" ]]; then
  curl -sf "localhost:$OPS/ready" >/dev/null || checks+=" /ready"
  has "localhost:$HTTP/metrics" '^dynamollm_cluster_gpus ' || checks+=" /metrics"
  has "localhost:$HTTP/dashboard" 'dynamollm dashboard' || checks+=" /dashboard"
  plan="$(./dynamollm plan --url "http://localhost:$HTTP" --slo LS=900/90 || true)"
  grep -q '^difference:' <<<"$plan" || checks+=" plan"
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
