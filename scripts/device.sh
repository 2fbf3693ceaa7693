#!/usr/bin/env bash
# One call on the GPU machine: build spool with CUDA for sm_90, run the GPU tests (kernels, backend parity, tiny
# models against llama.cpp's references on the cuda backend) and the CPU kernel and backend tests on its Xeon
# (AVX-512, which CI's machine lacks), then the benchmarks, and print a short table last.
# The GPU machine reaches no package registry and ../shared does not travel: run scripts/device_debs.sh here
# first (Debian packages + the tiny F16 model and references into .device/) and carry .device.
# Usage (device tool): command "bash scripts/device.sh", carry [".device"] (an A/B of a change: scripts/device_ab.sh).
#   SPOOL_DEVICE_MODE=test|bench|all (default all); SPOOL_DEVICE_TARGETS overrides the built targets;
#   SPOOL_DEVICE_SANITIZE=1 also runs the CUDA tests under compute-sanitizer;
#   SPOOL_DEVICE_BENCH="shape:type ..." picks the benchmark models (default below);
#   SPOOL_DEVICE_CHANGE="what changed" logs each benchmark as a titled entry in $OUT/BENCHMARKS.md;
#   SPOOL_DEVICE_CPU_BENCH="shape:type ..." also benchmarks the cpu backend on the Xeon (2 threads, 2 cores);
#   SPOOL_DEVICE_VARIANTS="name:VAR=value,VAR=value name2: ..." benchmarks each model once per variant with those
#   environment variables set (A/B runs of the diagnostic switches, e.g. SPOOL_CUDA_FUSED_MATVEC=0).
set -uo pipefail
mode=${SPOOL_DEVICE_MODE:-all}
source "$(dirname "${BASH_SOURCE[0]}")/device_env.sh"
targets=(${SPOOL_DEVICE_TARGETS:-test_backend_cuda test_parity test_model test_cpu_kernels test_backend spool})
cmake --build build-device -j "$(nproc)" --target "${targets[@]}" 2>&1 | grep -v "^\[" || true
for t in "${targets[@]}"; do [ -x "build-device/$t" ] || { echo "build of $t failed"; exit 1; }; done

# The quantized tiny files, made from the carried F16 file exactly as the references were (llama-quantize ... 2),
# and checked byte for byte against the shared checksums.
tiny=.device/shared/models/tiny
if [ -f "$tiny/tiny-F16.gguf" ]; then
  for t in Q8_0 Q4_K_M Q6_K Q4_0 Q4_1 Q5_0 Q5_1 Q5_K_M Q2_K; do
    f="$tiny/tiny-$t.gguf"
    [ -f "$f" ] || build-device/spool quantize "$tiny/tiny-F16.gguf" "$f" "$t" -t 2 >/dev/null 2>&1
  done
  (cd "$tiny" && grep -v "tiny-F32" SHA256SUMS | sha256sum -c --quiet -) || echo "WARNING: tiny files differ from SHA256SUMS"
fi

declare -A result
order=()
run_check() {  # name, command...
  local name=$1; shift
  order+=("$name")
  if "$@" > "/tmp/$name.log" 2>&1; then result[$name]=pass; else result[$name]=FAIL; fi
  grep -E "^\[ (parity|  FAILED|tiny)|FAILED|Failure|error|SKIPPED \]|^\[ +[a-zA-Z-]+ +cuda" "/tmp/$name.log" | head -60
  if [ -n "${OUT:-}" ]; then mkdir -p "$OUT/logs" && cp "/tmp/$name.log" "$OUT/logs/"; fi
}
# Benchmarks each "shape:type" of $2 (synth models, made once in /tmp/models) on backend $1, once per
# SPOOL_DEVICE_VARIANTS entry; with SPOOL_DEVICE_CHANGE each run is a titled entry "$3: shape type ($4)" in
# $OUT/BENCHMARKS.md to merge here. The rest: the spool bench command and its settings.
bench_models() {
  local backend=$1 specs=$2 title=$3 where=$4
  shift 4
  for spec in $specs; do
    local shape=${spec%%:*} type=${spec##*:} m
    m=$(synth_model "$shape" "$type") || continue
    for variant in ${SPOOL_DEVICE_VARIANTS:-default:}; do
      local name=${variant%%:*} vars=${variant#*:}
      echo "== $backend $shape $type ($name${vars:+: $vars})"
      local log_args=()
      if [ -n "${SPOOL_DEVICE_CHANGE:-}" ]; then
        local change="$SPOOL_DEVICE_CHANGE"
        [ -n "${SPOOL_DEVICE_VARIANTS:-}" ] && change="$change [variant $name${vars:+: $vars}]"
        log_args=(--title "$title: $shape $type ($where)" --change "$change" --log "${OUT:-/tmp}/BENCHMARKS.md")
      fi
      env ${vars//,/ } "$@" -m "$m" --backend "$backend" "${log_args[@]}" 2>&1 |
        tee -a "${OUT:-/tmp}/bench.log" |
        grep -E "backend:|prefill|generation|forward only|TTFT|bytes moved|roofline|quality hash|GPU"
    done
  done
}

if [ "$mode" != bench ]; then
  run_check kernels build-device/test_backend_cuda --gtest_brief=1
  run_check parity build-device/test_parity --gtest_brief=1 --gtest_filter='*cuda*'
  run_check tiny_models build-device/test_model --gtest_brief=1 --gtest_filter='*cuda*'
  # The CPU side on this machine's Xeon: the AVX-512 kernels that CI's AVX2 machine skips, and the backends.
  for t in test_cpu_kernels test_backend; do
    [ -x "build-device/$t" ] && run_check "${t#test_}" "build-device/$t" --gtest_brief=1
  done
  if [ "${SPOOL_DEVICE_SANITIZE:-0}" = 1 ]; then
    run_check sanitizer compute-sanitizer --error-exitcode 1 build-device/test_backend_cuda --gtest_brief=1
  fi
fi

if [ "$mode" != test ]; then
  # Kernel benchmarks (DISABLED_ tests: they only run when asked).
  if [ -z "${SPOOL_DEVICE_NO_KERNEL_BENCH:-}" ]; then
    build-device/test_backend_cuda --gtest_also_run_disabled_tests --gtest_filter='*Bench*' > "${OUT:-/tmp}/kernel_bench.log" 2>&1
    grep -v "^\[ " "${OUT:-/tmp}/kernel_bench.log" | tail -40
  fi
  bench_models cuda "${SPOOL_DEVICE_BENCH:-tinyllama-1.1b:Q4_K_M tinyllama-1.1b:Q8_0 tinyllama-1.1b:F16 tinyllama-1.1b:Q6_K}" \
    "CUDA decode and prefill" "H100" build-device/spool bench -p 512 -n 128 -r 3 -q --no-reload --measure-bandwidth
fi

# The CPU targets (issue 5: 2 threads) on this machine's Xeon, which has AVX-512 VNNI and AMX like the CPU of
# ../shared/anchors.md: SPOOL_DEVICE_CPU_BENCH="shape:type ..." runs spool bench on the cpu backend, pinned to one
# logical CPU on each of two physical cores, once per SPOOL_DEVICE_VARIANTS entry.
if [ -n "${SPOOL_DEVICE_CPU_BENCH:-}" ]; then
  cpus=$(lscpu -p=CPU,CORE | grep -v '^#' | sort -t, -k2,2n -u | head -2 | cut -d, -f1 | paste -sd,)
  lscpu | grep -E "Model name|^CPU\(s\)|Thread|L2|L3" | tr -s ' '
  bench_models cpu "$SPOOL_DEVICE_CPU_BENCH" "CPU prefill and decode" "device Xeon, 2 threads" \
    taskset -c "$cpus" build-device/spool bench -t 2 -p 128 -n 32 -r 3 -q --no-reload --measure-bandwidth
fi

echo
echo "| check | result |"
echo "|---|---|"
status=0
for t in "${order[@]}"; do
  echo "| $t | ${result[$t]} |"
  [ "${result[$t]}" = pass ] || status=1
done
exit $status
