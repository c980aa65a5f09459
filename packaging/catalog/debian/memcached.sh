# memcached: TCP only (-U 0), on all IPv4 interfaces, errors and warnings
# on stderr (-v).
run "$R/usr/bin/memcached" -p "$PORT0" -U 0 -l 0.0.0.0 -m "$MEMCACHED_MEMORY_MB" \
  -c "$MEMCACHED_CONNECTIONS" -t "$MEMCACHED_THREADS" -I "${MEMCACHED_MAX_ITEM_SIZE_KB}k" -v
