#!/usr/bin/env bash
# Writes the generated shell completions and man page anew from the CLI's definition
# (`kaptain completions SHELL|man`): docs/completions/kaptain.{bash,zsh,fish} and
# docs/man/kaptain.1. crates/kaptain/tests/generated.rs fails when they drift.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --locked -p kaptain --bin kaptain
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
kaptain="$target_dir/debug/kaptain"
mkdir -p docs/completions docs/man
for shell in bash zsh fish; do
  "$kaptain" completions "$shell" > "docs/completions/kaptain.$shell"
done
"$kaptain" completions man > docs/man/kaptain.1
echo "wrote docs/completions/kaptain.{bash,zsh,fish} and docs/man/kaptain.1" >&2
