#!/usr/bin/env bash
# Builds the dashboard into ui/assets (committed; the gateway embeds it).
# `npm ci` installs exactly package-lock.json; the build is reproducible,
# and CI (.ci/run) rebuilds and fails if ui/assets differs from the commit.
# Each text asset also gets a .gz beside it (gzip -9 -n: no name, no
# time), which the gateway serves to browsers that accept gzip.
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" != "--no-install" ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npx vite build --logLevel warn
find ../assets -type f \( -name '*.js' -o -name '*.css' -o -name '*.html' \) -print0 |
  sort -z | xargs -0 -n1 gzip -9 -n -k -f
echo "== ui/assets (gzip):"
find ../assets -name '*.gz' -print0 | sort -z | xargs -0 ls -l | awk '{s+=$5; print $5, $9} END {print s, "total"}'
