#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries (initdb, postgres) are installed for the store's
# tests — Debian's `postgresql` package when they are missing — and prints their directory.
# The tests start their own throw-away server from it (kaptain_testenv::Postgres).
#
#   scripts/provision-postgres.sh       # prints e.g. /usr/lib/postgresql/15/bin
#
# Honours KAPTAIN_PG_BIN: a directory with initdb and postgres is used as it is.
set -euo pipefail

log() { printf 'provision-postgres: %s\n' "$*" >&2; }

find_bin() {
  local d
  if [ -n "${KAPTAIN_PG_BIN:-}" ] && [ -x "$KAPTAIN_PG_BIN/initdb" ] && [ -x "$KAPTAIN_PG_BIN/postgres" ]; then
    echo "$KAPTAIN_PG_BIN"
    return 0
  fi
  # Debian's layout: /usr/lib/postgresql/<major>/bin, newest major first.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
      echo "$d"
      return 0
    fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

if dir="$(find_bin)"; then
  echo "$dir"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
log "apt-get update"
$SUDO apt-get update -qq >&2
log "installing postgresql"
# Only the server binaries: recommends (a mail server, cron, ...) add nothing the tests use.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >&2
if ! dir="$(find_bin)"; then
  log "initdb and postgres are still missing after installing postgresql"
  exit 1
fi
echo "$dir"
