# Redis: redis.conf in the sandbox (so the password is not on the command
# line), the working directory data/ in the sandbox, the log on stdout.
own data
umask 077
{
  echo "port $PORT0"
  echo "bind 0.0.0.0"
  echo "protected-mode no"
  echo "daemonize no"
  echo 'logfile ""'
  echo "dir \"$PWD/data\""
  echo "maxmemory ${REDIS_MAXMEMORY_MB}mb"
  echo "maxmemory-policy $REDIS_MAXMEMORY_POLICY"
  echo "maxclients $REDIS_MAXCLIENTS"
  # The sandbox does not outlive the task: no RDB snapshots, no AOF.
  echo 'save ""'
  echo "appendonly no"
  if [ -n "$REDIS_PASSWORD" ]; then
    printf 'requirepass "%s"\n' "$(printf '%s' "$REDIS_PASSWORD" | sed 's/[\\"]/\\&/g')"
  fi
} > redis.conf
umask 022
if [ -n "$AS" ]; then chown nobody:nogroup redis.conf; fi
unset REDIS_PASSWORD
run "$R/usr/bin/redis-server" "$PWD/redis.conf"
