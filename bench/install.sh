#!/usr/bin/env bash
# `dcos install` to a healthy cluster (issue 7): on free ports and a temp
# data dir, times `dcos install` from its start until every component
# answers its health check and the agent is registered (install only
# returns then), and then until a logged-in `dcos node list` shows the
# agent through the gateway. RUNS times; uninstalls (--purge) after each.
# Needs root (cgroups). Prints one JSON line per run and a summary.
#
#   bench/install.sh                 # release build, RUNS=5
#   BIN=target/debug/dcos RUNS=3 NO_BUILD=1 bench/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
if [ -z "${BIN:-}" ]; then
  [ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-cli
  BIN=target/release/dcos
fi
BIN=$(realpath "$BIN")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
work=$(mktemp -d)
cleanup() { [ -f "$work/data/config.toml" ] && "$BIN" uninstall --data-dir "$work/data" --purge >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
export DCOS_DIR="$work/cli"
results=()
for i in $(seq 1 "$RUNS"); do
  rm -rf "$work/data" "$work/cli"
  gw=$(free_port)
  t0=$(now)
  "$BIN" install --data-dir "$work/data" --master-port "$(free_port)" --agent-port "$(free_port)" \
    --marathon-port "$(free_port)" --chronos-port "$(free_port)" --gateway-port "$gw" \
    --resources 'ports:[32700-32799]' >"$work/install.out" 2>"$work/install.err" \
    || { cat "$work/install.err" >&2; exit 1; }
  t1=$(now)
  pw=$(sed -n 's/^password: //p' "$work/data/admin-credentials")
  "$BIN" cluster setup "http://127.0.0.1:$gw" --username admin --password "$pw" >/dev/null
  until "$BIN" node list --json 2>/dev/null | grep -q '"id"'; do sleep 0.05; done
  t2=$(now)
  healthy=$(awk "BEGIN{print $t1 - $t0}")
  usable=$(awk "BEGIN{print $t2 - $t0}")
  printf '{"run":%d,"install_to_healthy_s":%.2f,"install_to_cli_sees_agent_s":%.2f}\n' "$i" "$healthy" "$usable"
  results+=("$healthy")
  "$BIN" uninstall --data-dir "$work/data" --purge >/dev/null
done
printf '%s\n' "${results[@]}" | sort -n | awk -v bin="$BIN" '{a[NR]=$1} END {printf "{\"binary\":\"%s\",\"runs\":%d,\"healthy_min_s\":%.2f,\"healthy_median_s\":%.2f,\"healthy_max_s\":%.2f}\n", bin, NR, a[1], a[int((NR+1)/2)], a[NR]}'
