#!/usr/bin/env bash
# Benchmark: our store against etcd 3.4 (Debian's etcd-server), side by side
# in the same run, on loopback. Sequential puts over one keep-alive HTTP
# connection, and 16 concurrent clients; one node and three nodes.
#
#   bash bench/store-vs-etcd.sh            # prints a markdown table
#   SEQ_OPS=2000 CONC_OPS=16000 bash bench/store-vs-etcd.sh
#
# Writes go to the leader for both systems. Raw results (JSON lines) are
# kept in target/bench/store-vs-etcd.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

SEQ_OPS=${SEQ_OPS:-2000}
CONC_OPS=${CONC_OPS:-16000}
CONC_CLIENTS=${CONC_CLIENTS:-16}
ROUNDS=${ROUNDS:-1}
# For investigating one side: SYSTEMS="dcos" NODES="3" CASES="seq" NO_BUILD=1
# (SYSTEMS may also name "dcosnostream": ours with every Raft append an HTTP
# request, DCOS_STORE_NO_STREAM=1, to measure what the replication stream buys)
SYSTEMS=${SYSTEMS:-etcd dcos}
NODES=${NODES:-1 3}
CASES=${CASES:-seq conc}

for port in 23790 23791 23792 23800 23801 23802 25050 25051 25052; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "port $port is in use: stop what listens there first" >&2; exit 1
  fi
done
if ! command -v etcd >/dev/null; then
  echo "installing etcd-server and etcd-client from Debian..." >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client >/dev/null
fi
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-cli -p dcos-bench
DCOS=target/release/dcos
BENCH=target/release/dcos-bench
OUT=target/bench/store-vs-etcd.jsonl
mkdir -p target/bench
: > "$OUT"

TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
# Between systems: stop everything and let the disk settle (etcd preallocates
# 64 MB WAL files; their writeback would otherwise slow the next system's fsyncs).
stop_all() {
  for p in "${PIDS[@]:-}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null || true; done
  PIDS=(); rm -rf "${TMP:?}"/*; sync; sleep 2
}

wait_http() { # url
  for _ in $(seq 1 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "server at $1 did not come up" >&2; return 1
}

start_etcd() { # n -> sets LEADER (runs in this shell, so PIDS is kept)
  local n=$1 cluster="" i
  for ((i = 0; i < n; i++)); do cluster+="${cluster:+,}e$i=http://127.0.0.1:$((23800 + i))"; done
  for ((i = 0; i < n; i++)); do
    etcd --name "e$i" --data-dir "$TMP/etcd$n-$i" \
      --listen-client-urls "http://127.0.0.1:$((23790 + i))" --advertise-client-urls "http://127.0.0.1:$((23790 + i))" \
      --listen-peer-urls "http://127.0.0.1:$((23800 + i))" --initial-advertise-peer-urls "http://127.0.0.1:$((23800 + i))" \
      --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "bench$n" \
      >"$TMP/etcd$n-$i.log" 2>&1 &
    PIDS+=($!)
  done
  for ((i = 0; i < n; i++)); do wait_http "http://127.0.0.1:$((23790 + i))/health" >&2; done
  local eps="" 
  for ((i = 0; i < n; i++)); do eps+="${eps:+,}http://127.0.0.1:$((23790 + i))"; done
  for _ in $(seq 1 100); do
    local leader
    leader=$(ETCDCTL_API=3 etcdctl --endpoints="$eps" endpoint status -w json 2>/dev/null | python3 -c '
import json,sys
for s in json.load(sys.stdin):
    if s["Status"]["leader"] == s["Status"]["header"]["member_id"]: print(s["Endpoint"])' || true)
    if [ "$(printf '%s\n' "$leader" | grep -c .)" = 1 ]; then LEADER=$leader; sleep 1; return 0; fi
    sleep 0.1
  done
  echo "no etcd leader" >&2; return 1
}

start_dcos() { # n -> sets LEADER
  local n=$1 i
  for ((i = 0; i < n; i++)); do
    local join=()
    [ "$i" -gt 0 ] && join=(--join "http://127.0.0.1:25050")
    DCOS_LOG=warn "$DCOS" daemon master --listen "127.0.0.1:$((25050 + i))" --data-dir "$TMP/dcos$n-$i" "${join[@]}" \
      >"$TMP/dcos$n-$i.log" 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$((25050 + i))/store/v1/status" >&2
  done
  for _ in $(seq 1 300); do
    local voters
    voters=$(curl -fsS "http://127.0.0.1:25050/store/v1/members" | python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin) if m["voter"]))')
    [ "$voters" = "$n" ] && break
    sleep 0.1
  done
  sleep 1
  LEADER=$(curl -fsS "http://127.0.0.1:25050/store/v1/status" | python3 -c 'import json,sys; print("http://" + json.load(sys.stdin)["leader_addr"])')
}

start_dcosnostream() { DCOS_STORE_NO_STREAM=1 start_dcos "$@"; }

run() { # target leader label clients ops
  local base=dcos
  [ "${1#etcd}" != "$1" ] && base=etcd
  "$BENCH" kv-put --target "$base" --endpoint "$2" --label "$3" --clients "$4" --ops "$5" |
    sed "s/\"target\":\"$base\"/\"target\":\"$1\"/" | tee -a "$OUT" >&2
}

for round in $(seq 1 "$ROUNDS"); do
  for n in $NODES; do
    for system in $SYSTEMS; do
      "start_$system" "$n"
      case " $CASES " in *" seq "*) run "$system" "$LEADER" "${n}node-seq" 1 "$SEQ_OPS" ;; esac
      case " $CASES " in *" conc "*) run "$system" "$LEADER" "${n}node-c$CONC_CLIENTS" "$CONC_CLIENTS" "$CONC_OPS" ;; esac
      stop_all
    done
  done
done

python3 - "$OUT" <<'PY'
import json, sys, collections
rows = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    r = json.loads(line)
    rows[r["label"]][r["target"]].append(r)
def med(xs):
    xs = sorted(xs); return xs[len(xs) // 2]
print("| case | etcd ops/s | etcd p50 / p99 ms | dcos ops/s | dcos p50 / p99 ms | dcos / etcd ops/s |")
print("|---|---|---|---|---|---|")
for label, t in rows.items():
    e, d = t.get("etcd"), t.get("dcos")
    if not e or not d:
        for name, rs in (("etcd", e), ("dcos", d)):
            for r in rs or []:
                print(f"| {label} | {name} | {r['ops_per_sec']:,.0f} ops/s | p50 {r['p50_ms']:.2f} / p99 {r['p99_ms']:.2f} ms |")
        continue
    eo, do = med([r["ops_per_sec"] for r in e]), med([r["ops_per_sec"] for r in d])
    print(f"| {label} | {eo:,.0f} | {med([r['p50_ms'] for r in e]):.2f} / {med([r['p99_ms'] for r in e]):.2f} "
          f"| {do:,.0f} | {med([r['p50_ms'] for r in d]):.2f} / {med([r['p99_ms'] for r in d]):.2f} | {do / eo:.2f}x |")
    for other, o in t.items():
        if other not in ("etcd", "dcos"):
            oo = med([r["ops_per_sec"] for r in o])
            print(f"| {label} ({other}) | | | {oo:,.0f} | {med([r['p50_ms'] for r in o]):.2f} / {med([r['p99_ms'] for r in o]):.2f} | {oo / eo:.2f}x |")
PY
