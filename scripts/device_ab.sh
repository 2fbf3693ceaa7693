#!/usr/bin/env bash
# One call on the GPU machine: an A/B of a change against its base, as the docs' "before -> after" rows are measured.
# The working tree holds the change; SPOOL_AB_PATCH names a patch of it (git diff > .device/x.patch), reversed to
# build the base binary, then reapplied for the new one. Each model (synth, random weights of a real shape) then
# runs with both binaries in turn for SPOOL_AB_ROUNDS rounds: GPU time per decode step (CUDA events around each
# step's graph), forward-only tok/s and the quality hash. Run scripts/device_debs.sh here first and carry .device.
# Usage (device tool): command "SPOOL_AB_PATCH=.device/x.patch bash scripts/device_ab.sh", carry [".device"];
#   SPOOL_AB_MODELS="shape:type ..." (default below), SPOOL_AB_ROUNDS (2), SPOOL_AB_ARGS (spool bench flags),
#   SPOOL_AB_TRACE=1: then a kernel trace of each binary per model (libspool_kernel_trace.so) and where the time moved
#   (scripts/kernel_trace.py --compare); the traces are left in $OUT (or /tmp) as <model>-{base,new}.csv.gz.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/device_env.sh"
patch_file=${SPOOL_AB_PATCH:?set SPOOL_AB_PATCH to a patch of the change (git diff > .device/change.patch)}
[ -f "$patch_file" ] || { echo "no patch at $patch_file"; exit 1; }

# Builds spool and copies it to /tmp/spool-$1. The copy of the tree on the GPU machine may carry older mtimes than
# the last build there: the patched files are touched so ninja rebuilds what they feed (only those present: a file
# the patch adds is absent in the base tree and must stay so for the patch to reapply).
build_as() {
  local f
  for f in $(grep -E '^\+\+\+ b/' "$patch_file" | sed 's|^+++ b/||'); do [ -e "$f" ] && touch "$f"; done
  if ! cmake --build build-device -j "$(nproc)" --target spool > "/tmp/spool-$1-build.log" 2>&1; then
    grep -E "error|FAILED" "/tmp/spool-$1-build.log" | head -20
    echo "build of the $1 binary failed"
    return 1
  fi
  cp build-device/spool "/tmp/spool-$1"
}
patch -R -p1 -s < "$patch_file" || { echo "the patch does not reverse on this tree"; exit 1; }
build_as base
built=$?
patch -p1 -s < "$patch_file" || { echo "the patch does not reapply"; exit 1; }  # the tree is whole again first
[ $built = 0 ] && build_as new || exit 1

models=()
for spec in ${SPOOL_AB_MODELS:-llama2-7b:Q4_K_M tinyllama-1.1b:Q4_K_M tinyllama-1.1b:Q6_K}; do
  m=$(synth_model "${spec%%:*}" "${spec##*:}") && models+=("$m")
done
for round in $(seq "${SPOOL_AB_ROUNDS:-2}"); do
  for m in "${models[@]}"; do
    for b in base new; do
      line=$("/tmp/spool-$b" bench -m "$m" --backend cuda -p 16 -n 128 -r 3 -q --no-reload ${SPOOL_AB_ARGS:-} 2>&1 |
        grep -E "on the GPU|forward only|quality hash" |
        sed 's/(median[^)]*)//; s/(events.*//; s/; sampling.*//; s/ = xxh.*//' | tr -s ' ' | paste -sd' ')
      echo "round $round $(basename "$m" .gguf) $b:$line"
    done
  done
done

if [ "${SPOOL_AB_TRACE:-0}" = "1" ]; then
  if ! cmake --build build-device -j "$(nproc)" --target spool_kernel_trace > /tmp/spool-trace-build.log 2>&1; then
    echo "no kernel trace: libspool_kernel_trace.so did not build (is CUPTI installed?)"; exit 0
  fi
  dir=${OUT:-/tmp}
  for m in "${models[@]}"; do
    n=$(basename "$m" .gguf)
    for b in base new; do
      SPOOL_KERNEL_TRACE="$dir/$n-$b.csv" CUDA_INJECTION64_PATH="$PWD/build-device/libspool_kernel_trace.so" \
        "/tmp/spool-$b" bench -m "$m" --backend cuda -p 16 -n 64 -r 1 -q --no-reload ${SPOOL_AB_ARGS:-} > /dev/null 2>&1
      gzip -f "$dir/$n-$b.csv"
    done
    echo "== kernel trace $n"
    python3 scripts/kernel_trace.py "$dir/$n-new.csv.gz" --compare "$dir/$n-base.csv.gz" | head -20
  done
fi
