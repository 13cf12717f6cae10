#!/usr/bin/env bash
# `npm test`: typecheck, every test (tap; extra arguments go to tap), then lint and formatting.
# All three always run, so one formatting slip cannot hide the test results; any failure fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
npx tsc -p tsconfig.json --noEmit || { echo "typecheck failed" >&2; rc=1; }
npx tap "$@" || rc=1
npx biome check . || { echo "lint failed (npx biome check --write . fixes formatting)" >&2; rc=1; }
exit "$rc"
