#!/usr/bin/env bash
# What the front door adds: short streamed completions (9 prompt tokens, 4 out) at each rate of RATES (default 500,
# 1,000 and 2,000 req/s; open loop, DURATION seconds each) through the front door of a node whose one instance is an
# engine-sim process (20x real time, so that the engine is not what limits), and the same straight to that
# engine-sim; then the node's heap with HOLD long requests in flight. Prints markdown tables (docs/results.md).
#   [RATES="500 1000 2000"] scripts/bench-front-door.sh [DURATION=10] [HOLD=1000]
# The load generator, the node and engine-sim share the machine's cores: on 2 cores the client and the engine, not
# the front door, saturate first (docs/results.md says where).
# Everything runs on 127.0.0.1 and is stopped at the end (even on failure); work files in target/bench-front-door.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
HOLD=${2:-1000}
JAR=app/target/dynamollm.jar
[ -f "$JAR" ] || mvn -B -q -DskipTests package
OPENS="--add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/sun.nio.ch=ALL-UNNAMED"
WORK=target/bench-front-door
rm -rf "$WORK" && mkdir -p "$WORK"
ADMIN=18580; DOOR=18500; CLUSTER=25610
cat > "$WORK/bench.conf" <<CONF
dynamollm.engine.kind = process
dynamollm.engine.command = ["java", "-Xmx2g", "-jar", "$JAR", "engine-sim", "--port", "{port}", "--tp", "{tp}", "--gpus", "{gpus}", "--speedup", "20", "--startup-s", "20"]
dynamollm.engine.log-dir = "$WORK/engines"
dynamollm.live.engine-startup = 2s
dynamollm.decisions.routing.max-outstanding = 100000
dynamollm.decisions.routing.hold-timeout = 10m
dynamollm.decisions.cluster-epoch = 1h
dynamollm.decisions.pool-epoch = 1h
CONF
java $OPENS -Xmx2g -Djava.util.concurrent.ForkJoinPool.common.parallelism=4 -jar "$JAR" node --roles control,gpu-host --gpus-per-host 8 --port $CLUSTER --http-port $ADMIN \
  --front-door-port $DOOR --data-dir "$WORK/data" --config "$WORK/bench.conf" > "$WORK/node.log" 2>&1 &
NODE=$!
cleanup() { kill "$NODE" 2>/dev/null || true; wait "$NODE" 2>/dev/null || true; pkill -f "$WORK/engines" 2>/dev/null || true; }
trap cleanup EXIT
echo "waiting for the node's first instance (an engine-sim process) to serve ..." >&2
for _ in $(seq 1 120); do
  inst="$(curl -sf "localhost:$ADMIN/api/v1/instances" || true)"
  if grep -q '"state":"ready"' <<<"$inst"; then break; fi
  sleep 1
done
ENGINE_PORT=$(grep -ho 'engine-sim serving on http://[0-9.]*:[0-9]*' "$WORK"/engines/*.log | head -1 | sed 's/.*://')
[ -n "$ENGINE_PORT" ] || { echo "no engine-sim served; see $WORK/node.log" >&2; exit 1; }
ENGINE=$(pgrep -f "engine-sim --port $ENGINE_PORT" | head -1)
INSTANCES=$(curl -s "localhost:$ADMIN/api/v1/instances" | grep -o '"state":"ready"' | wc -l)
echo "instances ready: $INSTANCES; engine-sim on port $ENGINE_PORT" >&2
load() { java -cp "$JAR" io.dynamollm.app.bench.FrontDoorLoad "$@"; }
echo "| req/s | path | sent | ok | errors | TTFT p50 ms | TTFT p99 ms | total p50 ms | total p99 ms | node CPU ms/req | engine-sim CPU ms/req |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for RATE in ${RATES:-500 1000 2000}; do
  for P in direct door; do
    if [ $P = door ]; then URL="http://127.0.0.1:$DOOR/v1/completions"; else URL="http://127.0.0.1:$ENGINE_PORT/v1/completions"; fi
    sleep 3 # the last run's connections close
    J=$(load "$URL" $RATE "$DURATION" 4 --warmup "${WARMUP:-20}" --cpu-of "node=$NODE,engine=$ENGINE" 2>>"$WORK/load.log")
    echo "$J" >> "$WORK/results.jsonl"
    python3 - "$RATE" "$P" "$J" <<'PY'
import json, sys
j = json.loads(sys.argv[3])
print(f"| {sys.argv[1]} | {'front door' if sys.argv[2] == 'door' else 'engine-sim directly'} | {j['sent']} | {j['ok']} | {j['errors']} | "
      f"{j['ttft_p50_ms']:.2f} | {j['ttft_p99_ms']:.2f} | {j['total_p50_ms']:.2f} | {j['total_p99_ms']:.2f} | "
      f"{j.get('node_cpu_ms_per_request', float('nan')):.2f} | {j.get('engine_cpu_ms_per_request', float('nan')):.2f} |")
PY
  done
done
python3 - "$WORK/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print()
print("| req/s | added TTFT p50 ms | added TTFT p99 ms | added total p50 ms | added total p99 ms | node CPU ms per request through the door |")
print("|---:|---:|---:|---:|---:|---:|")
for d, f in zip(rows[0::2], rows[1::2]):
    print(f"| {d['rate']:.0f} | {f['ttft_p50_ms'] - d['ttft_p50_ms']:+.2f} | {f['ttft_p99_ms'] - d['ttft_p99_ms']:+.2f} | "
          f"{f['total_p50_ms'] - d['total_p50_ms']:+.2f} | {f['total_p99_ms'] - d['total_p99_ms']:+.2f} | "
          f"{f.get('node_cpu_ms_per_request', float('nan')) - d.get('node_cpu_ms_per_request', 0):.2f} |")
PY
# heap of the node with HOLD streams in flight (long answers at real time), against idle, after a full GC each
heap() { jcmd "$NODE" GC.run > /dev/null; sleep 1; jcmd "$NODE" GC.heap_info | grep -o 'used [0-9]*K' | head -1 | grep -o '[0-9]*'; }
IDLE=$(heap)
load "http://127.0.0.1:$DOOR/v1/completions" 500 1 8000 --hold "$HOLD" > "$WORK/hold.json" &
HOLDER=$!
for _ in $(seq 1 180); do [ -s "$WORK/hold.json" ] && break; sleep 1; done
BUSY=$(heap)
kill $HOLDER 2>/dev/null || true
echo
echo "node heap after a full GC: idle ${IDLE} KiB; with $HOLD requests in flight ($(cat "$WORK/hold.json")) ${BUSY} KiB:" \
  "$(( (BUSY - IDLE) * 1000 / HOLD )) KiB per 1,000 requests in flight"
