#!/usr/bin/env bash
# Re-runs every simulation behind docs/results.md, writing the JSON/HTML reports to docs/results/ and each run's
# console summary (with its wall time) to docs/results/<name>.txt. Needs the Azure conversation trace (see
# ../shared/data/README.md); pass its path as $1. Runs for about 20 minutes on a 2-core machine; pass names to run a
# subset: scripts/sim-results.sh TRACE conv-1h conv-1h-x6
set -euo pipefail
cd "$(dirname "$0")/.."
TRACE="${1:?usage: scripts/sim-results.sh TRACE_CSV [NAME...]}"
shift
[[ -f "$TRACE" ]] || { echo "no such trace file: $TRACE" >&2; exit 2; }
mkdir -p docs/results
# one jar for every run, so that editing the sources meanwhile cannot mix two builds into one set of results
./dynamollm --version >/dev/null
JAR="$(mktemp --suffix=.jar)"
cp app/target/dynamollm.jar "$JAR"
trap 'rm -f "$JAR"' EXIT
JAVA="${DYNAMOLLM_JAVA:-java}"

declare -A RUNS=(
  [conv-1h]="--trace $TRACE --report-json docs/results/conv-1h.json --report-html docs/results/conv-1h"
  [conv-1h-x6]="--trace $TRACE --rate-scale 6 --report-json docs/results/conv-1h-x6.json --report-html docs/results/conv-1h-x6"
  [conv-1h-x6-acc60]="--trace $TRACE --rate-scale 6 --predictor-accuracy 0.6 --policies singlepool,dynamollm,oracle --report-json docs/results/conv-1h-x6-acc60.json"
  [conv-1h-x6-restart]="--trace $TRACE --rate-scale 6 --reshard restart --policies singlepool,scaleshard,dynamollm,oracle --report-json docs/results/conv-1h-x6-restart.json"
  [coding-1d]="--workload coding --days 1 --average-rps 60 --report-json docs/results/coding-1d.json"
  [conversation-week]="--workload conversation --days 7 --average-rps 20 --report-json docs/results/conversation-week.json --report-html docs/results/conversation-week"
  [coding-week]="--workload coding --days 7 --average-rps 60 --report-json docs/results/coding-week.json --report-html docs/results/coding-week"
)
ORDER=(conv-1h conv-1h-x6 conv-1h-x6-acc60 conv-1h-x6-restart coding-1d conversation-week coding-week)
if [[ $# -gt 0 ]]; then ORDER=("$@"); fi

for name in "${ORDER[@]}"; do
  args="${RUNS[$name]:-}"
  [[ -n "$args" ]] || { echo "unknown run '$name': expected one of ${!RUNS[*]}" >&2; exit 2; }
  echo "== $name: ./dynamollm simulate $args"
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$JAVA" -jar "$JAR" simulate $args 2>&1 | tee "docs/results/$name.txt.full"
  # keep the summary, not the progress lines
  grep -vE '^\s+\w+: [0-9]+% \(' "docs/results/$name.txt.full" > "docs/results/$name.txt" || true
  rm -f "docs/results/$name.txt.full"
  echo "wall: $(( $(date +%s) - start )) s" | tee -a "docs/results/$name.txt"
done
