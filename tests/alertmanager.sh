#!/usr/bin/env bash
# tocsin against a real Prometheus Alertmanager (Debian's prometheus-alertmanager):
# two independent peers on loopback, one `alertmanager` webhook listing both,
# a TCP monitor on a closed port.  Both peers must list the firing alert with
# tocsin's labels; once the port answers, the recovery (endsAt = now) must
# resolve it in both; `tocsin test-webhook` must succeed against them.
# Exit 77 (skipped) when Alertmanager is not installed.
# Usage: alertmanager.sh <tocsin-binary> <source-dir>
set -euo pipefail

tocsin=${1:?usage: alertmanager.sh <tocsin-binary> <source-dir>}
am=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [ -z "$am" ]; then
    echo "skipped: prometheus-alertmanager is not installed"
    exit 77
fi
command -v python3 >/dev/null || { echo "FAIL: python3 needed" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-am.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# What peer $1 lists for monitor "db": "none", or "<state> <severity> <region>".
am_state() {
    python3 - "$1" <<'PY'
import json, sys, urllib.request
try:
    alerts = json.load(urllib.request.urlopen(
        "http://127.0.0.1:%s/api/v2/alerts" % sys.argv[1], timeout=5))
except Exception as e:
    print("error", e); sys.exit(0)
for a in alerts:
    l = a.get("labels", {})
    if l.get("alertname") == "TocsinMonitorDown" and l.get("monitor") == "db":
        print(a["status"]["state"], l.get("severity"), a.get("annotations", {}).get("region"))
        break
else:
    print("none")
PY
}

# wait_for PORT PATTERN: polls peer PORT (at most 30 s) until its answer matches.
wait_for() {
    local state=""
    for _ in $(seq 1 150); do
        state=$(am_state "$1")
        if grep -Eq "$2" <<<"$state"; then
            echo "$state"
            return 0
        fi
        sleep 0.2
    done
    echo "FAIL: peer $1 says \"$state\", expected /$2/" >&2
    return 1
}

cat >"$tmp/am.yml" <<'EOF'
route: {receiver: "null", group_wait: 1s}
receivers: [{name: "null"}]
EOF
am_ports=()
for i in 1 2; do
    port=$(free_port)
    "$am" --config.file="$tmp/am.yml" --storage.path="$tmp/am$i" \
        --web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
        >"$tmp/am$i.log" 2>&1 &
    pids+=($!)
    am_ports+=("$port")
done
for port in "${am_ports[@]}"; do
    for _ in $(seq 1 150); do
        python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/-/ready', timeout=2)" \
            2>/dev/null && break
        sleep 0.2
    done
done

db_port=$(free_port)
cat >"$tmp/tocsin.yaml" <<EOF
agent: {region: am-test, state_dir: $tmp/state, listen: ""}
webhooks:
  - name: am
    format: alertmanager
    urls: ["http://127.0.0.1:${am_ports[0]}", "http://127.0.0.1:${am_ports[1]}"]
policies: {default: {failure_threshold: 2, levels: [{level: 1, after: 2, notify: [am]}]}}
defaults: {interval: 200ms, timeout: 150ms}
monitors:
  - {id: db, name: Database, type: tcp, host: 127.0.0.1, port: $db_port}
EOF

"$tocsin" run -c "$tmp/tocsin.yaml" 2>"$tmp/tocsin.log" &
agent=$!
pids+=($agent)
for port in "${am_ports[@]}"; do
    state=$(wait_for "$port" "^active warning am-test$")
    echo "ok: peer $port lists the alert: $state"
done

# The port starts answering: the recovery resolves the alert in both peers.
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $db_port)); s.listen(64); time.sleep(60)" &
pids+=($!)
for port in "${am_ports[@]}"; do
    state=$(wait_for "$port" "^(none|resolved)")
    echo "ok: peer $port no longer fires it: $state"
done
grep -q 'event=recovery' "$tmp/tocsin.log" || { echo "FAIL: no recovery logged" >&2; exit 1; }
kill -TERM "$agent"
rc=0
wait "$agent" || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: tocsin exited $rc" >&2; exit 1; }

# test-webhook: a trigger then a resolve, both accepted by both peers.
out=$("$tocsin" test-webhook -c "$tmp/tocsin.yaml" am 2>&1) || {
    echo "FAIL: test-webhook: $out" >&2
    exit 1
}
echo "ok: test-webhook: $(head -1 <<<"$out")"
echo "all Alertmanager checks passed"
