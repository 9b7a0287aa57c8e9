#!/usr/bin/env bash
# Checks scrapes of /metrics (written by FrontDoorClusterTest to control-plane/target/metrics-*.prom) with promtool.
# A malformed exposition fails. promtool's lint also flags the two naming conventions dynamollm keeps on purpose
# so that existing dashboards work: vLLM's "vllm:" metric names (a colon) and DCGM exporter's camelCase labels
# (UUID, Hostname, modelName, which dynamollm_gpu_* share so that they join with DCGM series); those lines are
# allowed, any other finding fails.
set -euo pipefail
files=("$@")
if ((${#files[@]} == 0)); then
  files=(control-plane/target/metrics-*.prom)
fi
status=0
for f in "${files[@]}"; do
  if [[ ! -s "$f" ]]; then
    echo "check-metrics: $f is missing or empty (run mvn -B verify first)" >&2
    exit 1
  fi
  out=$(promtool check metrics < "$f" 2>&1) || true
  other=$(printf '%s\n' "$out" | grep -v -E "^vllm:[a-z_]+ metric names should not contain ':'$" \
    | grep -v -E "^(DCGM_FI_[A-Z_]+|dynamollm_gpu_[a-z_]+) label names should be written in 'snake_case' not 'camelCase'$" \
    | grep -v -E '^$' || true)
  if [[ -n "$other" ]]; then
    echo "check-metrics: $f:" >&2
    printf '%s\n' "$other" >&2
    status=1
  else
    echo "check-metrics: $f passes promtool ($(grep -c -v '^#' "$f") samples; compatibility names allowed)"
  fi
done
exit $status
