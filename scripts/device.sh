#!/usr/bin/env bash
# One call on the GPU machine: build spool with CUDA for sm_90, run the GPU tests, then print a short table.
# Usage (through the device tool): bash scripts/device.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
cmake -S . -B build-device -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPOOL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
cmake --build build-device -j "$(nproc)"
status=0
ctest --test-dir build-device --output-on-failure -j 4 -R 'Cuda' || status=$?
echo
echo "| check | result |"
echo "|---|---|"
echo "| GPU tests (ctest -R Cuda) | $([ $status -eq 0 ] && echo pass || echo FAIL) |"
exit $status
