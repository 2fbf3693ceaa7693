#!/usr/bin/env bash
# Builds spool with warnings as errors and runs every test (ctest). GPU tests skip without a GPU;
# model tests skip without ../shared. Slow suites carry the label "slow" and run only with SPOOL_SLOW=1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install_deps.sh
scripts/build.sh -DSPOOL_WERROR=ON
exclude=()
[ "${SPOOL_SLOW:-0}" = "1" ] || exclude=(-LE slow)
ctest --test-dir build --output-on-failure -j "$(nproc)" "${exclude[@]}"
