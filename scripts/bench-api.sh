#!/usr/bin/env bash
# Benchmarks the REST API with wrk: GET /api/v1/findings?limit=100 against the real server
# (authenticated with an API token) on a store holding 10,000 open findings, on SQLite and on a
# throw-away PostgreSQL; prints requests/s and p50/p99 latency at full speed and paced at
# 1,000 requests/s (issue #5's goal: p99 under 20 ms at 1,000 requests/s).
#
#   scripts/bench-api.sh                         # both backends, 10 s per run
#   scripts/bench-api.sh --duration 30 --rate 2000
#   scripts/bench-api.sh postgres://u:p@db/kaptain   # an existing (empty) database instead
#
# Installs wrk (Debian's package) and PostgreSQL's server binaries when missing. wrk, the
# server and the database share the machine: note what else is running next to the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'bench-api: %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
  else
    sudo apt-get install -y -q wrk >/dev/null || { sudo apt-get update -q >/dev/null && sudo apt-get install -y -q wrk >/dev/null; }
  fi
fi
KAPTAIN_PG_BIN="$(scripts/provision-postgres.sh)"
export KAPTAIN_PG_BIN

log "building the benchmark (release)"
cargo build --release --locked -q -p kaptain-bench --bin bench_api
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
log "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$target_dir/release/bench_api" "$@"
