#!/usr/bin/env bash
# `npm test`: typecheck, every test (tap; extra arguments go to tap), the leak check, then lint and
# formatting. All always run, so one formatting slip cannot hide the test results; any failure fails
# the run. The leak check (scripts/leak-check.ts) compares the host after the tests with a baseline
# taken before them and names every domain, QEMU process, bridge, namespace, nft table, tgtd target
# or daemon the tests left behind.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
baseline=$(mktemp /tmp/stratus-leak-baseline.XXXXXX)
trap 'rm -f "$baseline"' EXIT
npx tsx scripts/leak-check.ts snapshot "$baseline" || { echo "leak check: cannot take the baseline" >&2; rc=1; }
npx tsc -p tsconfig.json --noEmit || { echo "typecheck failed" >&2; rc=1; }
npx tap "$@" || rc=1
npx tsx scripts/leak-check.ts compare "$baseline" || rc=1
npx biome check . || { echo "lint failed (npx biome check --write . fixes formatting)" >&2; rc=1; }
exit "$rc"
