#!/usr/bin/env bash
# Chronos benchmark (issue 5): JOBS Metronome jobs, each scheduled every
# minute (cron `* * * * *`), for MINUTES minutes, on AGENTS hollow agents
# (tasks finish after 1 s). Prints scheduled minutes missed and doubled,
# the start delay (task RUNNING minus scheduled time) p50/p99/max, and
# Chronos' peak RSS.
#
#   bench/chronos.sh                          # JOBS=1000 MINUTES=10 AGENTS=100
#   JOBS=100 MINUTES=2 bench/chronos.sh
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-1000}
MINUTES=${MINUTES:-10}
AGENTS=${AGENTS:-100}
MPORT=${MPORT:-27150}
CPORT=${CPORT:-27400}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-cli -p dcos-bench
BIN=target/release
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
cleanup() { kill "${CHRONOS:-}" "${HOLLOW:-}" "${MASTER:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
DCOS_LOG=warn $BIN/dcos daemon master --data-dir "$work/master" --listen 127.0.0.1:$MPORT >"$work/master.out" &
MASTER=$!
until grep -q "listening" "$work/master.out" 2>/dev/null; do sleep 0.1; done
DCOS_LOG=warn $BIN/dcos daemon agent --master http://127.0.0.1:$MPORT --hollow "$AGENTS" \
  --work-dir "$work/hollow" --resources "cpus:8;mem:16384;disk:10000" >"$work/hollow.out" &
HOLLOW=$!
DCOS_LOG=warn $BIN/dcos daemon chronos --master http://127.0.0.1:$MPORT --listen 127.0.0.1:$CPORT >"$work/chronos.out" &
CHRONOS=$!
until grep -q "listening" "$work/chronos.out" 2>/dev/null; do sleep 0.1; done
until curl -sf http://127.0.0.1:$CPORT/v1/metrics | grep -q '"leader":true'; do sleep 0.2; done
$BIN/dcos-bench chronos-load --chronos http://127.0.0.1:$CPORT --jobs "$JOBS" --minutes "$MINUTES" \
  --chronos-pid $CHRONOS --label "$JOBS jobs every minute for $MINUTES min, $AGENTS hollow agents"
