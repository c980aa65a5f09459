#!/usr/bin/env bash
# The dashboard's pages on a loaded cluster (issue 15: every page
# interactive in under 1 s with 1,000 apps and 10,000 tasks on hollow
# agents), measured in headless Chromium with the Performance API. Starts
# a master, AGENTS hollow agents (one process), Marathon, Chronos, the
# gateway and chromedriver; dcos-bench creates APPS apps x PER_APP
# instances through the gateway, waits until all run, and times each page
# (fresh load, and reached from the navigation bar). Prints JSON lines.
#
#   bench/dashboard.sh                     # AGENTS=1000 APPS=1000 PER_APP=10 RUNS=5
#   APPS=100 NO_BUILD=1 bench/dashboard.sh
set -euo pipefail
cd "$(dirname "$0")/.."
AGENTS=${AGENTS:-1000}
APPS=${APPS:-1000}
PER_APP=${PER_APP:-10}
RUNS=${RUNS:-5}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-cli -p dcos-bench
BIN=${BIN:-target/release}
command -v chromedriver >/dev/null || { echo "needs chromium and chromium-driver (apt)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
cleanup() {
  # -9: nothing to flush, and Marathon waits for a master that is gone.
  kill -9 "${DRIVER:-}" "${GATEWAY:-}" "${CHRONOS:-}" "${MARATHON:-}" "${HOLLOW:-}" "${MASTER:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MPORT=$(free_port); PORT=$(free_port); CPORT=$(free_port); DPORT=$(free_port)
DCOS_LOG=warn $BIN/dcos daemon master --data-dir "$work/master" --listen 127.0.0.1:$MPORT >"$work/master.out" &
MASTER=$!
until grep -q "listening" "$work/master.out" 2>/dev/null; do sleep 0.1; done
DCOS_LOG=warn $BIN/dcos daemon agent --master http://127.0.0.1:$MPORT --hollow "$AGENTS" \
  --work-dir "$work/hollow" --resources "cpus:8;mem:16384;disk:10000" >"$work/hollow.out" &
HOLLOW=$!
until grep -q "registered" "$work/hollow.out" 2>/dev/null; do sleep 0.1; done
DCOS_LOG=warn $BIN/dcos daemon marathon --master http://127.0.0.1:$MPORT --listen 127.0.0.1:$PORT >"$work/marathon.out" &
MARATHON=$!
DCOS_LOG=warn $BIN/dcos daemon chronos --master http://127.0.0.1:$MPORT --listen 127.0.0.1:$CPORT >"$work/chronos.out" &
CHRONOS=$!
mkdir -p "$work/gw/secrets"
head -c 32 /dev/urandom | base64 >"$work/gw/secrets/cluster-secret"
DCOS_BENCH_PASSWORD=$(head -c 12 /dev/urandom | base64)
export DCOS_BENCH_PASSWORD
printf 'uid: bench\npassword: %s\n' "$DCOS_BENCH_PASSWORD" >"$work/gw/admin-credentials"
chmod 600 "$work/gw/secrets/cluster-secret" "$work/gw/admin-credentials"
DCOS_LOG=warn $BIN/dcos daemon gateway --data-dir "$work/gw" --listen 127.0.0.1:0 --master http://127.0.0.1:$MPORT \
  --marathon http://127.0.0.1:$PORT --chronos http://127.0.0.1:$CPORT >"$work/gw.out" &
GATEWAY=$!
until grep -q "listening" "$work/gw.out" 2>/dev/null; do sleep 0.1; done
GW=$(grep -o 'http://[0-9.:]*' "$work/gw.out" | head -1)
until curl -sf http://127.0.0.1:$PORT/v2/info | grep -q '"elected":true'; do sleep 0.1; done
chromedriver --port=$DPORT >"$work/driver.out" 2>&1 &
DRIVER=$!
until curl -sf http://127.0.0.1:$DPORT/status >/dev/null; do sleep 0.1; done
$BIN/dcos-bench dashboard-pages --gateway "$GW" --webdriver http://127.0.0.1:$DPORT \
  --apps "$APPS" --per-app "$PER_APP" --agents "$AGENTS" --runs "$RUNS" ||
  { [ -z "${HOLD:-}" ] || { echo "holding: gateway $GW, password $DCOS_BENCH_PASSWORD"; sleep 600; }; exit 1; }
echo "gateway peak RSS: $(grep VmHWM /proc/$GATEWAY/status | awk '{print $2/1024 " MiB"}')"
