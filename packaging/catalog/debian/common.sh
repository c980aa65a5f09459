# The start of every Debian-based package's task; pin-debian.sh joins it
# with <name>.sh into the Marathon "cmd" (comment lines dropped). The
# agent runs the cmd with `sh -c` in the sandbox, where the fetcher put
# the package's .deb files.
set -eu
cd "${MESOS_SANDBOX:-.}"
R="$PWD/root"
# 1. Unpack every .deb into root/ (once per sandbox: a restart reuses it).
if [ ! -e "$R/.unpacked" ]; then
  rm -rf "$R"
  for d in *.deb; do dpkg-deb -x "$d" "$R" || exit 1; done
  # 2. Absolute symlinks point into the host (/etc/...): point them into root/.
  find "$R" -type l -lname '/*' | while IFS= read -r l; do ln -sfn "$R$(readlink "$l")" "$l"; done
  touch "$R/.unpacked"
fi
L="$R/usr/lib/x86_64-linux-gnu:$R/lib/x86_64-linux-gnu"
# 3. As root (tasks run as root today), the server runs as nobody:nogroup.
AS=
if [ "$(id -u)" = 0 ]; then AS="setpriv --reuid=nobody --regid=nogroup --clear-groups --"; fi
# own DIR...: create the directories the server writes and give them to it.
own() { mkdir -p "$@"; if [ -n "$AS" ]; then chown -R nobody:nogroup "$@"; fi; }
# as PROG ARGS...: run a program of root/ as the server's user.
as() { $AS env LD_LIBRARY_PATH="$L" "$@"; }
# run PROG ARGS...: replace this shell by the server (it gets the kill signal).
run() {
  $AS test -r "$R/.unpacked" || { echo "user nobody cannot read $R: is a parent directory of the sandbox not searchable?" >&2; exit 1; }
  exec $AS env LD_LIBRARY_PATH="$L" "$@"
}
