#!/usr/bin/env bash
# Hostile targets against the real binary on loopback (DESIGN §4, §6): 1,000
# monitors of targets that hang, trickle (slowloris), reset, stream an endless
# body or fail TLS, beside 100 healthy monitors that must keep their schedule;
# the agent's RSS and open files stay bounded and SIGTERM exits 0:
# tests/hostile.py.  About 30 s; exit 77: no python3 or no openssl.
# Usage: hostile.sh <tocsin-binary> <source-dir> [hostile.py options]
set -euo pipefail
command -v python3 >/dev/null || { echo "skipped: python3 not found"; exit 77; }
command -v openssl >/dev/null || { echo "skipped: openssl not found"; exit 77; }
bin="${1:?usage: hostile.sh <tocsin-binary> <source-dir>}"
src="${2:?usage: hostile.sh <tocsin-binary> <source-dir>}"
shift 2
# The script bounds every wait; this only stops a hang.
exec timeout -k 10 200 python3 "$src/tests/hostile.py" "$bin" "$src" "$@"
