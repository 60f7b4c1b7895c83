#!/usr/bin/env bash
# Makes sure a Python venv with llama-cpp-python's OpenAI-compatible server
# (`python -m llama_cpp.server`) exists in the cache and prints the venv's python. The LLM
# tests run the real GGUF model behind it and talk to it through kaptain-llm's OpenAI-compatible
# provider.
#
#   scripts/provision-llama-server.sh   # prints e.g. ~/.cache/kaptain/llama-cpp-venv/bin/python
#
# llama-cpp-python is installed from PyPI as its source distribution: pip compiles llama.cpp
# (CPU only) with cmake and the C/C++ compiler, which are installed from Debian's packages when
# missing. The first install takes minutes; later runs find the venv and return at once.
#
# KAPTAIN_LLAMA_SERVER_PYTHON, when set to a python that imports llama_cpp.server, is used as is.
#
#   scripts/provision-llama-server.sh --deps-only
#       installs what the compile needs (cmake, compilers, python3-venv), creates a scratch venv
#       and downloads the pinned source distribution, then stops before compiling: what
#       scripts/check-fresh-provision.sh runs in a fresh root (the compile itself takes minutes).
set -euo pipefail

log() { printf 'provision-llama-server: %s\n' "$*" >&2; }

DEPS_ONLY=0
case "${1:-}" in
  "") ;;
  --deps-only) DEPS_ONLY=1 ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) log "unknown argument $1 (see --help)"; exit 2 ;;
esac

VERSION=0.3.36
venv="${KAPTAIN_CACHE:-$HOME/.cache/kaptain}/llama-cpp-venv"
py="$venv/bin/python"

works() {
  # The server module and the version we pin (an older venv is rebuilt).
  "$1" - "$VERSION" >/dev/null 2>&1 <<'PY'
import sys, llama_cpp, llama_cpp.server.app
sys.exit(0 if llama_cpp.__version__ == sys.argv[1] else 1)
PY
}

if [ "$DEPS_ONLY" = 0 ] && [ -n "${KAPTAIN_LLAMA_SERVER_PYTHON:-}" ] && works "$KAPTAIN_LLAMA_SERVER_PYTHON"; then
  echo "$KAPTAIN_LLAMA_SERVER_PYTHON"
  exit 0
fi
if [ "$DEPS_ONLY" = 0 ] && [ -x "$py" ] && works "$py"; then
  echo "$py"
  exit 0
fi

command -v python3 >/dev/null || { log "python3 is needed"; exit 1; }

# What compiling llama.cpp needs: cmake (>= 3.21), a C/C++ compiler, and venv for python3.
missing=()
command -v cmake >/dev/null || missing+=(cmake)
{ command -v cc >/dev/null && command -v c++ >/dev/null && command -v make >/dev/null; } || missing+=(build-essential)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "apt-get update"
  $SUDO apt-get update -qq >&2
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [ "$DEPS_ONLY" = 1 ]; then
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  python3 -m venv "$scratch/venv" >&2
  # The pinned source distribution from PyPI's simple index (the JSON form pip reads), sha256
  # checked, without building its metadata (pip would install scikit-build-core and run cmake).
  log "fetching llama-cpp-python $VERSION's source distribution from PyPI (not compiled)"
  "$scratch/venv/bin/python" - "$VERSION" "$scratch" >&2 <<'PY'
import hashlib, json, sys, urllib.request
version, dest = sys.argv[1:]
req = urllib.request.Request("https://pypi.org/simple/llama-cpp-python/",
                             headers={"Accept": "application/vnd.pypi.simple.v1+json"})
files = json.load(urllib.request.urlopen(req, timeout=120))["files"]
name = f"llama_cpp_python-{version}.tar.gz"
sdist = next((f for f in files if f["filename"] == name), None)
if sdist is None:
    sys.exit(f"PyPI has no {name}")
data = urllib.request.urlopen(sdist["url"], timeout=600).read()
if hashlib.sha256(data).hexdigest() != sdist["hashes"]["sha256"]:
    sys.exit(f"{name}: sha256 mismatch")
open(f"{dest}/{name}", "wb").write(data)
print(f"{name}: {len(data) >> 20} MiB, sha256 ok")
PY
  for tool in cmake cc c++ make; do command -v "$tool" >/dev/null || { log "$tool missing"; exit 1; }; done
  log "deps ok: cmake $(cmake --version | head -n1 | awk '{print $3}'), $(cc --version | head -n1), venv, sdist $VERSION"
  exit 0
fi

start=$(date +%s)
rm -rf "$venv"
log "creating $venv"
python3 -m venv "$venv" >&2
"$py" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
# Only the library the server loads: no multimodal (llava/mtmd) library, no tests, examples,
# tools or llama.cpp's own server — that halves the compile. The CPU's own instruction set
# (GGML_NATIVE, the default) keeps the model fast on this machine.
export CMAKE_ARGS="${CMAKE_ARGS:-} -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
log "pip install llama-cpp-python[server]==$VERSION (compiles llama.cpp; takes minutes)"
"$py" -m pip install --quiet --disable-pip-version-check \
  "llama-cpp-python[server]==$VERSION" >&2
if ! works "$py"; then
  log "$py cannot import llama_cpp.server after the install"
  exit 1
fi
log "installed in $(( $(date +%s) - start ))s"
echo "$py"
