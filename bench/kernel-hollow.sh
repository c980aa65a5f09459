#!/usr/bin/env bash
# Benchmark (a) of issue 3: AGENTS hollow agents (one process) on one
# master; a framework on our SDK launches TASKS short tasks (hollow tasks
# finish after DURATION s). Prints launches/s, ACCEPT->RUNNING, the
# allocation-cycle p50/p99, the master's peak RSS and /master/state latency.
#
#   bench/kernel-hollow.sh                      # AGENTS=10000 TASKS=100000
#   AGENTS=1000 TASKS=10000 bench/kernel-hollow.sh
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${AGENTS:-10000}
TASKS=${TASKS:-100000}
DURATION=${DURATION:-1}
MPORT=${MPORT:-27050}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-cli -p dcos-bench
BIN=target/release
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
cleanup() { kill "${HOLLOW:-}" "${MASTER:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
DCOS_LOG=warn $BIN/dcos daemon master --data-dir "$work/master" --listen 127.0.0.1:$MPORT >"$work/master.out" &
MASTER=$!
until grep -q "listening" "$work/master.out" 2>/dev/null; do sleep 0.1; done
DCOS_LOG=warn $BIN/dcos daemon agent --master http://127.0.0.1:$MPORT --hollow "$AGENTS" \
  --work-dir "$work/hollow" --resources "cpus:8;mem:16384;disk:10000" >"$work/hollow.out" &
HOLLOW=$!
$BIN/dcos-bench kernel-launch --master http://127.0.0.1:$MPORT --agents "$AGENTS" --tasks "$TASKS" \
  --hollow-duration "$DURATION" --cpus 0.01 --mem 8 --master-pid $MASTER --timeout-secs 900 \
  --label "$AGENTS hollow agents, $TASKS tasks"
