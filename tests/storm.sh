#!/usr/bin/env bash
# Alert storms against the real binary on loopback (DESIGN §5): 2,000 monitors
# DOWN at once with kill -9 mid-delivery and a restart, a receiver that refuses
# then answers 503, and the time 10,000 alerts take to reach the SQLite outbox
# (printed, never asserted): tests/storm.py.  About a minute; exit 77: no python3.
# Usage: storm.sh <tocsin-binary> <source-dir> [storm.py options]
set -euo pipefail
command -v python3 >/dev/null || { echo "skipped: python3 not found"; exit 77; }
bin="${1:?usage: storm.sh <tocsin-binary> <source-dir>}"
src="${2:?usage: storm.sh <tocsin-binary> <source-dir>}"
shift 2
# The script bounds every wait; this only stops a hang.
exec timeout -k 10 240 python3 "$src/tests/storm.py" "$bin" "$src" "$@"
