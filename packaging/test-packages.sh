#!/usr/bin/env bash
# packaging/test-packages.sh: checks the packages packaging/build put in dist/.
#
# The deb is installed on this machine (root, or through sudo), checked, then
# removed and purged: the user, the state directory and the conffile's modes,
# `tocsin check-config` of the installed config run as the tocsin user, the unit
# (systemd-analyze verify), the man pages; remove keeps the config, purge
# leaves neither config nor state (the admin's files included) and keeps the
# user.  Where systemd runs as PID 1 the service's state is reported (a
# warning, not a failure: the machines this was written on have no systemd as
# PID 1, so the hardened unit under a real systemd is checked by hand, see
# docs/operations.md; the agent's sd_notify side is tested by tests/ops.sh).
# The rpm is not installed (Debian has no rpm database to install into); its
# payload, conffile flags and scriptlets are checked with rpm -qp.
# CI (.ci/run) runs it after `packaging/build deb` and `packaging/build rpm`.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
ok() { echo "ok: $*"; }
# $1: what, rest: the command that must succeed.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

deb=$(ls dist/tocsin_*_*.deb 2>/dev/null | head -1 || true)
rpm=$(ls dist/tocsin-[0-9]*.rpm 2>/dev/null | grep -v '\.src\.rpm$' | head -1 || true)
[ -n "$deb" ] || { echo "no dist/tocsin_*.deb: run packaging/build deb first" >&2; exit 1; }
[ -n "$rpm" ] || { echo "no dist/tocsin-*.rpm: run packaging/build rpm first" >&2; exit 1; }

# Starts from a machine without tocsin (a leftover from an earlier run is purged).
if dpkg-query -W -f='${Status}' tocsin 2>/dev/null | grep -q "ok installed\|config-files"; then
  $sudo dpkg --purge tocsin >/dev/null
fi

systemd_up=false
[ -d /run/systemd/system ] && systemd_up=true

echo "== deb: install $(basename "$deb")"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "./$deb" >/dev/null

mode_of() { stat -c '%U:%G %a' "$1"; }
check "/usr/bin/tocsin runs" /usr/bin/tocsin --version
check "system user tocsin" bash -c 'uid=$(id -u tocsin) && [ "$uid" -lt 1000 ] &&
  case $(getent passwd tocsin | cut -d: -f7) in */nologin|*/false) true ;; *) false ;; esac'
check "/var/lib/tocsin is tocsin:tocsin 0750" test "$(mode_of /var/lib/tocsin)" = "tocsin:tocsin 750"
check "/etc/tocsin/tocsin.yaml is root:tocsin 0640" test "$(mode_of /etc/tocsin/tocsin.yaml)" = "root:tocsin 640"
check "/etc/tocsin/probes.d/ exists" test -d /etc/tocsin/probes.d
check "tocsin.yaml is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' tocsin | grep -q ' /etc/tocsin/tocsin.yaml '"
check "check-config of the installed config as user tocsin" \
  $sudo setpriv --reuid=tocsin --regid=tocsin --init-groups /usr/bin/tocsin check-config -c /etc/tocsin/tocsin.yaml
unit=$(dpkg -L tocsin | grep '/systemd/system/tocsin.service$' || true)
check "unit installed" test -n "$unit"
if command -v systemd-analyze >/dev/null; then
  # verify also checks that ExecStart= binaries exist, so it runs on the installed unit.
  check "systemd-analyze verify $unit" bash -c "out=\$(systemd-analyze verify '$unit' 2>&1); echo \"\$out\"; [ -z \"\$out\" ]"
fi
for page in /usr/share/man/man8/tocsin.8.gz /usr/share/man/man5/tocsin.yaml.5.gz; do
  check "man page $page" test -s "$page"
done
if command -v man >/dev/null; then
  check "man tocsin renders" bash -c 'MANPAGER=cat man -l /usr/share/man/man8/tocsin.8.gz 2>/dev/null | grep -q "check-config"'
fi
if $systemd_up; then
  # The packaged config probes the agent's own HTTP server: it must come up.
  active=false
  for _ in $(seq 1 30); do
    if systemctl is-active --quiet tocsin; then active=true; break; fi
    sleep 0.5
  done
  if $active; then ok "tocsin.service active"; else
    echo "WARN: tocsin.service not active" >&2
    systemctl status --no-pager tocsin || true
    journalctl -u tocsin --no-pager -n 30 || true
  fi
else
  echo "skip: systemd is not PID 1 here, the service is not started"
fi

echo "== deb: remove, then purge"
# The admin's own files: purge must remove them too.
echo "monitors: []" | $sudo tee /etc/tocsin/probes.d/local.yaml >/dev/null
$sudo touch /var/lib/tocsin/state.db
$sudo dpkg --remove tocsin >/dev/null
check "remove: binary gone" test ! -e /usr/bin/tocsin
check "remove: config kept" test -f /etc/tocsin/tocsin.yaml
$sudo dpkg --purge tocsin >/dev/null
check "purge: /etc/tocsin gone" test ! -e /etc/tocsin
check "purge: /var/lib/tocsin gone" test ! -e /var/lib/tocsin
check "purge: package unknown to dpkg" bash -c '! dpkg-query -W -f="\${Status}" tocsin 2>/dev/null | grep -q .'
check "purge: user kept (Debian keeps system users)" getent passwd tocsin

echo "== rpm: $(basename "$rpm")"
files=$(rpm -qlp "$rpm" 2>/dev/null)
for f in /usr/bin/tocsin /usr/lib/systemd/system/tocsin.service /etc/tocsin/tocsin.yaml \
  /etc/tocsin/probes.d /usr/share/man/man8/tocsin.8 /usr/share/man/man5/tocsin.yaml.5 /var/lib/tocsin; do
  check "rpm has $f" grep -qx "$f\(\.gz\)\?" <<<"$files"
done
# FILEFLAGS: c = %config, n = noreplace.
check "rpm: tocsin.yaml is %config(noreplace) root:tocsin 0640" bash -c \
  "rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEMODES:octal} %{FILENAMES}\n]' '$rpm' 2>/dev/null |
   grep -q '^cn root:tocsin 100640 /etc/tocsin/tocsin.yaml$'"
check "rpm: /var/lib/tocsin is tocsin:tocsin 0750" bash -c \
  "rpm -qp --qf '[%{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEMODES:octal} %{FILENAMES}\n]' '$rpm' 2>/dev/null |
   grep -q '^tocsin:tocsin 40750 /var/lib/tocsin$'"
scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
check "rpm: %pre creates the user" grep -q 'useradd -r' <<<"$scripts"
check "rpm: systemd scriptlets" bash -c "grep -q 'preset tocsin.service' <<<\"\$0\" && grep -q 'disable --now tocsin.service' <<<\"\$0\" &&
  grep -q 'try-restart tocsin.service' <<<\"\$0\"" "$scripts"
# The binary in the rpm is the same program: it runs here and validates the config.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && rpm2cpio "$OLDPWD/$rpm" | cpio -idm --quiet)
check "rpm: its tocsin validates its tocsin.yaml" "$tmp/usr/bin/tocsin" check-config -c "$tmp/etc/tocsin/tocsin.yaml"

if [ "$failures" -ne 0 ]; then
  echo "packages: $failures check(s) failed" >&2
  exit 1
fi
echo "packages: all checks passed"
