#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for a bounded time (CI: .ci/run).
#
#   bash tests/fuzz/run.sh [SECONDS-PER-TARGET] [TARGET...]   (default 30, all targets)
#
# Builds build/fuzz with clang (-DTOCSIN_FUZZ=ON) when needed, then runs each
# target on a scratch copy of its committed corpus plus its regressions (the
# committed corpus never grows here), with a generated 1 MB hostile seed for the
# formats target.  Fails when any target finds a crash, leak, timeout or OOM; the
# reproducer is left in build/fuzz/artifacts/TARGET/.  One summary line per
# target: executions, exec/s, coverage and features from libFuzzer's last line.
# Environment: TOCSIN_FUZZ_BUILD (build dir), TOCSIN_FUZZ_KEEP=1 (keep the scratch
# corpora, e.g. to merge new inputs by hand with -merge=1).
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(yaml ini values formats)
build=${TOCSIN_FUZZ_BUILD:-$src/build/fuzz}
fuzz=$src/tests/fuzz

if ! command -v clang >/dev/null; then
  echo "fuzz: clang is not installed (apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang cmake -S "$src" -B "$build" -DTOCSIN_FUZZ=ON -DTOCSIN_TESTS=OFF -DTOCSIN_WERROR=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-fuzz.XXXXXX")
if [ "${TOCSIN_FUZZ_KEEP:-0}" != 1 ]; then
  trap 'rm -rf "$work"' EXIT
else
  echo "fuzz: scratch corpora in $work"
fi

# A header (fuzz_formats.c) then a 1 MiB monitor name of quotes, backslashes,
# control characters, RTL marks and invalid UTF-8: the body is over the 1 MB
# limit and must be refused with -EFBIG, never cut or overflowed.
make_big_formats_seed() {
  python3 - "$1" <<'PY'
import sys
unit = '"\\\x01\x1f\u202e\U0001F525 '.encode() + b'\xff\xc3('
name = (unit * (1048576 // len(unit) + 1))[:1048576]
hdr = bytes([32, 2, 5, 3, 1, 0, 0x0F, 0, 0, 0, 0, 0])
open(sys.argv[1], 'wb').write(hdr + name + b'\0mon_api\0' + b'x' * 600 + b'\0https://e.x/\0eu\0ops\0s')
PY
}

status=0
for t in "${targets[@]}"; do
  corpus=$work/$t
  artifacts=$build/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  cp "$fuzz/corpus/$t/." "$corpus/" -R
  cp "$fuzz/regressions/$t/." "$corpus/" -R 2>/dev/null || true
  opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  case $t in
    formats)
      # The big seeds (1-2 MiB bodies, ~0.1-1 s each) run once here, plus a
      # generated 1 MiB name; fuzzing goes on from the small seeds only, or the
      # big ones' offspring would take most of the time (the header still
      # reaches blow-ups by mutation, just rarely).
      make_big_formats_seed "$corpus/big_name_1mib_generated"
      rc=0
      "$build/tests/fuzz/fuzz_$t" -runs=0 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/" \
        "$corpus" </dev/null >"$work/$t.big.log" 2>&1 || rc=$?
      if [ "$rc" -ne 0 ]; then
        echo "fuzz_$t: FAILED (exit $rc) on the big seeds; reproducer in $artifacts:" >&2
        tail -25 "$work/$t.big.log" >&2
        status=1
        continue
      fi
      rm -f "$corpus"/big_*
      opts+=(-max_len=16384) ;;
    values) opts+=(-max_len=512 -dict="$fuzz/values.dict") ;;
    yaml) opts+=(-max_len=8192 -dict="$fuzz/yaml.dict") ;;
    ini) opts+=(-max_len=8192 -dict="$fuzz/ini.dict") ;;
  esac
  log=$work/$t.log
  rc=0
  (cd "$artifacts" && "$build/tests/fuzz/fuzz_$t" "${opts[@]}" "$corpus" </dev/null >"$log" 2>&1) || rc=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} runs; reproducer in $artifacts:" >&2
    grep -E 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error|check failed|SUMMARY' \
      "$log" | head -5 >&2 || true
    tail -25 "$log" >&2
  else
    echo "fuzz_$t: ok ${secs}s runs=${execs:-?} exec/s=${speed:-?} cov=${cov:-?} ft=${ft:-?}"
  fi
done
exit $status
