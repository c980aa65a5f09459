#!/usr/bin/env bash
# Marathon benchmark (c) of issue 4, side by side with Docker Swarm in the
# same run, real processes on this machine:
#   1. time for 100 instances of `sleep 3600` to be running;
#   2. time from kill -9 of one instance's `sleep` to 100 running again
#      (counted when a replacement task is running and the total is back
#      at 100).
# Swarm: Debian's docker.io, a busybox-static rootfs imported as an image,
# `docker service create --replicas 100 bench-busybox sleep 3600`.
# Ours: one release master, one real agent, one Marathon, POST /v2/apps.
#
#   bench/marathon-vs-swarm.sh            # INSTANCES=100
#   SKIP_SWARM=1 bench/marathon-vs-swarm.sh
#   CONTAINER=1 bench/marathon-vs-swarm.sh  # ours in OCI containers too
#
# With CONTAINER=1 (issue 6's benchmark) our app runs every instance in
# its own container of the same busybox image Swarm runs (`docker save`d
# from the engine, imported into the agent's image store with `dcos image
# import`; Marathon `container.type: MESOS`, native containerizer on
# libcontainer): both systems then start 100 containers.
#
# Needs root (apt-get, dockerd, cgroups). Prints one JSON line per system
# and a summary. Leaves Docker/swarm as it found them (stops a dockerd it
# started, leaves a swarm it initialised).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${INSTANCES:-100}
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-cli
BIN=${BIN:-target/release}
work=$(mktemp -d)
APP=/bench-swarm-$$
SERVICE=bench-$$
DOCKERD=""
SWARM_INITED=""
IMPORTED=""
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cleanup() {
  set +e
  curl -sf -X DELETE "http://127.0.0.1:${PORT:-0}/v2/apps$APP?force=true" >/dev/null 2>&1
  # let the agent stop the tasks and clean their containers (overlay
  # mounts) before the processes go
  for _ in $(seq 100); do
    pgrep -f "$work" >/dev/null 2>&1 || break
    [ -z "$(grep -l "MARATHON_APP_ID=$APP" /proc/[0-9]*/environ 2>/dev/null)" ] && break
    sleep 0.1
  done
  kill "${MARATHON:-}" "${AGENT:-}" "${MASTER:-}" 2>/dev/null
  # executors and tasks outlive their agent by design: stop this run's own
  for p in $(grep -l "$work" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do kill -9 "$p" 2>/dev/null; done
  if [ -z "${SKIP_SWARM:-}" ] && docker info >/dev/null 2>&1; then
    docker service rm "$SERVICE" >/dev/null 2>&1
    [ -n "$IMPORTED" ] && { sleep 2; docker image rm -f bench-busybox >/dev/null 2>&1; }
    [ -n "$SWARM_INITED" ] && docker swarm leave --force >/dev/null 2>&1
  fi
  [ -n "$DOCKERD" ] && { kill "$DOCKERD"; wait "$DOCKERD"; } 2>/dev/null
  mount | awk -v w="$work" 'index($3, w) == 1 { print $3 }' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# ---------------------------------------------------------------- Swarm
swarm() {
  if ! command -v dockerd >/dev/null || ! command -v busybox >/dev/null || [ ! -x /bin/busybox ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io busybox-static >"$work/apt.log" 2>&1 \
      || { echo "apt-get install failed:" >&2; tail -5 "$work/apt.log" >&2; return 1; }
  fi
  if ! docker info >/dev/null 2>&1; then
    dockerd >"$work/dockerd.log" 2>&1 &
    DOCKERD=$!
    for _ in $(seq 300); do docker info >/dev/null 2>&1 && break; kill -0 $DOCKERD 2>/dev/null || break; sleep 0.1; done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start:" >&2; tail -15 "$work/dockerd.log" >&2; DOCKERD=""; return 1; }
  fi
  if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    docker swarm init --advertise-addr 127.0.0.1 >"$work/swarm.log" 2>&1 \
      || { echo "docker swarm init failed:" >&2; cat "$work/swarm.log" >&2; return 1; }
    SWARM_INITED=1
  fi
  if ! docker image inspect bench-busybox >/dev/null 2>&1 || [ -n "${CONTAINER:-}" ]; then
    docker image rm -f bench-busybox >/dev/null 2>&1 || true
    mkdir -p "$work/rootfs/bin"
    cp "$(command -v busybox)" "$work/rootfs/bin/busybox"
    for t in sh sleep; do ln -s busybox "$work/rootfs/bin/$t"; done
    tar -C "$work/rootfs" -c . | docker import - bench-busybox >/dev/null
    IMPORTED=1
  fi
  if [ -n "${CONTAINER:-}" ]; then
    docker save bench-busybox -o "$work/bench-busybox.tar"
  fi
  running_swarm() {
    docker service ps "$SERVICE" --filter desired-state=running --format '{{.ID}} {{.CurrentState}}' 2>/dev/null \
      | awk '$2 == "Running" { print $1 }' | sort
  }
  local t0 t1 t2 t3 before n
  t0=$(now)
  docker service create --detach --name "$SERVICE" --replicas "$N" bench-busybox sleep 3600 >/dev/null 2>&1
  until [ "$(running_swarm | wc -l)" -ge "$N" ]; do sleep 0.2; done
  t1=$(now)
  before=$(running_swarm)
  local cid pid
  cid=$(docker ps -q --filter "label=com.docker.swarm.service.name=$SERVICE" | head -1)
  pid=$(docker inspect --format '{{.State.Pid}}' "$cid")
  t2=$(now)
  kill -9 "$pid"
  while :; do
    n=$(running_swarm)
    if [ "$(echo "$n" | grep -c .)" -ge "$N" ] && [ -n "$(comm -13 <(echo "$before") <(echo "$n"))" ]; then break; fi
    sleep 0.2
  done
  t3=$(now)
  docker service rm "$SERVICE" >/dev/null
  SWARM_UP=$(secs "$t0" "$t1"); SWARM_RE=$(secs "$t2" "$t3")
  echo "{\"system\":\"docker-swarm\",\"version\":\"$(docker version --format '{{.Server.Version}}')\",\"instances\":$N,\"all_running_s\":$SWARM_UP,\"replace_killed_s\":$SWARM_RE}"
}

# ---------------------------------------------------------------- ours
ours() {
  MPORT=$(free_port); APORT=$(free_port); PORT=$(free_port)
  DCOS_LOG=warn $BIN/dcos daemon master --data-dir "$work/master" --listen 127.0.0.1:$MPORT >"$work/master.out" 2>&1 &
  MASTER=$!
  until grep -q "listening" "$work/master.out" 2>/dev/null; do sleep 0.1; done
  DCOS_LOG=warn $BIN/dcos daemon agent --master http://127.0.0.1:$MPORT --listen 127.0.0.1:$APORT \
    --work-dir "$work/agent" --resources 'cpus:8;mem:16384;disk:10000;ports:[31000-32000]' >"$work/agent.out" 2>&1 &
  AGENT=$!
  until grep -q "registered" "$work/agent.out" 2>/dev/null; do sleep 0.1; done
  DCOS_LOG=warn $BIN/dcos daemon marathon --master http://127.0.0.1:$MPORT --listen 127.0.0.1:$PORT >"$work/marathon.out" 2>&1 &
  MARATHON=$!
  until curl -sf http://127.0.0.1:$PORT/v2/info | grep -q '"elected":true'; do sleep 0.1; done
  local url=http://127.0.0.1:$PORT/v2/apps$APP
  tasks_running() { curl -sf "$url" | python3 -c 'import json,sys; print(json.load(sys.stdin)["app"]["tasksRunning"])' 2>/dev/null || echo 0; }
  running_ids() {
    curl -sf "$url/tasks" | python3 -c 'import json,sys
for t in json.load(sys.stdin)["tasks"]:
    if t.get("state") == "TASK_RUNNING": print(t["id"])' 2>/dev/null | sort
  }
  local t0 t1 t2 t3 before n pid container=""
  if [ -n "${CONTAINER:-}" ]; then
    [ -f "$work/bench-busybox.tar" ] || { echo "CONTAINER=1 needs the Swarm part (it saves the image)" >&2; return 1; }
    $BIN/dcos image import --work-dir "$work/agent" --name bench-busybox:latest "$work/bench-busybox.tar" >/dev/null
    container=',"container":{"type":"MESOS","docker":{"image":"bench-busybox:latest"}}'
  fi
  t0=$(now)
  curl -sf -X POST -H 'Content-Type: application/json' http://127.0.0.1:$PORT/v2/apps \
    -d "{\"id\":\"$APP\",\"cmd\":\"sleep 3600\",\"cpus\":0.01,\"mem\":8,\"instances\":$N$container}" >/dev/null
  until [ "$(tasks_running)" -ge "$N" ]; do sleep 0.1; done
  t1=$(now)
  before=$(running_ids)
  # the task's own `sleep` (not its executor): comm is sleep and its
  # environment carries this app's MARATHON_APP_ID
  pid=""
  for _ in $(seq 50); do
    for p in $(pgrep -x sleep); do
      if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "MARATHON_APP_ID=$APP"; then pid=$p; break; fi
    done
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || { echo "no task process found" >&2; return 1; }
  t2=$(now)
  kill -9 "$pid"
  while :; do
    n=$(running_ids)
    if [ "$(echo "$n" | grep -c .)" -ge "$N" ] && [ -n "$(comm -13 <(echo "$before") <(echo "$n"))" ]; then break; fi
    sleep 0.1
  done
  t3=$(now)
  curl -sf -X DELETE "$url?force=true" >/dev/null
  OURS_UP=$(secs "$t0" "$t1"); OURS_RE=$(secs "$t2" "$t3")
  echo "{\"system\":\"dcos-marathon${CONTAINER:+ (containers)}\",\"version\":\"$(git rev-parse --short HEAD)\",\"instances\":$N,\"all_running_s\":$OURS_UP,\"replace_killed_s\":$OURS_RE}"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
SWARM_UP=""; SWARM_RE=""
if [ -z "${SKIP_SWARM:-}" ]; then swarm || echo "# Docker Swarm could not run (see above)"; fi
ours
echo "# $N x sleep 3600, all running: ours ${OURS_UP} s, swarm ${SWARM_UP:-n/a} s;" \
  "kill -9 one -> $N running again: ours ${OURS_RE} s, swarm ${SWARM_RE:-n/a} s"
