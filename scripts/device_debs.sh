#!/usr/bin/env bash
# Run HERE (not on the GPU machine): downloads the Debian packages spool builds against into .device/debs
# (git-ignored), so a device run can carry them: the GPU machine reaches no package registry.
# scripts/device.sh unpacks them into a private sysroot there (never into /).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/.device/debs"
cd "$root/.device/debs"
apt-get download -qq libicu-dev libicu72 icu-devtools nlohmann-json3-dev libfmt-dev libfmt9 libcli11-dev \
  libxxhash-dev libxxhash0 libgtest-dev libbenchmark-dev libbenchmark1debian 2>&1 | grep -v "^W:" || true
du -sh .

# The tiny reference models do not travel (../shared stays here) and the carry limit is 64 MiB: carry the F16
# file, its checksums and the references; scripts/device.sh quantizes the other types there with spool quantize
# (byte-identical to llama-quantize, checked against SHA256SUMS before any test uses them).
shared="$root/../shared"
if [ -d "$shared/models/tiny" ]; then
  mkdir -p "$root/.device/shared/models/tiny" "$root/.device/shared/reference"
  cp "$shared/models/tiny/tiny-F16.gguf" "$shared/models/tiny/SHA256SUMS" "$root/.device/shared/models/tiny/"
  rm -rf "$root/.device/shared/reference/tiny"
  cp -r "$shared/reference/tiny" "$shared/reference/README.md" "$root/.device/shared/reference/"
  mkdir -p "$root/.device/shared/reference/tokenizer"  # the vocabulary spool synth gives benchmark models
  cp "$shared/reference/tokenizer/ggml-vocab-llama-spm.gguf" "$root/.device/shared/reference/tokenizer/"
  chmod -R u+w "$root/.device/shared"
  du -sh "$root/.device/shared"
fi
