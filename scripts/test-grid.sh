#!/usr/bin/env bash
# The standalone RemoteControl and REST integration suites against a grid of
# two hosts (docs/grid.md, "Tests"): DISPATCHER_TEST_GRID=1 makes the test
# harness start PostgreSQL (dispatcher-pgtest), a host that owns the seeded
# region and the host the tests talk to, which forwards to it.
set -euo pipefail
cd "$(dirname "$0")/.."
DISPATCHER_TEST_GRID=1 cargo test -p dispatcher --test integration -- rc_ rest_ "$@"
