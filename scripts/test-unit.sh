#!/usr/bin/env bash
# `npm run test:unit`: the tests that need no root, no network and no change to the host (pure code,
# SQLite in temporary directories, in-process servers on 127.0.0.1), in well under a minute. A test joins
# this tier by declaring itself: a line `// tier: unit` among its header comments, so files keep the tier
# when they move. `npm test` still runs every test, these included. Extra arguments go to tap.
# In this tier STRATUS_TEST_TIER=unit, and the helpers that need root or host daemons (libvirtd, tgtd,
# mosquitto, network namespaces, agents, the test guest) refuse to start (test/helpers/tier.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(grep -rlx --include='*.test.ts' '// tier: unit' test | sort)
if [ ${#files[@]} -eq 0 ]; then
  echo "test:unit: no test declares '// tier: unit'" >&2
  exit 1
fi
export STRATUS_TEST_TIER=unit
exec npx tap --jobs=2 "$@" "${files[@]}"
