# Sourced by scripts/device.sh and scripts/device_ab.sh on the GPU machine: unpacks the carried Debian packages
# (.device/debs, from scripts/device_debs.sh) into a private sysroot, points ../shared at the carried copy, and
# configures build-device/ (Release, CUDA, sm_90). Leaves the repository root as the working directory.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory --format=csv,noheader || true
{ g++ --version | head -1; cmake --version | head -1; nvcc --version | tail -1; } 2>/dev/null || true

sysroot=/tmp/spool-sysroot
cmake_args=()
if [ -d .device/debs ]; then
  mkdir -p "$sysroot"
  for deb in .device/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  export LD_LIBRARY_PATH="$sysroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  cmake_args+=(-DCMAKE_PREFIX_PATH="$sysroot/usr" -DICU_ROOT="$sysroot/usr" -DGTEST_ROOT="$sysroot/usr"
               -DCMAKE_CXX_FLAGS="-isystem $sysroot/usr/include")
fi
# Tests read ../shared (a compile-time path): point it at the carried copy when the real one is absent.
if [ ! -e ../shared ] && [ -d .device/shared ]; then ln -s "$root/.device/shared" ../shared; fi

cmake -S . -B build-device -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPOOL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  "${cmake_args[@]}" >/dev/null || exit 1

# A random-weight benchmark model of a real shape (spool synth), made once per machine in /tmp/models: prints its path.
synth_model() {  # shape type
  local m="/tmp/models/$1-$2.gguf"
  mkdir -p /tmp/models
  [ -f "$m" ] || build-device/spool synth --shape "$1" --type "$2" -q \
    --vocab .device/shared/reference/tokenizer/ggml-vocab-llama-spm.gguf -o "$m" -t "$(nproc)" >/dev/null || return 1
  echo "$m"
}
