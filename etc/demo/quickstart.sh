#!/usr/bin/env bash
# The README quick start: on a fresh Debian 12 machine, installs what is missing,
# builds tocsin, starts a local flappy HTTP target (etc/demo/target.js) and a
# local webhook receiver that verifies every signature (etc/demo/receiver.js),
# and runs `tocsin run -c etc/tocsin.example.yaml` for about 20 seconds: you see
# the checks, the target going down, one signed incident, the recovery.
set -euo pipefail
cd "$(dirname "$0")/../.."
source packaging/deps.sh
tocsin_install_deps build demo

cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOCSIN_TESTS=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" >/dev/null
echo "built: $(build/demo/tocsin version)"
build/demo/tocsin check-config -c etc/tocsin.example.yaml 2>/dev/null ||
  TOCSIN_DEMO_SECRET=x build/demo/tocsin check-config -c etc/tocsin.example.yaml

export TOCSIN_DEMO_SECRET="demo-secret-$RANDOM$RANDOM"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT
# Process substitution keeps $! the node process itself, so the trap stops it.
node etc/demo/receiver.js 9977 > >(sed -u 's/^/[receiver] /') 2>&1 &
pids+=($!)
node etc/demo/target.js 4 8 9978 > >(sed -u 's/^/[target]   /') 2>&1 &
pids+=($!)
sleep 1

echo "[tocsin]   running for 20 s on etc/tocsin.example.yaml (Ctrl-C stops it sooner)"
build/demo/tocsin run -c etc/tocsin.example.yaml > >(sed -u 's/^/[tocsin]   /') 2>&1 &
agent=$!
sleep 19
# The agent's own view, from its HTTP API (agent.listen).
node -e 'require("http").get("http://127.0.0.1:9966/api/v1/status", r => { let b = "";
  r.on("data", d => b += d); r.on("end", () => console.log("[status]   " + b)); })
  .on("error", e => console.log("[status]   " + e.message))'
sleep 1
kill -INT "$agent" 2>/dev/null || true
wait "$agent" || true
sleep 0.2
echo
echo "Above: checks running, the target turning 503, one signed incident delivered and"
echo "verified by the receiver, then the recovery; [status] is GET /api/v1/status on the agent."
echo "Edit etc/tocsin.example.yaml to try more (while it runs, http://127.0.0.1:9966/status is the status page, /metrics the metrics)."
