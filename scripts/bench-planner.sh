#!/usr/bin/env bash
# JMH benchmark of the PoolPlanner: all 9 pools of a 64-server cluster (3 TPs x 7 clocks), fresh Choco models.
# Usage: scripts/bench-planner.sh [extra JMH args]   (results also in target/jmh-planner.json)
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q -DskipTests install -pl protocol >/dev/null
mvn -B -q -pl decisions test-compile -DskipTests=false >/dev/null
DEPS="$(cd decisions && mvn -B -q -Dstyle.color=never dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=/dev/stdout | sed "s/\x1b\[[0-9;]*m//g")"
CP="decisions/target/test-classes:decisions/target/classes:$DEPS"
mkdir -p target
exec java -cp "$CP" org.openjdk.jmh.Main io.dynamollm.decision.bench.PoolPlannerBenchmark -rf json -rff target/jmh-planner.json "$@"
