#!/usr/bin/env bash
# Regenerates the generated parts of README.md (the checks table) from the code.
# CI fails when README.md differs from what this writes (see the readme drift test).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p kaptain
table="$(./target/debug/kaptain checks -o markdown)"
python3 - "$table" <<'PY'
import sys, re
table = sys.argv[1].strip()
p = "README.md"
s = open(p).read()
s = re.sub(r"<!-- checks:start -->.*?<!-- checks:end -->",
           "<!-- checks:start -->\n" + table + "\n<!-- checks:end -->", s, flags=re.S)
open(p, "w").write(s)
PY
echo "README.md updated" >&2
