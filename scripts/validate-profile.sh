#!/usr/bin/env bash
# Profile load model vs iteration-level simulation, per TYPE:TP:MHZ (see docs/profile.md, section 3).
# Usage: scripts/validate-profile.sh ../shared/data/AzureLLMInferenceTrace_conv.csv LS:8:1980 LL:8:1200 ...
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q -DskipTests install >/dev/null
mvn -B -q -pl simulator test-compile >/dev/null
DEPS="$(cd simulator && mvn -B -q -Dstyle.color=never dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=/dev/stdout | sed "s/\x1b\[[0-9;]*m//g")"
exec java -cp "simulator/target/test-classes:simulator/target/classes:$DEPS" io.dynamollm.sim.ProfileValidation "$@"
