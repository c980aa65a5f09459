#!/usr/bin/env bash
# pin-debian.sh: pins the Debian packages the built-in catalog's packages
# run from (see README.md).
#
# For each catalog package NAME with a debian/NAME.list (one Debian package
# name a line, '#' starts a comment), on a Debian 12 amd64 machine with the
# stock apt sources:
#   - resource.json gets assets.uris.<key> (the pool URL of apt's current
#     candidate; the main archive's when it has the same file, else the
#     security archive's) and assets.contentHash.<key> (its sha256 from the
#     signed apt metadata); <key> is the Debian name with any character
#     outside [a-z0-9-] (a '.' or '+') replaced by '-';
#   - marathon.json.mustache gets its generated parts: the "fetch" array
#     (one entry per listed package, in list order) and the "cmd" line
#     (debian/common.sh followed by debian/NAME.sh, comment lines and blank
#     lines dropped, as one JSON string).
# The newest release folder of the package (repo/packages/<L>/NAME/<n>/) is
# the one written.
#
# Usage: pin-debian.sh [--update] [--verify] [--offline] [--check] [NAME...]
#   (no NAME: every debian/*.list)
#   --update   run `apt-get update` first (root), to pin the newest versions
#   --verify   download every .deb and check its sha256 (a few tens of MB)
#   --offline  no HTTP requests (by default each URL must answer 200 with
#              the size apt gives)
#   --check    write nothing; exit 1 when a template's generated parts or
#              a resource.json's keys do not match the lists and scripts,
#              when a pinned URL does not answer 200 (unless --offline), or
#              when apt's candidate is not the pinned file (a stale pin:
#              the Debian pool drops superseded versions, re-pin then).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
update=0 verify=0 offline=0 check=0
names=()
for a in "$@"; do
  case "$a" in
    --update) update=1 ;;
    --verify) verify=1 ;;
    --offline) offline=1 ;;
    --check) check=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "pin-debian.sh: unknown option $a (see --help)" >&2; exit 2 ;;
    *) names+=("$a") ;;
  esac
done
if [ ${#names[@]} -eq 0 ]; then
  for f in "$here"/debian/*.list; do names+=("$(basename "$f" .list)"); done
fi
for tool in jq sha256sum; do
  command -v "$tool" >/dev/null || { echo "pin-debian.sh: $tool is needed" >&2; exit 2; }
done
if [ $offline = 0 ]; then
  command -v curl >/dev/null || { echo "pin-debian.sh: curl is needed (or --offline)" >&2; exit 2; }
fi
have_apt=1
command -v apt-get >/dev/null || have_apt=0
if [ $have_apt = 0 ] && [ $check = 0 ]; then
  echo "pin-debian.sh: apt-get is needed to pin (run on Debian 12)" >&2; exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
problems=0
problem() { echo "  PROBLEM: $*"; problems=$((problems + 1)); }

# The Debian package names of a list, in order.
debs_of() { sed 's/#.*//' "$here/debian/$1.list" | awk 'NF { print $1 }'; }
key_of() { printf '%s' "$1" | tr -c 'a-z0-9-' '-'; }
# The newest release folder of a catalog package.
release_dir() {
  local letter base
  letter=$(printf '%s' "${1:0:1}" | tr 'a-z' 'A-Z')
  base="$here/repo/packages/$letter/$1"
  [ -d "$base" ] || { echo "pin-debian.sh: no catalog package $base" >&2; exit 2; }
  echo "$base/$(ls "$base" | grep -E '^[0-9]+$' | sort -n | tail -1)"
}
# Status code and Content-Length of a HEAD request.
head_of() {
  curl -sSI --max-time 30 "$1" | tr -d '\r' \
    | awk 'NR == 1 { code = $2 } tolower($1) == "content-length:" { len = $2 } END { print code, len }'
}

# The template with its generated parts ("cmd" line, "fetch" array) made
# from the list and the scripts, on stdout.
generate_template() {
  local name=$1 template=$2 script cmd entries="" key n=0 total
  script=$(cat "$here/debian/common.sh" "$here/debian/$name.sh" | grep -Ev '^[[:space:]]*(#|$)')
  if printf '%s' "$script" | grep -q '{{'; then
    echo "pin-debian.sh: debian/$name.sh or common.sh holds '{{' (Mustache would read it)" >&2; exit 2
  fi
  cmd=$(printf '%s\n' "$script" | jq -Rs .)
  total=$(debs_of "$name" | wc -l)
  while read -r deb; do
    key=$(key_of "$deb")
    n=$((n + 1))
    entries+="    {\"uri\": \"{{resource.assets.uris.$key}}\", \"cache\": true, \"executable\": false, \"extract\": false}"
    [ $n -lt "$total" ] && entries+=","
    entries+=$'\n'
  done < <(debs_of "$name")
  for marker in '^  "cmd": ' '^  "fetch": \[' ; do
    if [ "$(grep -cE "$marker" "$template")" != 1 ]; then
      echo "pin-debian.sh: $template needs exactly one line matching /$marker/" >&2; exit 2
    fi
  done
  CMD="$cmd" ENTRIES="$entries" awk '
    /^  "cmd": / { print "  \"cmd\": " ENVIRON["CMD"] ","; next }
    /^  "fetch": \[/ { print "  \"fetch\": ["; printf "%s", ENVIRON["ENTRIES"]; skip = 1; next }
    skip && /^  \],?$/ { print "  ],"; skip = 0; next }
    skip { next }
    { print }
  ' "$template"
}

# apt's candidate of each package: lines "deb url file size sha256".
candidates() {
  apt-get download --print-uris "$@" | while read -r url file size sum; do
    url=${url//\'/}
    url=${url//%2b/+}; url=${url//%2B/+}; url=${url//%7e/\~}; url=${url//%7E/\~}
    echo "${file%%_*} $url ${url##*/} $size ${sum#SHA256:}"
  done
}

if [ $update = 1 ]; then apt-get update; fi

for name in "${names[@]}"; do
  [ -f "$here/debian/$name.list" ] || { echo "pin-debian.sh: no debian/$name.list" >&2; exit 2; }
  [ -f "$here/debian/$name.sh" ] || { echo "pin-debian.sh: no debian/$name.sh" >&2; exit 2; }
  dir=$(release_dir "$name")
  template="$dir/marathon.json.mustache"
  resource="$dir/resource.json"
  mapfile -t debs < <(debs_of "$name")
  echo "$name (${dir#"$here"/}): ${#debs[@]} Debian packages"
  generate_template "$name" "$template" > "$tmp/template"

  if [ $check = 1 ]; then
    cmp -s "$tmp/template" "$template" \
      || problem "marathon.json.mustache: its cmd or fetch is not what debian/$name.list and .sh make (run pin-debian.sh $name)"
    want=$(for d in "${debs[@]}"; do key_of "$d"; echo; done | sort)
    for field in uris contentHash; do
      have=$(jq -r ".assets.$field // {} | keys[]" "$resource" | sort)
      [ "$have" = "$want" ] || problem "resource.json assets.$field keys differ from debian/$name.list"
    done
    if [ $have_apt = 1 ]; then
      candidates "${debs[@]}" > "$tmp/cand"
    else
      echo "  (no apt-get: candidates not compared)"; : > "$tmp/cand"
    fi
    for d in "${debs[@]}"; do
      k=$(key_of "$d")
      url=$(jq -r --arg k "$k" '.assets.uris[$k] // empty' "$resource")
      [ -n "$url" ] || continue
      if [ $have_apt = 1 ]; then
        cand=$(awk -v d="$d" '$1 == d { print $3 }' "$tmp/cand")
        [ "$cand" = "${url##*/}" ] || problem "$d: pinned ${url##*/}, apt's candidate is $cand (stale: re-pin)"
      fi
      if [ $offline = 0 ]; then
        read -r code _ < <(head_of "$url")
        [ "$code" = 200 ] || problem "$d: $url answers ${code:-nothing}"
      fi
    done
    continue
  fi

  candidates "${debs[@]}" > "$tmp/cand"
  uris='{}' hashes='{}' bytes=0
  for d in "${debs[@]}"; do
    line=$(awk -v d="$d" '$1 == d' "$tmp/cand")
    [ -n "$line" ] || { echo "pin-debian.sh: apt gave no candidate for $d" >&2; exit 1; }
    read -r _ url file size sum <<<"$line"
    if [ $offline = 0 ]; then
      # The same file in the main archive is preferred (it stays there longer).
      case "$url" in
        http://deb.debian.org/debian-security/pool/updates/*)
          main="http://deb.debian.org/debian/pool/${url#http://deb.debian.org/debian-security/pool/updates/}"
          read -r code len < <(head_of "$main")
          if [ "$code" = 200 ] && [ "$len" = "$size" ]; then url=$main; fi ;;
      esac
      read -r code len < <(head_of "$url")
      if [ "$code" != 200 ] || [ "$len" != "$size" ]; then
        echo "pin-debian.sh: $url answers ${code:-nothing} with ${len:-no} bytes, apt says 200 with $size" >&2; exit 1
      fi
    fi
    if [ $verify = 1 ]; then
      curl -sSf --max-time 600 -o "$tmp/deb" "$url"
      got=$(sha256sum "$tmp/deb" | cut -d' ' -f1)
      [ "$got" = "$sum" ] || { echo "pin-debian.sh: $url has sha256 $got, apt says $sum" >&2; exit 1; }
    fi
    k=$(key_of "$d")
    uris=$(jq -c --arg k "$k" --arg v "$url" '. + {($k): $v}' <<<"$uris")
    hashes=$(jq -c --arg k "$k" --arg v "$sum" '. + {($k): [{"algo": "sha256", "value": $v}]}' <<<"$hashes")
    bytes=$((bytes + size))
    printf '  %-26s %10s  %s\n' "$d" "$size" "$url"
  done
  old='{}'
  [ -f "$resource" ] && old=$(cat "$resource")
  jq --argjson u "$uris" --argjson h "$hashes" \
    '.assets = ((.assets // {}) + {"uris": $u, "contentHash": $h})' <<<"$old" > "$tmp/resource"
  mv "$tmp/resource" "$resource"
  cp "$tmp/template" "$template"
  echo "  total: ${#debs[@]} .deb files, $(awk -v b=$bytes 'BEGIN { printf "%.1f MB", b / 1e6 }')"
done

if [ $check = 1 ]; then
  if [ $problems -gt 0 ]; then echo "$problems problem(s)"; exit 1; fi
  echo "all consistent"
fi
