#!/usr/bin/env bash
# JMH benchmark of the PoolPlanner: all 9 pools of a 64-server cluster (3 TPs x 7 clocks), fresh Choco models.
# Usage: scripts/bench-planner.sh [extra JMH args]   (results also in target/jmh-planner.json)
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q -DskipTests install -pl protocol,gpu-driver,instance-actors -am >/dev/null
mvn -B -q -pl pool-actors test-compile -DskipTests=false >/dev/null
DEPS="$(cd pool-actors && mvn -B -q -Dstyle.color=never dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=/dev/stdout | sed "s/\x1b\[[0-9;]*m//g")"
CP="pool-actors/target/test-classes:pool-actors/target/classes:$DEPS"
mkdir -p target
exec java -cp "$CP" org.openjdk.jmh.Main io.dynamollm.pool.bench.PoolPlannerBenchmark -rf json -rff target/jmh-planner.json "$@"
