#!/usr/bin/env bash
# The Debian package, installed for real on this machine: builds it (scripts/build-deb),
# checks its control data and contents, `dpkg -i` it, checks the user, files, modes and
# the systemd enablement it made, `systemd-analyze verify`s the installed unit, starts
# Pharos as the unit would (its user, arguments, environment file, umask, no
# capabilities, no new privileges) and asks /health/ready, reloads it with SIGHUP as
# ExecReload does, stops it, installs it again (the upgrade path), then removes and purges
# it and checks what stays and what goes.
#
# What it cannot do here: start the service through systemd (this machine is a container
# whose PID 1 is not systemd), so the hardening directives themselves are checked by
# `systemd-analyze verify` and `systemd-analyze security --offline`, not enforced.
#
#   tests/packaging/test_deb.sh              # packages $PHAROS_BIN if set, else a release build
#   tests/packaging/test_deb.sh --deb FILE   # tests a built package
#
# Needs root and dpkg; skipped, saying why, without them, or when a pharos package, user
# or directory that this test did not make is on the machine (it never touches those).
set -euo pipefail
cd "$(dirname "$0")/../.."

deb=""
if [ "${1:-}" = "--deb" ]; then deb="$2"; fi

passed=0
skip() {
  echo "SKIP: packaging test: $*"
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

[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i); run it as root, e.g. in CI"
for tool in dpkg dpkg-deb setpriv runuser curl objdump strip systemd-analyze python3 ps; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
done
if [ "$(dpkg-query -W -f='${db:Status-Status}' pharos 2>/dev/null || true)" != "" ] &&
  [ "$(dpkg-query -W -f='${db:Status-Status}' pharos 2>/dev/null)" != "not-installed" ]; then
  skip "a pharos package is on this machine already ($(dpkg-query -W -f='${db:Status-Abbrev}' pharos)); purge it to run this test"
fi
getent passwd pharos >/dev/null && skip "a user named pharos exists already"
for dir in /var/lib/pharos /etc/pharos /var/backups/pharos; do
  [ -e "$dir" ] && skip "$dir exists already"
done

work="$(mktemp -d)"
chmod 0755 "$work"
log="$work/pharos.log"
pid=""
installed=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  if [ -n "$installed" ]; then dpkg --purge pharos >/dev/null 2>&1 || true; fi
  rm -rf /var/backups/pharos "$work"
}
trap cleanup EXIT

# --- the package file -------------------------------------------------------------
if [ -z "$deb" ]; then
  if [ -n "${PHAROS_BIN:-}" ]; then
    deb="$(scripts/build-deb --binary "$PHAROS_BIN" --compress none --out "$work")"
  else
    deb="$(scripts/build-deb --out "$work" | tail -n 1)"
  fi
fi
[ -f "$deb" ] || fail "no package at $deb"
version="$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)"
arch="$(dpkg --print-architecture)"
[ "$(basename "$deb")" = "pharos_${version}_${arch}.deb" ] || fail "package named $(basename "$deb")"
ok "package file pharos_${version}_${arch}.deb"

[ "$(dpkg-deb -f "$deb" Package)" = pharos ] && [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] ||
  fail "control: $(dpkg-deb -f "$deb" Package Version)"
depends="$(dpkg-deb -f "$deb" Depends)"
[[ "$depends" =~ ^libc6\ \(\>=\ 2\.[0-9]+\)(,\ libgcc-s1)?,\ adduser$ ]] || fail "Depends: $depends"
ok "Depends: $depends"
conffiles="$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)"
[ "$conffiles" = "$(printf '/etc/default/pharos\n/etc/pharos/pharos.yaml')" ] || fail "conffiles: $conffiles"
ok "conffiles: /etc/default/pharos, /etc/pharos/pharos.yaml"
contents="$(dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }')"
for entry in \
  "-rwxr-xr-x root/root ./usr/bin/pharos" \
  "-rw-r--r-- root/root ./usr/lib/systemd/system/pharos.service" \
  "-rw-r----- root/root ./etc/pharos/pharos.yaml" \
  "-rw------- root/root ./etc/default/pharos" \
  "-rw-r--r-- root/root ./usr/share/doc/pharos/copyright" \
  "-rw-r--r-- root/root ./usr/share/doc/pharos/README.md.gz" \
  "-rw-r--r-- root/root ./usr/share/doc/pharos/operations.md.gz" \
  "-rw-r--r-- root/root ./usr/share/doc/pharos/examples/pharos.example.yaml.gz"; do
  grep -qxF -- "$entry" <<<"$contents" || fail "package lacks $entry; it has:
$contents"
done
ok "contents: binary, unit, config, environment file, docs (owners and modes)"

dpkg-deb -x "$deb" "$work/extracted"
libs="$(objdump -p "$work/extracted/usr/bin/pharos" | awk '$1 == "NEEDED" { print $2 }' | sort | tr '\n' ' ')"
for lib in $libs; do
  case "$lib" in
    libc.so.6 | libm.so.6 | libgcc_s.so.1 | libpthread.so.0 | libdl.so.2 | librt.so.1 | ld-linux*) ;;
    *) fail "the packaged binary needs $lib (only glibc expected)" ;;
  esac
done
ok "the binary needs only glibc: $libs"

# --- install ----------------------------------------------------------------------
installed=1
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$work/dpkg-install.log" 2>&1 ||
  fail "dpkg -i: $(cat "$work/dpkg-install.log")"
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' pharos)" = "ii " ] || fail "not installed after dpkg -i"
ok "dpkg -i"

/usr/bin/pharos --version | grep -q "^pharos $version" || fail "pharos --version: $(/usr/bin/pharos --version)"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd pharos) || fail "no pharos user"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/pharos ] && [ "$shell" = /usr/sbin/nologin ] ||
  fail "pharos user: uid $uid home $home shell $shell"
[ "$(getent group pharos | cut -d: -f3)" = "$gid" ] || fail "pharos's group is not pharos"
ok "system user pharos (uid $uid, home /var/lib/pharos, no login shell, own group)"

mode() { stat -c '%U:%G %a' "$1"; }
[ "$(mode /var/lib/pharos)" = "pharos:pharos 700" ] || fail "/var/lib/pharos: $(mode /var/lib/pharos)"
[ "$(mode /var/backups/pharos)" = "pharos:pharos 700" ] || fail "/var/backups/pharos: $(mode /var/backups/pharos)"
[ "$(mode /etc/pharos/pharos.yaml)" = "root:pharos 640" ] || fail "pharos.yaml: $(mode /etc/pharos/pharos.yaml)"
[ "$(mode /etc/default/pharos)" = "root:root 600" ] || fail "/etc/default/pharos: $(mode /etc/default/pharos)"
[ "$(mode /usr/bin/pharos)" = "root:root 755" ] || fail "/usr/bin/pharos: $(mode /usr/bin/pharos)"
ok "modes: data and backup directories pharos 0700, config root:pharos 0640, environment file 0600"

for f in /etc/default/pharos /etc/pharos/pharos.yaml; do
  dpkg-query -W -f='${Conffiles}\n' pharos | grep -q "^ $f " || fail "$f is not a registered conffile"
done
ok "conffiles registered with dpkg"

if command -v deb-systemd-helper >/dev/null 2>&1; then
  wants=/etc/systemd/system/multi-user.target.wants/pharos.service
  # On a merged /usr, deb-systemd-helper finds the unit as /lib/systemd/system/pharos.service.
  case "$(readlink "$wants")" in
    /usr/lib/systemd/system/pharos.service | /lib/systemd/system/pharos.service) ;;
    *) fail "not enabled: $wants -> '$(readlink "$wants")'" ;;
  esac
  ok "enabled for multi-user.target (deb-systemd-helper's symlink)"
fi

unit=/usr/lib/systemd/system/pharos.service
verify="$(systemd-analyze verify "$unit" 2>&1)" || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify printed: $verify"
ok "systemd-analyze verify $unit: clean"
exposure="$(systemd-analyze security --offline=true "$unit" 2>&1 | grep -o 'Overall exposure level for pharos.service: [0-9.]*' | grep -o '[0-9.]*$')"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }' || fail "systemd-analyze security: exposure '$exposure' (2.0 at most expected)"
ok "systemd-analyze security: exposure $exposure"

check="$(runuser -u pharos -- /usr/bin/pharos check --config /etc/pharos/pharos.yaml 2>&1)" ||
  fail "pharos check of the default config: $check"
ok "the default config passes pharos check as the pharos user: $check"

# --- start it as the unit would ---------------------------------------------------
# The unit's own lines, so this follows the unit rather than a copy of it.
unit_value() { sed -n "s/^$1=//p" "$unit"; }
[ "$(unit_value User)" = pharos ] && [ "$(unit_value Group)" = pharos ] || fail "unit User/Group"
read -r -a exec_start <<<"$(unit_value ExecStart)"
env_file="$(unit_value EnvironmentFile)"
env_file="${env_file#-}"
umask_value="$(unit_value UMask)"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# The admin's way to move the listen address: /etc/default/pharos.
echo "PHAROS_LISTEN=127.0.0.1:$port" >>"$env_file"

# systemd's environment for a User= service, then Environment= lines, then the file.
environment=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
  HOME=/var/lib/pharos USER=pharos LOGNAME=pharos SHELL=/usr/sbin/nologin
  STATE_DIRECTORY=/var/lib/pharos CONFIGURATION_DIRECTORY=/etc/pharos)
while read -r assignment; do environment+=("$assignment"); done < <(unit_value Environment)
while read -r line; do
  case "$line" in '' | '#'*) continue ;; esac
  environment+=("$line")
done <"$env_file"

(
  cd /
  exec setpriv --reuid=pharos --regid=pharos --init-groups --no-new-privs \
    --inh-caps=-all --bounding-set=-all \
    /bin/sh -c 'umask "$0"; exec "$@"' "$umask_value" \
    env -i "${environment[@]}" "${exec_start[@]}"
) >"$log" 2>&1 &
pid=$!

ready=""
for _ in $(seq 1 120); do
  kill -0 "$pid" 2>/dev/null || fail "pharos exited at start"
  if /usr/bin/pharos health --ready --url "http://127.0.0.1:$port" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.5
done
[ -n "$ready" ] || fail "pharos health --ready never passed"
code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready")"
[ "$code" = 200 ] || fail "/health/ready answered $code"
ok "started as the unit would (ExecStart, /etc/default/pharos's PHAROS_LISTEN): /health/ready 200"

[ "$(ps -o user= -p "$pid")" = pharos ] || fail "pharos runs as $(ps -o user= -p "$pid")"
[ "$(awk '/^CapEff:/ { print $2 }' "/proc/$pid/status")" = 0000000000000000 ] || fail "pharos has capabilities"
[ "$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$pid/status")" = 1 ] || fail "no_new_privs is not set"
ok "runs as pharos, no capabilities, no new privileges"

[ "$(mode /var/lib/pharos/admin_token)" = "pharos:pharos 600" ] || fail "admin_token: $(mode /var/lib/pharos/admin_token)"
strangers="$(find /var/lib/pharos ! -user pharos)"
[ -z "$strangers" ] || fail "not owned by pharos: $strangers"
ok "the admin token (0600) and every file in /var/lib/pharos belong to pharos"

# ExecReload=/bin/kill -HUP $MAINPID
kill -HUP "$pid"
sleep 1
kill -0 "$pid" 2>/dev/null || fail "pharos exited on SIGHUP"
/usr/bin/pharos health --ready --url "http://127.0.0.1:$port" >/dev/null || fail "not ready after SIGHUP"
grep -qi "reload" "$log" || fail "no reload in the log after SIGHUP"
ok "SIGHUP (ExecReload) reloads; still ready"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || fail "pharos exited $status on SIGTERM"
ok "SIGTERM: clean exit"

# --- upgrade path: the same package again -------------------------------------------
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$work/dpkg-reinstall.log" 2>&1 ||
  fail "dpkg -i again: $(cat "$work/dpkg-reinstall.log")"
[ "$(id -u pharos)" = "$uid" ] || fail "the pharos user changed on reinstall"
[ -f /var/lib/pharos/admin_token ] || fail "reinstall lost the data"
grep -q "^PHAROS_LISTEN=127.0.0.1:$port" /etc/default/pharos || fail "reinstall replaced the edited /etc/default/pharos"
ok "reinstall (upgrade path) keeps the user, the data and the edited conffile"

# --- remove, then purge -----------------------------------------------------------
dpkg --remove pharos >"$work/dpkg-remove.log" 2>&1 || fail "dpkg --remove: $(cat "$work/dpkg-remove.log")"
[ ! -e /usr/bin/pharos ] && [ ! -e "$unit" ] || fail "remove left the binary or the unit"
[ -f /etc/pharos/pharos.yaml ] && [ -f /var/lib/pharos/admin_token ] && getent passwd pharos >/dev/null ||
  fail "remove took the config, the data or the user"
ok "remove: binary and unit gone; config, data and user kept"

dpkg --purge pharos >"$work/dpkg-purge.log" 2>&1 || fail "dpkg --purge: $(cat "$work/dpkg-purge.log")"
installed=""
[ ! -e /etc/pharos ] && [ ! -e /etc/default/pharos ] || fail "purge left /etc/pharos or /etc/default/pharos"
[ ! -e /var/lib/pharos ] || fail "purge left /var/lib/pharos"
! getent passwd pharos >/dev/null && ! getent group pharos >/dev/null || fail "purge left the pharos user or group"
[ ! -e /etc/systemd/system/multi-user.target.wants/pharos.service ] &&
  [ ! -e /etc/systemd/system/pharos.service ] || fail "purge left a systemd symlink or mask"
[ -d /var/backups/pharos ] || fail "purge deleted /var/backups/pharos"
ok "purge: config, data, user, group and systemd links gone; backups kept"

echo "packaging test: $passed passed, 0 failed"
