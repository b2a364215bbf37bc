#!/usr/bin/env bash
# The agent as an SRE runs it (sd_notify, HTTP API, logs, secrets, signals,
# sharding): tests/ops.py against the real binary.  Exit 77: no python3.
# Usage: ops.sh <tocsin-binary> <source-dir>
set -euo pipefail
command -v python3 >/dev/null || { echo "skipped: python3 not found"; exit 77; }
exec timeout 240 python3 "${2:?usage: ops.sh <tocsin-binary> <source-dir>}/tests/ops.py" "$1" "$2"
