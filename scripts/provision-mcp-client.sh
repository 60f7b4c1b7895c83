#!/usr/bin/env bash
# Installs the official MCP TypeScript SDK (@modelcontextprotocol/sdk, from the npm registry)
# for the test that drives `kaptain mcp` with a client nobody here wrote
# (crates/kaptain/tests/mcp_ts.rs runs tests/mcp-client/client.mjs), into a cache directory,
# and prints its node_modules path. Needs Node.js >= 18 and npm (Debian's `nodejs` and `npm`
# packages are installed when missing).
#
#   scripts/provision-mcp-client.sh   # prints e.g. ~/.cache/kaptain/mcp-client-1/node_modules
#
# KAPTAIN_MCP_CLIENT_DIR, when set to a node_modules directory that has the SDK, is used as is.
set -euo pipefail

log() { printf 'provision-mcp-client: %s\n' "$*" >&2; }

# The major version the client script is written for.
SDK_MAJOR=1

if [ -n "${KAPTAIN_MCP_CLIENT_DIR:-}" ] && [ -f "$KAPTAIN_MCP_CLIENT_DIR/@modelcontextprotocol/sdk/package.json" ]; then
  echo "$KAPTAIN_MCP_CLIENT_DIR"
  exit 0
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "installing nodejs npm"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >&2
fi

dir="${KAPTAIN_CACHE:-$HOME/.cache/kaptain}/mcp-client-$SDK_MAJOR"
if [ ! -f "$dir/node_modules/@modelcontextprotocol/sdk/package.json" ]; then
  mkdir -p "$dir"
  log "npm install @modelcontextprotocol/sdk@$SDK_MAJOR into $dir"
  [ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/sdk@$SDK_MAJOR" >&2
fi
log "SDK $(node -p "require('$dir/node_modules/@modelcontextprotocol/sdk/package.json').version")"
echo "$dir/node_modules"
