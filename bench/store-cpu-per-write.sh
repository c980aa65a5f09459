#!/usr/bin/env bash
# CPU spent per write, 3 nodes on loopback, one client sending sequential
# puts: the sum of user+system time of the three server processes over
# OPS puts, per 1,000 puts. Less noisy than latency on a shared 2-core box.
#
#   bash bench/store-cpu-per-write.sh                       # etcd and target/release/dcos
#   BINS="/tmp/dcos-a /tmp/dcos-b" bash bench/store-cpu-per-write.sh   # A/B of two builds
#
# Prints one line per run: system, ops/s, p50 ms, p99 ms, CPU ms per 1,000 puts.
set -euo pipefail
cd "$(dirname "$0")/.."
OPS=${OPS:-3000}
ROUNDS=${ROUNDS:-3}
BINS=${BINS:-target/release/dcos}
ETCD=${ETCD:-1}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-cli -p dcos-bench
BENCH=target/release/dcos-bench

TMP=$(mktemp -d)
PIDS=()
stop() {
  for p in "${PIDS[@]:-}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null || true; done
  PIDS=(); rm -rf "${TMP:?}"/*
}
trap 'stop; rm -rf "$TMP"' EXIT

cpu_ticks() { local t=0 p; for p in "${PIDS[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }

measure() { # label target leader
  local a b r
  a=$(cpu_ticks)
  r=$("$BENCH" kv-put --target "$2" --endpoint "$3" --label cpu --clients 1 --ops "$OPS")
  b=$(cpu_ticks)
  python3 - "$1" "$r" "$a" "$b" "$OPS" "$(getconf CLK_TCK)" <<'PY'
import json, sys
label, r, a, b, ops, hz = sys.argv[1], json.loads(sys.argv[2]), *map(int, sys.argv[3:])
cpu_ms = (b - a) * 1000 / hz * 1000 / ops
print(f"{label}: {r['ops_per_sec']:,.0f} ops/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, CPU {cpu_ms:.0f} ms per 1,000 puts")
PY
}

run_dcos() { # binary
  local i
  for i in 0 1 2; do
    local join=()
    [ "$i" -gt 0 ] && join=(--join "http://127.0.0.1:25050")
    DCOS_LOG=warn "$1" daemon master --listen "127.0.0.1:$((25050 + i))" --data-dir "$TMP/d$i" "${join[@]}" >"$TMP/log$i" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$((25050 + i))/store/v1/status" && break; sleep 0.1; done
  done
  for _ in $(seq 1 100); do
    [ "$(curl -fsS http://127.0.0.1:25050/store/v1/members | python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin) if m["voter"]))')" = 3 ] && break
    sleep 0.1
  done
  sleep 1
  local leader
  leader=$(curl -fsS http://127.0.0.1:25050/store/v1/status | python3 -c 'import json,sys; print("http://" + json.load(sys.stdin)["leader_addr"])')
  measure "dcos ($1)" dcos "$leader"
  stop; sync; sleep 1
}

run_etcd() {
  local cluster="" i
  for i in 0 1 2; do cluster+="${cluster:+,}e$i=http://127.0.0.1:$((23800 + i))"; done
  for i in 0 1 2; do
    etcd --name "e$i" --data-dir "$TMP/e$i" \
      --listen-client-urls "http://127.0.0.1:$((23790 + i))" --advertise-client-urls "http://127.0.0.1:$((23790 + i))" \
      --listen-peer-urls "http://127.0.0.1:$((23800 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((23800 + i))" \
      --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token cpu >"$TMP/e$i.log" 2>&1 &
    PIDS+=($!)
  done
  local leader=""
  for _ in $(seq 1 100); do
    leader=$(ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:23790,http://127.0.0.1:23791,http://127.0.0.1:23792 endpoint status -w json 2>/dev/null | python3 -c '
import json,sys
for s in json.load(sys.stdin):
    if s["Status"]["leader"] == s["Status"]["header"]["member_id"]: print(s["Endpoint"])' || true)
    [ "$(printf '%s\n' "$leader" | grep -c .)" = 1 ] && break
    sleep 0.1
  done
  sleep 1
  measure "etcd" etcd "$leader"
  stop; sync; sleep 1
}

for _ in $(seq 1 "$ROUNDS"); do
  [ "$ETCD" = 1 ] && run_etcd
  for bin in $BINS; do run_dcos "$bin"; done
done
