#!/usr/bin/env bash
# The gateway's added latency per request (issue 7; goal: p99 ≤ 1 ms over
# direct). Starts a master (the backend, also the store for users) and a
# gateway in front of it, logs in, then GETs the master's /master/health
# directly and through the gateway's /mesos/master/health, REQUESTS
# times each, sequentially and with 16 concurrent clients.
#
#   bench/gateway.sh                      # REQUESTS=20000
#   REQUESTS=5000 NO_BUILD=1 bench/gateway.sh
#   RT=1 bench/gateway.sh                 # as root: master, gateway and client
#                                         # under SCHED_FIFO (chrt), so other work on a
#                                         # shared machine does not decide the p99
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-20000}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-cli -p dcos-bench
BIN=target/release
RUN=()
[ -z "${RT:-}" ] || RUN=(chrt -f 10)
work=$(mktemp -d)
cleanup() { kill "${GATEWAY:-}" "${MASTER:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MPORT=$(free_port)
DCOS_LOG=warn ${RUN[@]+"${RUN[@]}"} $BIN/dcos daemon master --data-dir "$work/master" --listen 127.0.0.1:$MPORT >"$work/master.out" &
MASTER=$!
until grep -q "listening" "$work/master.out" 2>/dev/null; do sleep 0.1; done

mkdir -p "$work/gw/secrets"
head -c 32 /dev/urandom | base64 >"$work/gw/secrets/cluster-secret"
password=$(head -c 12 /dev/urandom | base64)
printf 'uid: bench\npassword: %s\n' "$password" >"$work/gw/admin-credentials"
chmod 600 "$work/gw/secrets/cluster-secret" "$work/gw/admin-credentials"
DCOS_LOG=warn ${RUN[@]+"${RUN[@]}"} $BIN/dcos daemon gateway --data-dir "$work/gw" --listen 127.0.0.1:0 \
  --master http://127.0.0.1:$MPORT >"$work/gw.out" &
GATEWAY=$!
until grep -q "listening" "$work/gw.out" 2>/dev/null; do sleep 0.1; done
GW=$(grep -o 'http://[0-9.:]*' "$work/gw.out" | head -1)
DCOS_BENCH_TOKEN=$(curl -sf -X POST "$GW/acs/api/v1/auth/login" \
  -d "{\"uid\":\"bench\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
export DCOS_BENCH_TOKEN

for c in 1 16; do
  ${RUN[@]+"${RUN[@]}"} $BIN/dcos-bench gateway-latency --direct "http://127.0.0.1:$MPORT/master/health" \
    --via "$GW/mesos/master/health" --requests "$REQUESTS" --concurrency $c \
    --label "GET /master/health, $c client(s), direct vs through the gateway"
done
