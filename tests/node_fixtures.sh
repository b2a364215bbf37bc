#!/usr/bin/env bash
# Every webhook fixture of every format must survive JSON.stringify(JSON.parse(body))
# unchanged, and the signatures stored beside it (NAME.sig, NAME.headers) must pass
# each vendor's own Node.js validator and the Standard Webhooks spec (plus the
# `standardwebhooks` npm package when it can be required, e.g. via NODE_PATH).
# Usage: node_fixtures.sh <tocsin-binary> <source-dir>   (the binary is unused)
set -euo pipefail

src=${2:?usage: node_fixtures.sh <tocsin-binary> <source-dir>}
node=${NODE:-node}

if ! command -v "$node" >/dev/null 2>&1; then
    if [ "${TOCSIN_SKIP_NODE:-}" = 1 ]; then
        echo "SKIP: node not found (TOCSIN_SKIP_NODE=1)"
        exit 0
    fi
    echo "FAIL: node not found; install Node.js or set TOCSIN_SKIP_NODE=1" >&2
    exit 1
fi

echo "node $("$node" --version): checking $src/tests/fixtures/*/"
exec "$node" "$src/tests/node/check_fixtures.js" "$src/tests/fixtures"
