#!/usr/bin/env bash
# Alert storm timing: how long N monitors going DOWN at once take to become N
# incident rows in the SQLite outbox (durably queued), with the webhook's
# receiver refusing so nothing leaves the outbox.  Runs the queue phase of
# tests/storm.py (which also prints how many checks ran late or were skipped
# meanwhile) for each N, --rounds times.  Loopback only; never a ctest test.
#
#   bench/storm.sh                          # 2,500, 5,000 and 10,000 monitors, 3 rounds,
#                                           # at intervals of 1 s and 500 ms
#   bench/storm.sh --monitors 10000 --rounds 1 --interval 1000   # ms, a list runs each
#   bench/storm.sh --binary build/release/tocsin
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${TMPDIR:-/tmp}/tocsin-bench-build
BINARY=
MONITORS=2500,5000,10000
ROUNDS=3
INTERVALS=1000,500
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) BUILD=$2; shift 2 ;;
    --binary) BINARY=$2; shift 2 ;;
    --monitors) MONITORS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --interval) INTERVALS=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$BINARY" ]; then
  echo "building tocsin (Release) in $BUILD" >&2
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTOCSIN_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target tocsin >/dev/null
  BINARY=$BUILD/tocsin
fi
echo "host: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec python3 "$ROOT/tests/storm.py" "$BINARY" "$ROOT" --phases queue \
  --queue-monitors "$MONITORS" --queue-interval "$INTERVALS" --rounds "$ROUNDS" --queue-wait 180
