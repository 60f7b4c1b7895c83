#!/usr/bin/env bash
# Runs the safety guard's property tests (single decisions and sequences of decisions over
# hours: rate limits, cool-downs, the circuit breaker) with many cases and prints how many
# and how long. CI runs 10,000 cases; the default here is 100,000.
#
#   scripts/prop-guard.sh            # 100,000 cases per property
#   scripts/prop-guard.sh 10000
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-100000}"
case "$cases" in ''|*[!0-9]*) echo "prop-guard: the case count must be a number: $cases" >&2; exit 2 ;; esac
start=$(date +%s)
PROPTEST_CASES="$cases" cargo test --locked -q --release -p kaptain-heal --lib -- guard::props guard::seq_props
echo "prop-guard: $cases cases per property, $(( $(date +%s) - start )) s" >&2
