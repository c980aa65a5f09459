#!/usr/bin/env bash
# Benchmark (b) of issue 3: one master and one real agent (real executors,
# cgroups); a framework on our SDK launches TASKS `sleep` tasks; prints the
# time from the first ACCEPT to the last TASK_RUNNING, ACCEPT->RUNNING per
# task, and the agent's per-task memory (agent RSS growth, executor PSS).
#
#   bench/kernel-real.sh            # TASKS=200
#
# Needs root (cgroups). Builds release binaries first.
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${TASKS:-200}
MPORT=${MPORT:-26050}
APORT=${APORT:-26051}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-cli -p dcos-bench
BIN=target/release
work=$(mktemp -d)
cleanup() {
  kill "${AGENT:-}" "${MASTER:-}" 2>/dev/null || true
  pkill -9 -f "$work" 2>/dev/null || true
  # executors outlive their agent by design: stop the benchmark's own
  for p in $(grep -l "$work" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
DCOS_LOG=warn $BIN/dcos daemon master --data-dir "$work/master" --listen 127.0.0.1:$MPORT >"$work/master.out" &
MASTER=$!
until grep -q "listening" "$work/master.out" 2>/dev/null; do sleep 0.1; done
DCOS_LOG=warn $BIN/dcos daemon agent --master http://127.0.0.1:$MPORT --listen 127.0.0.1:$APORT \
  --work-dir "$work/agent" --resources "cpus:8;mem:16384;disk:10000" >"$work/agent.out" &
AGENT=$!
until grep -q "registered" "$work/agent.out" 2>/dev/null; do sleep 0.1; done
$BIN/dcos-bench kernel-launch --master http://127.0.0.1:$MPORT --tasks "$TASKS" \
  --command "sleep 3600" --cpus 0.01 --mem 8 --master-pid $MASTER --agent-pid $AGENT \
  --label "real agent, $TASKS sleep tasks"
