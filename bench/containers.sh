#!/usr/bin/env bash
# Container start-to-exit latency of `/bin/true`, side by side in one run:
# our containerizer's runtime API (libcontainer, no scheduling) against
# `crun run` and `runc run` of the same bundle (a busybox image built from
# Debian's busybox-static, overlay rootfs). Prints one JSON line.
#
#   bench/containers.sh            # RUNS=200
#
# Needs root, busybox-static, crun and runc (installed if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-200}
for p in busybox-static crun runc; do
  dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static crun runc; break; }
done
[ -n "${NO_BUILD:-}" ] || cargo build --release -q -p dcos-containerizer --example container_latency
mkdir -p target/bench
target/release/examples/container_latency "$RUNS" | tee -a target/bench/containers.jsonl
