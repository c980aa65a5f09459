#!/usr/bin/env bash
# `dcos package install kafka --yes` to a produce/consume round trip on a
# fresh cluster (issue 14): installs a cluster from `dcos install` on free
# ports and a temp data dir, imports the kafka bundle (Tansu, built by
# packaging/bundles/tansu.sh), then times
#   install: `dcos package install kafka --yes` (returns when the broker
#            task runs and passes its health check),
#   first:   until kafka-python (the test venv) has created a topic,
#            produced one message and consumed it back,
# and uninstalls (--purge). RUNS times. Needs root (cgroups). Prints one
# JSON line per run and a summary.
#
#   bench/package-kafka.sh                 # release build, RUNS=3
#   BIN=target/debug/dcos RUNS=1 NO_BUILD=1 bench/package-kafka.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
if [ -z "${BIN:-}" ]; then
  [ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-cli
  BIN=target/release/dcos
fi
BIN=$(realpath "$BIN")
PY=${PY:-target/pyenv/bin/python}
"$PY" -c 'import kafka' 2>/dev/null || { echo "needs kafka-python in $PY (.ci/run makes target/pyenv)" >&2; exit 1; }
TANSU=target/bundles/tansu-0.6.0-x86_64-linux-gnu.tar.gz
[ -f "$TANSU" ] || packaging/bundles/tansu.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
work=$(mktemp -d)
chmod 755 "$work"
cleanup() { [ -f "$work/data/config.toml" ] && "$BIN" uninstall --data-dir "$work/data" --purge >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
export DCOS_DIR="$work/cli"
ROUNDTRIP='
import sys, uuid
from kafka import KafkaProducer, KafkaConsumer, KafkaAdminClient
from kafka.admin import NewTopic
boot = sys.argv[1]; topic = "bench-" + uuid.uuid4().hex[:8]
a = KafkaAdminClient(bootstrap_servers=boot); a.create_topics([NewTopic(topic, 1, 1)]); a.close()
p = KafkaProducer(bootstrap_servers=boot, acks="all"); p.send(topic, b"ping"); p.flush(); p.close()
c = KafkaConsumer(topic, bootstrap_servers=boot, auto_offset_reset="earliest", group_id="bench", consumer_timeout_ms=30000)
assert next(iter(c)).value == b"ping"; c.close()
'
results=()
for i in $(seq 1 "$RUNS"); do
  rm -rf "$work/data" "$work/cli" "$work/kafka"
  mkdir -p "$work/kafka" && chmod 755 "$work/kafka"
  gw=$(free_port)
  "$BIN" install --data-dir "$work/data" --master-port "$(free_port)" --agent-port "$(free_port)" \
    --marathon-port "$(free_port)" --chronos-port "$(free_port)" --cosmos-port "$(free_port)" \
    --gateway-port "$gw" --resources 'ports:[32700-32799]' >"$work/install.out" 2>"$work/install.err" \
    || { cat "$work/install.err" >&2; exit 1; }
  pw=$(sed -n 's/^password: //p' "$work/data/admin-credentials")
  "$BIN" cluster setup "http://127.0.0.1:$gw" --username admin --password "$pw" >/dev/null
  "$BIN" package bundle build kafka -o "$work/kafka.bundle" \
    --artifact "bundle:tansu-0.6.0-x86_64-linux-gnu.tar.gz=$TANSU" >/dev/null 2>&1
  "$BIN" package bundle import "$work/kafka.bundle" >/dev/null 2>&1
  printf '{"kafka": {"data_dir": "%s"}}' "$work/kafka" >"$work/options.json"
  t0=$(now)
  "$BIN" package install kafka --yes --options "$work/options.json" >"$work/pkg.out" 2>&1 \
    || { cat "$work/pkg.out" >&2; exit 1; }
  t1=$(now)
  boot=$("$BIN" package endpoints kafka --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["address"][0])')
  "$PY" -c "$ROUNDTRIP" "$boot"
  t2=$(now)
  install=$(awk "BEGIN{print $t1 - $t0}")
  first=$(awk "BEGIN{print $t2 - $t0}")
  echo "{\"run\": $i, \"install_s\": $install, \"install_to_roundtrip_s\": $first}"
  results+=("$first")
  "$BIN" uninstall --data-dir "$work/data" --purge >/dev/null 2>&1
done
printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR]=$1} END {printf "{\"runs\": %d, \"install_to_roundtrip_p50_s\": %s, \"max_s\": %s}\n", NR, a[int((NR+1)/2)], a[NR]}'
