# nginx: prefix, generated nginx.conf, pid, temp files and the page in the
# sandbox; errors on stderr, the access log on stdout.
own logs tmp run
mkdir -p www
printf '%s\n' "$NGINX_INDEX_HTML" > www/index.html
# nginx opens /dev/stdout by path: as nobody that needs write permission on
# the file behind it (the sandbox's stdout, created by the agent as root).
ACCESS=/dev/stdout
if [ -n "$AS" ] && ! $AS test -w /dev/stdout; then
  out=$(readlink -f "/proc/$$/fd/1" || true)
  if [ "$out" = "$PWD/stdout" ]; then chown nobody:nogroup "$out"; fi
  if ! $AS test -w /dev/stdout; then ACCESS="$PWD/logs/access.log"; fi
fi
cat > nginx.conf <<CONF
daemon off;
worker_processes $NGINX_WORKER_PROCESSES;
pid "$PWD/run/nginx.pid";
error_log stderr notice;
events { worker_connections $NGINX_WORKER_CONNECTIONS; }
http {
  include "$R/etc/nginx/mime.types";
  default_type application/octet-stream;
  access_log "$ACCESS";
  sendfile on;
  server_tokens off;
  client_body_temp_path "$PWD/tmp/client_body";
  proxy_temp_path "$PWD/tmp/proxy";
  fastcgi_temp_path "$PWD/tmp/fastcgi";
  uwsgi_temp_path "$PWD/tmp/uwsgi";
  scgi_temp_path "$PWD/tmp/scgi";
  server {
    listen 0.0.0.0:$PORT0 default_server;
    root "$PWD/www";
    index index.html;
  }
}
CONF
run "$R/usr/sbin/nginx" -p "$PWD/" -c "$PWD/nginx.conf" -e stderr
