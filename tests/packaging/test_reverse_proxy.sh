#!/usr/bin/env bash
# The nginx config of docs/reverse-proxy.md, run for real: the `server` blocks are taken
# from the doc as written, only the ports, the certificate (a self-signed one made here)
# and Pharos's address changed; Debian's nginx serves them on loopback in front of a
# Pharos started here. Checked through TLS: /health/ready, the redirect from HTTP, a
# body above nginx's default 1 MiB limit (client_max_body_size), and the log live tail
# (server-sent events) arriving through the proxy while the stream is open
# (proxy_buffering off). The Caddy config is not run (Caddy is not in Debian bookworm).
#
# nginx: the one on PATH, else Debian's package unpacked into the target dir (apt-get
# download; nothing is installed or started system-wide). Skipped without it or openssl.
#
#   PHAROS_BIN=target/debug/pharos tests/packaging/test_reverse_proxy.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

passed=0
skip() {
  echo "SKIP: reverse proxy test: $*"
  exit 0
}
fail() {
  echo "FAIL: $*" >&2
  for f in "${log:-}" "${nginx_log:-}"; do
    [ -n "$f" ] && [ -f "$f" ] && { echo "--- $f:" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}
ok() {
  passed=$((passed + 1))
  echo "ok - $*"
}

target="${CARGO_TARGET_DIR:-$PWD/target}"
bin="${PHAROS_BIN:-}"
if [ -z "$bin" ]; then
  for candidate in "$target/release/pharos" "$target/debug/pharos"; do
    [ -x "$candidate" ] && { bin="$candidate"; break; }
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] || skip "no pharos binary (set PHAROS_BIN or build one)"
for tool in openssl curl python3; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
done
nginx="$(command -v nginx || true)"
if [ -z "$nginx" ]; then
  unpacked="$target/nginx-deb"
  if [ ! -x "$unpacked/usr/sbin/nginx" ]; then
    mkdir -p "$unpacked"
    if (cd "$unpacked" && apt-get download nginx >/dev/null 2>&1); then
      for package in "$unpacked"/nginx_*.deb; do dpkg-deb -x "$package" "$unpacked"; done
    fi
  fi
  [ -x "$unpacked/usr/sbin/nginx" ] && nginx="$unpacked/usr/sbin/nginx"
fi
[ -n "$nginx" ] || skip "nginx is not installed and apt-get download nginx failed"

work="$(mktemp -d)"
log="$work/pharos.log"
nginx_log="$work/nginx-error.log"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pharos_port="$(free_port)"
https_port="$(free_port)"
http_port="$(free_port)"
token="proxy-test-admin-token-0123456789abcdef"
host=pharos.example.com

# --- Pharos, with the doc's settings ----------------------------------------------------------
settings="$(awk '/^## The two settings/{ section = 1 } section && /^```yaml/{ on = 1; next } on && /^```/{ exit } on' docs/reverse-proxy.md)"
grep -q trusted_proxies <<<"$settings" || fail "no web settings found in docs/reverse-proxy.md"
sed "s|https://$host|https://$host:$https_port|" <<<"$settings" >"$work/pharos.yaml"
PHAROS_ADMIN_TOKEN="$token" "$bin" serve --config "$work/pharos.yaml" --data-dir "$work/data" \
  --listen "127.0.0.1:$pharos_port" >"$log" 2>&1 &
pids+=($!)

# --- nginx, with the doc's server blocks ----------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=$host" -days 1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
servers="$(awk '/^## nginx/{ section = 1 } section && /^```nginx/{ on = 1; next } on && /^```/{ exit } on' docs/reverse-proxy.md)"
grep -q 'client_max_body_size' <<<"$servers" || fail "no nginx server blocks found in docs/reverse-proxy.md"
servers="$(sed -e "s|listen 80;|listen 127.0.0.1:$http_port;|" \
  -e "s|listen 443 ssl http2;|listen 127.0.0.1:$https_port ssl http2;|" \
  -e '/listen \[::\]/d' \
  -e "s|/etc/letsencrypt/live/$host/fullchain.pem|$work/cert.pem|" \
  -e "s|/etc/letsencrypt/live/$host/privkey.pem|$work/key.pem|" \
  -e "s|http://127.0.0.1:9800|http://127.0.0.1:$pharos_port|" \
  -e "s|https://\$host\$request_uri|https://\$host:$https_port\$request_uri|" <<<"$servers")"
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<EOF
pid $work/nginx.pid;
error_log $nginx_log info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
$servers
}
EOF
"$nginx" -t -p "$work/nginx" -c "$work/nginx.conf" >"$work/nginx-t.log" 2>&1 ||
  fail "nginx -t: $(cat "$work/nginx-t.log")"
ok "nginx -t accepts the doc's server blocks"
"$nginx" -p "$work/nginx" -c "$work/nginx.conf" -g 'daemon off; master_process off;' 2>>"$nginx_log" &
pids+=($!)

https() { curl -sk --resolve "$host:$https_port:127.0.0.1" "$@"; }
base="https://$host:$https_port"
for _ in $(seq 1 120); do
  kill -0 "${pids[0]}" 2>/dev/null || fail "pharos exited at start"
  [ "$(https -o /dev/null -w '%{http_code}' "$base/health/ready" || true)" = 200 ] && break
  sleep 0.5
done
[ "$(https -o /dev/null -w '%{http_code}' "$base/health/ready")" = 200 ] || fail "/health/ready through nginx"
ok "/health/ready through nginx over TLS: 200"

location="$(curl -s -o /dev/null -w '%{redirect_url}' --resolve "$host:$http_port:127.0.0.1" "http://$host:$http_port/status")"
[ "$location" = "$base/status" ] || fail "HTTP redirect went to '$location'"
ok "HTTP redirects to HTTPS"

# 3 MiB of log lines: above nginx's default 1 MiB, under Pharos's 32 MiB.
python3 -c 'import sys; sys.stdout.write("".join("proxy body line %06d, padded to about a hundred bytes ..........................\n" % i for i in range(36000)))' >"$work/body.txt"
size="$(stat -c %s "$work/body.txt")"
[ "$size" -gt $((2 * 1024 * 1024)) ] || fail "test body only $size bytes"
code="$(https -o "$work/post.json" -w '%{http_code}' -H "Authorization: Bearer $token" \
  -H 'Content-Type: text/plain' --data-binary @"$work/body.txt" "$base/api/v1/logs?service=proxytest")"
[ "${code:0:1}" = 2 ] || fail "a $size-byte POST /api/v1/logs through nginx answered $code: $(cat "$work/post.json")"
ok "a $((size / 1024)) KiB body passes nginx (client_max_body_size) and Pharos takes it ($code)"

# The live tail through the proxy: an event must arrive while the stream is open.
https -N -H "Authorization: Bearer $token" "$base/api/v1/logs/tail?q=proxytailmarker" >"$work/tail.txt" 2>/dev/null &
pids+=($!)
sleep 1
https -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: text/plain' \
  --data-binary 'proxytailmarker arrived' "$base/api/v1/logs?service=proxytest"
arrived=""
for _ in $(seq 1 40); do
  grep -q proxytailmarker "$work/tail.txt" && { arrived=1; break; }
  sleep 0.25
done
[ -n "$arrived" ] || fail "the live tail's event did not come through nginx within 10 s: $(cat "$work/tail.txt")"
ok "the log live tail (server-sent events) streams through nginx"

echo "reverse proxy test: $passed passed, 0 failed"
