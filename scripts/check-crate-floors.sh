#!/usr/bin/env bash
# The workspace's floors (../shared/DESIGN.md), checked by Cargo: the pure crates build
# without a Kubernetes client, an HTTP stack or an async runtime, and no face depends on
# another face. Fails with one line per breach.
set -euo pipefail
cd "$(dirname "$0")/.."

pure=(kaptain-model kaptain-index kaptain-analyze kaptain-heal kaptain-chat)
forbidden='^(kube-client|kube-runtime|kube|hyper|hyper-util|reqwest|tokio|axum) '
# The `kaptain` binary hosts every face (its main only wires them); the library faces never
# depend on one another.
faces=(kaptain-server kaptain-operator)
bad=0
for c in "${pure[@]}"; do
  # Normal and build dependencies: what the library compiles against (tests may read files
  # through kaptain-sources).
  found="$(cargo tree -p "$c" -e normal,build --prefix none --locked 2>/dev/null | grep -E "$forbidden" | cut -d' ' -f1 | sort -u | tr "\n" " " || true)"
  if [ -n "$found" ]; then
    echo "check-crate-floors: $c (a pure crate) depends on: $found"
    bad=1
  fi
done
for c in "${faces[@]}"; do
  for other in "${faces[@]}"; do
    [ "$c" = "$other" ] && continue
    if cargo tree -p "$c" -e normal --prefix none --locked 2>/dev/null | grep -qE "^$other v"; then
      echo "check-crate-floors: face $c depends on face $other"
      bad=1
    fi
  done
done
# kaptain-llm knows tools only as names, JSON Schemas and a call function: no Kubernetes, no
# engine, no Kaptain crate but kaptain-model.
llm_bad="$(cargo tree -p kaptain-llm -e normal,build --prefix none --locked 2>/dev/null | grep -E '^(kube|kube-client|kube-core|k8s-openapi|kaptain-[a-z-]+) ' | grep -v '^kaptain-llm \|^kaptain-model ' | cut -d' ' -f1 | sort -u | tr "\n" " " || true)"
if [ -n "$llm_bad" ]; then
  echo "check-crate-floors: kaptain-llm depends on: $llm_bad (it may know kaptain-model only)"
  bad=1
fi
[ $bad -eq 0 ] && echo "check-crate-floors: ok (${#pure[@]} pure crates, ${#faces[@]} faces, kaptain-llm on kaptain-model only)"
exit $bad
