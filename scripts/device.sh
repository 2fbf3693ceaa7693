#!/usr/bin/env bash
# One call on the GPU machine: build spool with CUDA for sm_90, run the GPU and CPU-kernel tests, print a table.
# The GPU machine reaches no package registry: run scripts/device_debs.sh here first and carry .device/debs;
# the packages are unpacked into a private sysroot (never into /).
# Usage (device tool): command "bash scripts/device.sh", carry [".device/debs"].
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
{ g++ --version | head -1; cmake --version | head -1; ldd --version | head -1; } || true  # head closes the pipe early

sysroot=/tmp/spool-sysroot
cmake_args=()
if [ -d .device/debs ]; then
  mkdir -p "$sysroot"
  for deb in .device/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  export LD_LIBRARY_PATH="$sysroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  cmake_args+=(-DCMAKE_PREFIX_PATH="$sysroot/usr" -DICU_ROOT="$sysroot/usr" -DGTEST_ROOT="$sysroot/usr"
               -DCMAKE_CXX_FLAGS="-isystem $sysroot/usr/include")
fi
cmake -S . -B build-device -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPOOL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  "${cmake_args[@]}" >/dev/null
targets=(${SPOOL_DEVICE_TARGETS:-test_backend_cuda test_cpu_kernels test_parity spool})
cmake --build build-device -j "$(nproc)" --target "${targets[@]}"

declare -A result
for t in test_backend_cuda test_cpu_kernels test_parity; do
  if [ -x "build-device/$t" ]; then
    if "build-device/$t" --gtest_brief=1; then result[$t]=pass; else result[$t]=FAIL; fi
  fi
done
echo
echo "| check | result |"
echo "|---|---|"
status=0
for t in "${!result[@]}"; do
  echo "| $t | ${result[$t]} |"
  [ "${result[$t]}" = pass ] || status=1
done
exit $status
