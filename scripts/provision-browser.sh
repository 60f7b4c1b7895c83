#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver are installed for the console's end-to-end
# test (crates/kaptain-server/tests/console_e2e.rs) — Debian's `chromium` and
# `chromium-driver` packages when they are missing — and prints the chromedriver path.
#
#   scripts/provision-browser.sh     # prints e.g. /usr/bin/chromedriver
#
# Honours KAPTAIN_CHROMIUM and KAPTAIN_CHROMEDRIVER (as the test does).
set -euo pipefail

log() { printf 'provision-browser: %s\n' "$*" >&2; }

chromium="${KAPTAIN_CHROMIUM:-/usr/bin/chromium}"
driver="${KAPTAIN_CHROMEDRIVER:-/usr/bin/chromedriver}"

if [ -x "$chromium" ] && [ -x "$driver" ]; then
  echo "$driver"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
log "apt-get update"
$SUDO apt-get update -qq >&2
log "installing chromium chromium-driver"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >&2
if ! [ -x "$chromium" ] || ! [ -x "$driver" ]; then
  log "$chromium or $driver is still missing after installing chromium and chromium-driver"
  exit 1
fi
echo "$driver"
