# PostgreSQL 15: the cluster in data/ (initdb on the first start in this
# sandbox), the superuser "postgres" with the password of the options (or a
# generated one, printed once on stderr), scram-sha-256 for every TCP
# client, the log on stderr.
B="$R/usr/lib/postgresql/15/bin"
if [ ! -e .initialised ]; then
  rm -rf data
  own data
  pw="$POSTGRES_PASSWORD"
  if [ -z "$pw" ]; then
    pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    echo "postgresql: no postgresql.password given; the password of user postgres is: $pw" >&2
  fi
  umask 077
  printf '%s\n' "$pw" > pwfile
  umask 022
  if [ -n "$AS" ]; then chown nobody:nogroup pwfile; fi
  as "$B/initdb" -D "$PWD/data" -U postgres --pwfile="$PWD/pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 >&2
  rm -f pwfile
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >> data/pg_hba.conf
  if [ "$POSTGRES_DATABASE" != postgres ]; then
    printf 'CREATE DATABASE "%s";\n' "$POSTGRES_DATABASE" | as "$B/postgres" --single -D "$PWD/data" -c jit=off -c exit_on_error=on postgres >&2
  fi
  touch .initialised
fi
unset POSTGRES_PASSWORD
# A Unix socket in the sandbox when its path fits (107 bytes), else none.
SOCK=
if [ ${#PWD} -le 80 ]; then SOCK="$PWD/run"; own run
else echo "postgresql: the sandbox path is too long for a Unix socket: TCP only" >&2; fi
run "$B/postgres" -D "$PWD/data" -c listen_addresses=0.0.0.0 -c port="$PORT0" \
  -c unix_socket_directories="$SOCK" -c max_connections="$POSTGRES_MAX_CONNECTIONS" \
  -c shared_buffers="${POSTGRES_SHARED_BUFFERS_MB}MB" -c jit=off -c logging_collector=off
