#!/usr/bin/env bash
# The man pages and the shipped config against the code: tocsin.8 and
# tocsin.yaml.5 pass `mandoc -Tlint -W warning` with no output at all; every
# command and option the binary's --help lists is in tocsin.8; every key the
# config decoder accepts (its directive tables in src/config/decode*.c) is
# described in tocsin.yaml.5 (top-level keys and agent.* in their sections)
# and shown by example in etc/tocsin.yaml.
# Usage: man.sh <tocsin-binary> <source-dir>.  Exit 77 (skipped) without mandoc.
set -euo pipefail

tocsin=${1:?usage: man.sh <tocsin-binary> <source-dir>}
src=${2:?usage: man.sh <tocsin-binary> <source-dir>}
page8=$src/docs/man/tocsin.8
page5=$src/docs/man/tocsin.yaml.5
shipped=$src/etc/tocsin.yaml

if ! command -v mandoc >/dev/null 2>&1; then
    echo "SKIP: mandoc is not installed"
    exit 77
fi

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# ---- lint --------------------------------------------------------------------
lint=$(mandoc -Tlint -W warning "$page8" "$page5" 2>&1) || true
if [ -n "$lint" ]; then
    fail "mandoc -Tlint -W warning reports:"
    printf '%s\n' "$lint" >&2
else
    echo "ok: mandoc -Tlint -W warning is silent on both pages"
fi
for page in "$page8" "$page5"; do
    mandoc -Tutf8 "$page" >/dev/null 2>&1 || fail "mandoc -Tutf8 $page failed"
done

# ---- tocsin.8: commands and options -----------------------------------------
commands=$("$tocsin" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[ -n "$commands" ] || fail "no commands found in 'tocsin --help'"
for cmd in $commands; do
    grep -Eq "^\.(It )?Cm $cmd( |$)" "$page8" || fail "tocsin.8 does not describe the command '$cmd'"
done
for sub in $("$tocsin" outbox --help | grep -o 'tocsin outbox [a-z]*' | awk '{ print $3 }' | sort -u); do
    grep -Eq "^\.(It )?Cm outbox $sub( |$)" "$page8" ||
        fail "tocsin.8 does not describe 'tocsin outbox $sub'"
done
for cmd in $commands; do
    [ "$cmd" = version ] && continue
    "$tocsin" "$cmd" --help 2>/dev/null
done | grep -oE -- '(^| )-[a-z], --[a-z-]+' | sort -u | while read -r short long; do
    short=${short%,}
    grep -Eq "Fl ${short#-}( |$)" "$page8" || echo "$short"
    grep -Eq "Fl \\\\-${long#--}( |$)" "$page8" || echo "$long"
done >"${TMPDIR:-/tmp}/tocsin-man-opts.$$"
while read -r opt; do
    fail "tocsin.8 does not describe the option $opt"
done <"${TMPDIR:-/tmp}/tocsin-man-opts.$$"
rm -f "${TMPDIR:-/tmp}/tocsin-man-opts.$$"
echo "ok: checked tocsin.8 against the commands and options of --help: $(echo $commands)"

# ---- tocsin.yaml.5 and etc/tocsin.yaml: config keys -------------------------
# The keys of one directive table: lines like { "key", handler, FLAGS },
table_keys() { # FILE TABLE
    awk -v t="$2" '$0 ~ t "\\[\\] = \\{" { on = 1; next } on && /^};/ { on = 0 } on' "$1" |
        grep -oE '\{ *"[a-z_]+"' | tr -d '{" '
}
section() { # PAGE NAME: the lines of ".Sh NAME" up to the next .Sh
    awk -v s=".Sh $2" '$0 == s { on = 1; next } /^\.Sh / { on = 0 } on' "$1"
}
top=$(table_keys "$src/src/config/decode.c" top_table)
agent=$(table_keys "$src/src/config/decode_agent.c" agent_table)
all=$(cat "$src"/src/config/decode*.c | grep -oE '\{ *"[a-z_]+", *[a-z_]+, *[A-Z_0-9|]+ *\}' |
    grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
[ "$(echo "$top" | wc -w)" -ge 6 ] || fail "found only '$top' in top_table of src/config/decode.c"
[ "$(echo "$agent" | wc -w)" -ge 8 ] || fail "found only '$agent' in agent_table of decode_agent.c"
[ "$(echo "$all" | wc -w)" -ge 60 ] || fail "found only $(echo "$all" | wc -w) keys in src/config"
for key in $top; do
    section "$page5" DESCRIPTION | grep -Eq "^\.It Cm $key( |$)" ||
        fail "tocsin.yaml.5 DESCRIPTION does not list the top-level key '$key'"
done
for key in $agent; do
    section "$page5" AGENT | grep -Eq "^\.It Cm $key( |$)" ||
        fail "tocsin.yaml.5 AGENT does not describe agent.$key"
done
for key in $all; do
    grep -Eq "^\.It (.* )?Cm $key( |$)" "$page5" || fail "tocsin.yaml.5 does not describe '$key'"
    grep -Eq "(^|[ {#,])$key:" "$shipped" || fail "etc/tocsin.yaml shows no example of '$key'"
done
echo "ok: checked tocsin.yaml.5 and etc/tocsin.yaml against $(echo "$all" | wc -w) keys of src/config"

if [ "$failures" -ne 0 ]; then
    echo "$failures man page checks failed" >&2
    exit 1
fi
echo "all man page checks passed"
