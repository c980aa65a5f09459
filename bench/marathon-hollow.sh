#!/usr/bin/env bash
# Marathon benchmarks (a) and (b) of issue 4 on hollow agents (one
# process simulating AGENTS agents; hollow tasks run until killed):
#   (a) one app scaled 0 -> INSTANCES: time until all are running;
#   (b) APPS apps x PER_APP instances: GET /v2/apps?embed=apps.tasks p50/p99.
#
#   bench/marathon-hollow.sh                     # AGENTS=1000 INSTANCES=10000 APPS=1000 PER_APP=10
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${AGENTS:-1000}
INSTANCES=${INSTANCES:-10000}
APPS=${APPS:-1000}
PER_APP=${PER_APP:-10}
REQUESTS=${REQUESTS:-100}
MPORT=${MPORT:-27150}
PORT=${PORT:-28080}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-cli
BIN=${BIN:-target/release}
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
cleanup() { kill "${MARATHON:-}" "${HOLLOW:-}" "${MASTER:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
DCOS_LOG=warn $BIN/dcos daemon master --data-dir "$work/master" --listen 127.0.0.1:$MPORT >"$work/master.out" &
MASTER=$!
until grep -q "listening" "$work/master.out" 2>/dev/null; do sleep 0.1; done
DCOS_LOG=warn $BIN/dcos daemon agent --master http://127.0.0.1:$MPORT --hollow "$AGENTS" \
  --work-dir "$work/hollow" --resources "cpus:8;mem:16384;disk:10000" >"$work/hollow.out" &
HOLLOW=$!
until grep -q "registered" "$work/hollow.out" 2>/dev/null; do sleep 0.1; done
DCOS_LOG=warn $BIN/dcos daemon marathon --master http://127.0.0.1:$MPORT --listen 127.0.0.1:$PORT >"$work/marathon.out" &
MARATHON=$!
until curl -sf http://127.0.0.1:$PORT/v2/info | grep -q '"elected":true'; do sleep 0.1; done
python3 bench/marathon_bench.py http://127.0.0.1:$PORT "$INSTANCES" "$APPS" "$PER_APP" "$REQUESTS"
echo "marathon peak RSS: $(grep VmHWM /proc/$MARATHON/status | awk '{print $2/1024 " MiB"}')"
