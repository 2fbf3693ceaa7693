#!/usr/bin/env bash
# Run HERE (not on the GPU machine): downloads the Debian packages spool builds against into .device/debs
# (git-ignored), so a device run can carry them: the GPU machine reaches no package registry.
# scripts/device.sh unpacks them into a private sysroot there (never into /).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/.device/debs"
cd "$root/.device/debs"
apt-get download -qq libicu-dev libicu72 icu-devtools nlohmann-json3-dev libfmt-dev libfmt9 libcli11-dev \
  libxxhash-dev libxxhash0 libgtest-dev 2>&1 | grep -v "^W:" || true
du -sh .
