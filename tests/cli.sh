#!/usr/bin/env bash
# The command line as a user meets it: version, --help, check-config (valid,
# invalid with FILE:LINE:COL diagnostics, INI) and `probe` exit codes and --json.
# Usage: cli.sh <tocsin-binary> <source-dir>
# Needs python3 or node for a loopback TCP listener and to parse JSON.
set -euo pipefail

tocsin=${1:?usage: cli.sh <tocsin-binary> <source-dir>}
src=${2:?usage: cli.sh <tocsin-binary> <source-dir>}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-cli.XXXXXX")
listener_pid=

cleanup() {
    if [ -n "$listener_pid" ]; then
        kill "$listener_pid" 2>/dev/null || true
        wait "$listener_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
pass() {
    echo "ok: $*"
}

# Runs the binary with a bound on its time; prints nothing, sets $rc, $out, $err.
run() {
    rc=0
    timeout 30 "$tocsin" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}

# expect_rc CODE DESCRIPTION -- ARGS...
expect_rc() {
    local want=$1 what=$2
    shift 3
    run "$@"
    if [ "$rc" -eq "$want" ]; then
        pass "$what (exit $rc)"
    else
        fail "$what: exit $rc, expected $want"
        sed 's/^/  stdout: /' "$tmp/out" >&2
        sed 's/^/  stderr: /' "$tmp/err" >&2
    fi
}

if command -v python3 >/dev/null 2>&1; then
    helper=python3
elif command -v node >/dev/null 2>&1; then
    helper=node
else
    echo "FAIL: neither python3 nor node found (needed for a TCP listener and JSON)" >&2
    exit 1
fi

# A loopback port nothing listens on: bound by the kernel, then released.
closed_port() {
    if [ "$helper" = python3 ]; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
    else
        node -e 'const s=require("net").createServer(); s.listen(0,"127.0.0.1",()=>{console.log(s.address().port); s.close()})'
    fi
}

# A listener that accepts and closes; it writes its own port to $1 (no race
# between picking a free port and binding it).
start_listener() {
    if [ "$helper" = python3 ]; then
        python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept()
    c.close()
' "$1" &
    else
        node -e '
const s = require("net").createServer(c => c.destroy());
s.listen(0, "127.0.0.1", () => require("fs").writeFileSync(process.argv[1], String(s.address().port)));
' "$1" &
    fi
    listener_pid=$!
    for _ in $(seq 100); do # at most 10 s
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    echo "FAIL: the loopback listener did not start" >&2
    exit 1
}

# Checks every line of $1 is one JSON object with the keys of `probe --json`.
check_json_lines() {
    if [ "$helper" = python3 ]; then
        python3 -c '
import json, sys
keys = ["monitor", "region", "status", "error_kind", "error_message", "status_code",
        "response_time_ms", "timings"]
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no output"
for line in lines:
    o = json.loads(line)
    assert isinstance(o, dict), line
    missing = [k for k in keys if k not in o]
    assert not missing, "missing %s in %s" % (missing, line)
    assert isinstance(o["timings"], dict), line
    assert isinstance(o["response_time_ms"], int), line
print(len(lines))
' "$1"
    else
        node -e '
const keys = ["monitor", "region", "status", "error_kind", "error_message", "status_code",
              "response_time_ms", "timings"];
const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(l => l);
if (!lines.length) throw new Error("no output");
for (const line of lines) {
    const o = JSON.parse(line);
    const missing = keys.filter(k => !(k in o));
    if (missing.length) throw new Error("missing " + missing + " in " + line);
    if (typeof o.timings !== "object" || !Number.isInteger(o.response_time_ms)) throw new Error(line);
}
console.log(lines.length);
' "$1"
    fi
}

# ---- version and --help ------------------------------------------------------

version=$(sed -n 's/^project(tocsin VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
run version
if [ "$rc" -eq 0 ] && grep -q "^tocsin $version\b" <<<"$out"; then
    pass "version prints $version"
else
    fail "tocsin version: exit $rc, output '$out', expected 'tocsin $version'"
fi

expect_rc 0 "tocsin --help" -- --help
for cmd in run check-config probe; do
    expect_rc 0 "tocsin $cmd --help" -- "$cmd" --help
    grep -q "usage: tocsin $cmd" <<<"$out" || fail "tocsin $cmd --help prints no usage"
done

# ---- check-config ------------------------------------------------------------

export TOCSIN_DEMO_SECRET=cli-test-secret
expect_rc 0 "check-config on etc/tocsin.example.yaml" -- check-config -c "$src/etc/tocsin.example.yaml"
# The installed config and its INI form: valid with no environment at all.
for shipped in tocsin.yaml tocsin.ini; do
    rc=0
    env -i "$tocsin" check-config -c "$src/etc/$shipped" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] && grep -q ": ok (" "$tmp/out"; then
        pass "check-config on etc/$shipped with env -i"
    else
        fail "check-config on etc/$shipped with env -i: exit $rc: $(cat "$tmp/out" "$tmp/err")"
    fi
done

cat >"$tmp/bad.yaml" <<'EOF'
monitors:
  - id: api
    type: http
    url: http://127.0.0.1:9/health
    intervl: 30s
    timeout: 5x
EOF
expect_rc 2 "check-config with a misspelt key and a bad duration" -- check-config -c "$tmp/bad.yaml"
grep -q "bad.yaml:5:[0-9]*: .*intervl.*did you mean \"interval\"" "$tmp/err" ||
    fail "no FILE:5:COL: diagnostic for the misspelt key in: $err"
grep -q "bad.yaml:6:[0-9]*: .*5x" "$tmp/err" ||
    fail "no FILE:6:COL: diagnostic for the bad duration in: $err"

cat >"$tmp/ok.ini" <<'EOF'
; one monitor, one webhook
[webhook y]
url = http://127.0.0.1:9/hooks

[monitor x]
type = tcp
host = 127.0.0.1
port = 9
EOF
expect_rc 0 "check-config on an INI file with a monitor and a webhook" -- check-config -c "$tmp/ok.ini"

# ---- probe -------------------------------------------------------------------

start_listener "$tmp/port"
up_port=$(cat "$tmp/port")
down_port=$(closed_port)
cat >"$tmp/probe.yaml" <<EOF
agent: {region: cli}
defaults: {interval: 5s, timeout: 2s}
monitors:
  - {id: up, type: tcp, host: 127.0.0.1, port: $up_port}
  - {id: down, type: tcp, host: 127.0.0.1, port: $down_port}
EOF

expect_rc 0 "probe of an open TCP port" -- probe -c "$tmp/probe.yaml" up
expect_rc 1 "probe of a closed TCP port" -- probe -c "$tmp/probe.yaml" down
grep -qi "refused" <<<"$out" || fail "probe of a closed port does not say refused: $out"
expect_rc 2 "probe of an unknown monitor id" -- probe -c "$tmp/probe.yaml" nosuch
expect_rc 2 "probe with a bad config" -- probe -c "$tmp/bad.yaml"

expect_rc 1 "probe --json of both" -- probe --json -c "$tmp/probe.yaml" up down
if n=$(check_json_lines "$tmp/out") && [ "$n" -eq 2 ]; then
    pass "probe --json prints one object per check with the result keys"
else
    fail "probe --json output: $out"
fi

# ---- outbox --------------------------------------------------------------------

# A webhook nobody listens on, no retries: the incident becomes a dead letter.
hook_port=$(closed_port)
cat >"$tmp/outbox.yaml" <<EOF
agent: {region: cli, state_dir: $tmp/state, listen: "127.0.0.1:0"}
webhooks:
  - {name: nobody, url: "http://127.0.0.1:$hook_port/hook", secret: s, retries: 0}
defaults: {interval: 200ms, timeout: 100ms}
monitors:
  - {id: down, type: tcp, host: 127.0.0.1, port: $down_port}
EOF
timeout -s INT 4 "$tocsin" run -c "$tmp/outbox.yaml" 2>"$tmp/run.log" || true
if grep -q "kept as a dead letter" "$tmp/run.log"; then
    pass "run keeps an undeliverable alert as a dead letter"
else
    fail "no dead letter in the agent's log: $(tail -3 "$tmp/run.log")"
fi
expect_rc 0 "outbox list" -- outbox list -c "$tmp/outbox.yaml"
if grep -Eq "nobody +down +incident +dead +1 " <<<"$out"; then
    pass "outbox list shows the dead incident"
else
    fail "outbox list: $out"
fi
expect_rc 0 "outbox retry --all" -- outbox retry -c "$tmp/outbox.yaml" --all
expect_rc 0 "outbox list after retry" -- outbox list -c "$tmp/outbox.yaml"
if grep -Eq "nobody +down +incident +pending +0 " <<<"$out"; then
    pass "retry makes it pending again"
else
    fail "outbox list after retry: $out"
fi
expect_rc 1 "outbox purge of a row that is not dead" -- outbox purge -c "$tmp/outbox.yaml" 1
expect_rc 2 "outbox retry without a selection" -- outbox retry -c "$tmp/outbox.yaml"

# ---- the running agent's API ----------------------------------------------------

# Prints the body of GET URL (or "HTTP <code>" then the body for an error answer).
http_get() {
    if [ "$helper" = python3 ]; then
        python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode(), end="")
except urllib.error.HTTPError as e:
    print("HTTP %d" % e.code); print(e.read().decode(), end="")
PY
    else
        node -e 'require("http").get(process.argv[1], r => { let b = ""; r.on("data", d => b += d);
          r.on("end", () => process.stdout.write((r.statusCode == 200 ? "" : "HTTP " + r.statusCode + "\n") + b)); })' "$1"
    fi
}

api_port=$(closed_port)
cat >"$tmp/api.yaml" <<EOF
agent: {region: cli, state_dir: $tmp/api-state, listen: "127.0.0.1:$api_port"}
webhooks:
  - {name: nobody, url: "http://127.0.0.1:$hook_port/hook", secret: s, retries: 0}
defaults: {interval: 200ms, timeout: 100ms}
monitors:
  - {id: down, type: tcp, host: 127.0.0.1, port: $down_port}
EOF
"$tocsin" run -c "$tmp/api.yaml" 2>"$tmp/api.log" &
agent_pid=$!
# Up to 60 s: CI runs this with the agent under valgrind, on a host that may be busy.
for _ in $(seq 1 600); do
    grep -q "kept as a dead letter" "$tmp/api.log" && break
    kill -0 "$agent_pid" 2>/dev/null || break
    sleep 0.1
done
expect_rc 0 "outbox list while the agent runs (through its API)" -- outbox list -c "$tmp/api.yaml"
if grep -Eq "nobody +down +incident +dead +1 " <<<"$out"; then
    pass "the API lists the agent's dead letter"
else
    fail "outbox list through the API: $out"
fi
metrics=$(http_get "http://127.0.0.1:$api_port/metrics")
if grep -q '^tocsin_monitor_up{monitor="down"} 0$' <<<"$metrics" &&
   grep -q '^tocsin_dead_letters 1$' <<<"$metrics"; then
    pass "/metrics shows the monitor DOWN and one dead letter"
else
    fail "/metrics: $(grep -E 'monitor_up|dead_letters' <<<"$metrics")"
fi
health=$(http_get "http://127.0.0.1:$api_port/healthz")
if [ "$health" = "ok" ]; then pass "/healthz ok"; else fail "/healthz: $health"; fi
expect_rc 0 "outbox purge --all through the API" -- outbox purge -c "$tmp/api.yaml" --all
if grep -q "^1 dead letters purged" <<<"$out"; then
    pass "the running agent purged its dead letter"
else
    fail "outbox purge through the API: $out"
fi
expect_rc 1 "outbox retry of an unknown id through the API" -- outbox retry -c "$tmp/api.yaml" 999
expect_rc 0 "outbox list after the purge" -- outbox list -c "$tmp/api.yaml"
if grep -q "^0 deliveries" <<<"$out"; then pass "nothing left after the purge"; else fail "after purge: $out"; fi
kill -TERM "$agent_pid"
agent_rc=0
wait "$agent_pid" || agent_rc=$?
if [ "$agent_rc" -eq 0 ]; then pass "SIGTERM: exit 0"; else fail "agent exit $agent_rc after SIGTERM"; fi

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all CLI checks passed"
