#!/usr/bin/env bash
# Builds the GGUF reader's libFuzzer target with clang-14 (ASan + UBSan, library code instrumented too) in
# build-fuzz/, writes seed files, and fuzzes. Usage: scripts/fuzz_gguf.sh [RUNS] (default 10000000).
# UPDATE_CORPUS=1 then minimises (-merge=1 into a fresh dir) and replaces tests/corpus/gguf, keeping crash-*.
# Findings land in build-fuzz/fuzz-work/artifacts/: copy each into tests/corpus/gguf as crash-<what>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build-fuzz}"
RUNS="${1:-10000000}"
MAX_LEN="${MAX_LEN:-4096}"
CORPUS="$ROOT/tests/corpus/gguf"
WORK="$BUILD/fuzz-work"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

command -v clang++-14 >/dev/null || { echo "needs clang-14: apt-get install -y clang-14 libclang-rt-14-dev" >&2; exit 1; }

# The fuzzer-no-link flag gives the libraries coverage instrumentation; the gguf_fuzz target adds the driver.
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DSPOOL_FUZZ=ON -DSPOOL_TESTS=OFF -DSPOOL_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link $SAN" >/dev/null
ninja -C "$BUILD" -j2 gguf_fuzz

clang++-14 -std=c++20 -O1 -g $SAN -fsanitize=fuzzer-no-link -I"$ROOT/include" -I"$ROOT/src" \
  "$ROOT/src/gguf/fuzz/make_seeds.cpp" "$BUILD/libspool_gguf.a" "$BUILD/libspool_quant.a" "$BUILD/libspool_core.a" \
  -o "$BUILD/make_seeds"
rm -rf "$WORK/seeds"
mkdir -p "$WORK/seeds" "$WORK/corpus" "$WORK/artifacts" "$CORPUS"
"$BUILD/make_seeds" "$WORK/seeds" >/dev/null

echo "fuzzing: $RUNS runs, max_len $MAX_LEN, corpus $WORK/corpus (+ seeds, + $CORPUS)"
start=$(date +%s)
set +e
"$BUILD/gguf_fuzz" -runs="$RUNS" -max_len="$MAX_LEN" -print_final_stats=1 -artifact_prefix="$WORK/artifacts/" \
  "$WORK/corpus" "$WORK/seeds" "$CORPUS" 2>&1 | tee "$WORK/fuzz.log" | grep -E "^#[0-9]+.*(pulse|DONE)|stat::|ERROR|crash|Test unit" 
status=${PIPESTATUS[0]}
set -e
end=$(date +%s)
echo "exit status $status, $((end - start)) s wall"
echo "working corpus: $(ls "$WORK/corpus" | wc -l) files, $(du -sb "$WORK/corpus" | cut -f1) bytes"
if ls "$WORK/artifacts"/crash-* >/dev/null 2>&1; then
  echo "findings (copy each into $CORPUS as crash-*):"; ls -l "$WORK/artifacts"
fi

if [[ "${UPDATE_CORPUS:-0}" == 1 ]]; then
  fresh="$WORK/merged"
  rm -rf "$fresh" && mkdir -p "$fresh"
  # Edge coverage only (-use_counters=0): keeps every covered edge with ~200 files instead of ~600.
  "$BUILD/gguf_fuzz" -merge=1 -use_counters=0 -max_len="$MAX_LEN" "$fresh" "$WORK/seeds" "$CORPUS" "$WORK/corpus" \
    >/dev/null 2>&1
  find "$CORPUS" -maxdepth 1 -type f ! -name 'crash-*' -delete
  cp "$fresh"/* "$CORPUS"/
  echo "regression corpus: $(ls "$CORPUS" | wc -l) files, $(du -sb "$CORPUS" | cut -f1) bytes"
fi
exit "$status"
