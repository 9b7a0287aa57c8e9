#!/usr/bin/env bash
# Re-runs every simulation behind docs/results.md, writing the JSON/HTML reports to docs/results/ and each run's
# console summary (with its wall time) to docs/results/<name>.txt, then the one table of every run
# (docs/results/summary.md, scripts/results-tables.py --summary). Needs the Azure conversation trace (see
# ../shared/data/README.md); pass its path as $1. Runs for about an hour on a 2-core machine; pass names to run a
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

R=docs/results
SWEEP="--trace $TRACE --policies singlepool,scaleshard,dynamollm,oracle,oracle-paid"
declare -A RUNS=(
  # the shared conversation trace (real arrivals) at its recorded rate and at 6x
  [conv-1h]="--trace $TRACE --report-json $R/conv-1h.json --report-html $R/conv-1h"
  [conv-1h-day]="--trace $TRACE --provisioning day --report-json $R/conv-1h-day.json"
  [conv-1h-x6]="--trace $TRACE --rate-scale 6 --report-json $R/conv-1h-x6.json --report-html $R/conv-1h-x6"
  [conv-1h-x6-acc60]="--trace $TRACE --rate-scale 6 --predictor-accuracy 0.6 --policies singlepool,autoscale,dynamollm,oracle --report-json $R/conv-1h-x6-acc60.json"
  # what a TP change costs, from in place over NVLink to an engine restart (the recorded rate, where the pools change)
  [reshard-50ms]="$SWEEP --reshard 50ms --report-json $R/reshard-50ms.json"
  [reshard-5s]="$SWEEP --reshard 5s --report-json $R/reshard-5s.json"
  [reshard-30s]="$SWEEP --reshard 30s --report-json $R/reshard-30s.json"
  [reshard-restart]="$SWEEP --reshard restart --report-json $R/reshard-restart.json"
  # the workload zoo (docs/simulator.md says what each stands for)
  [bursty]="--workload bursty --report-json $R/bursty.json --report-html $R/bursty"
  [coding-bursty]="--workload coding-bursty --report-json $R/coding-bursty.json --report-html $R/coding-bursty"
  [long-context]="--workload long-context --report-json $R/long-context.json"
  [shifting-mix]="--workload shifting-mix --report-json $R/shifting-mix.json --report-html $R/shifting-mix"
  [coding-1d]="--workload coding --days 1 --average-rps 60 --report-json $R/coding-1d.json"
  [conversation-week]="--workload conversation --days 7 --average-rps 20 --report-json $R/conversation-week.json --report-html $R/conversation-week"
  [coding-week]="--workload coding --days 7 --average-rps 60 --report-json $R/coding-week.json --report-html $R/coding-week"
)
ORDER=(conv-1h conv-1h-day conv-1h-x6 conv-1h-x6-acc60 reshard-50ms reshard-5s reshard-30s reshard-restart bursty coding-bursty
  long-context shifting-mix coding-1d conversation-week coding-week)
if [[ $# -gt 0 ]]; then ORDER=("$@"); fi

for name in "${ORDER[@]}"; do
  args="${RUNS[$name]:-}"
  [[ -n "$args" ]] || { echo "unknown run '$name': expected one of ${!RUNS[*]}" >&2; exit 2; }
  echo "== $name: ./dynamollm simulate $args"
  start=$(date +%s)
  # exit 3 (the oracle is not a bound on this run) still writes the reports: note it and go on
  rc=0
  # shellcheck disable=SC2086
  "$JAVA" -jar "$JAR" simulate $args 2>&1 | tee "docs/results/$name.txt.full" || rc=$?
  [[ $rc -eq 0 || $rc -eq 3 ]] || { echo "$name failed with exit $rc" >&2; exit "$rc"; }
  # keep the summary, not the progress lines
  grep -vE '^[[:space:]]+[A-Za-z-]+: [0-9]+% \(' "docs/results/$name.txt.full" > "docs/results/$name.txt" || true
  rm -f "docs/results/$name.txt.full"
  echo "wall: $(( $(date +%s) - start )) s" | tee -a "docs/results/$name.txt"
done
python3 scripts/results-tables.py --summary > docs/results/summary.md
echo "one table of every run: docs/results/summary.md"
