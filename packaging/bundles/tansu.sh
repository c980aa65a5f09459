#!/usr/bin/env bash
# Builds the kafka package's software, Tansu 0.6.0 (a Kafka-protocol
# broker with SQLite storage), from its crate, and packs it as the
# artifact the package names: bundle:tansu-0.6.0-x86_64-linux-gnu.tar.gz.
# No registry carries a Kafka broker binary (../shared/reference/kafka.md),
# so it comes into a cluster through an offline bundle:
#
#   packaging/bundles/tansu.sh            # -> target/bundles/tansu-0.6.0-x86_64-linux-gnu.tar.gz
#   dcos package bundle build kafka -o kafka.bundle \
#       --artifact bundle:tansu-0.6.0-x86_64-linux-gnu.tar.gz=target/bundles/tansu-0.6.0-x86_64-linux-gnu.tar.gz
#   dcos package bundle import kafka.bundle
#
# The build (~11 min on 2 cores, 1.5 GB of build files, removed after) is
# kept in $TANSU_CACHE (default /var/cache/dcos-ci/tansu-0.6.0) and reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=0.6.0
CACHE="${TANSU_CACHE:-/var/cache/dcos-ci/tansu-$VERSION}"
OUT=target/bundles/tansu-$VERSION-x86_64-linux-gnu.tar.gz
bin="$CACHE/bin/tansu"
if ! [ -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q "$VERSION"; then
  echo "building tansu $VERSION (about 11 minutes, once)"
  mkdir -p "$CACHE"
  build="$CACHE.build"
  cargo install tansu --version "$VERSION" --locked --features libsql \
    --root "$CACHE" --target-dir "$build"
  rm -rf "$build"
fi
mkdir -p target/bundles
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/tansu"
strip "$work/tansu" 2>/dev/null || true
# Reproducible: fixed owner, mode and time, so the same binary packs to
# the same sha256.
tar --owner=0 --group=0 --numeric-owner --mtime=@0 --mode=0755 \
  -C "$work" -cf - tansu | gzip -n -9 > "$OUT.partial"
mv "$OUT.partial" "$OUT"
sha256sum "$OUT"
