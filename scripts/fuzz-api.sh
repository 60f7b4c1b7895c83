#!/usr/bin/env bash
# Fuzzes the REST API with schemathesis against the committed OpenAPI document
# (docs/openapi.json, generated from the code): a real `kaptain serve` on a free loopback port,
# watching a real control plane with the simulated kubelet (`kaptain-testenv up`) that runs a
# few broken scenarios, on a temp SQLite store, authenticated with an admin API token from
# `kaptain token create`, then again (fewer cases) with a viewer token: operations that need
# more than a viewer must answer their documented 403. Fails on any 5xx, on a response that
# does not match the document (status code, content type, body schema) and on a request the
# server should have refused.
#
#   scripts/fuzz-api.sh                      # what CI runs (a few minutes)
#   FUZZ_EXAMPLES=200 scripts/fuzz-api.sh    # more test cases per operation (admin token)
#   FUZZ_VIEWER_EXAMPLES=50 scripts/fuzz-api.sh   # ... with the viewer token (default 10)
#   FUZZ_SEED=123 scripts/fuzz-api.sh        # replay a run (the seed is printed)
#   FUZZ_DATABASE_URL=postgres://... scripts/fuzz-api.sh   # an (empty) PostgreSQL store instead
#
# schemathesis 4 is installed into /tmp/kaptain-fuzz-venv when missing. Every process started
# here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'fuzz-api: %s\n' "$*" >&2; }

EXAMPLES="${FUZZ_EXAMPLES:-40}"
VIEWER_EXAMPLES="${FUZZ_VIEWER_EXAMPLES:-10}"
VENV="${FUZZ_VENV:-/tmp/kaptain-fuzz-venv}"
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection"

if [ ! -x "$VENV/bin/schemathesis" ]; then
  log "installing schemathesis into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'schemathesis>=4,<5'
fi

KAPTAIN_K8S_BIN="$(scripts/provision-k8s.sh)"
export KAPTAIN_K8S_BIN
log "building kaptain and kaptain-testenv"
cargo build --locked -q -p kaptain --bin kaptain -p kaptain-testenv --bin kaptain-testenv
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
kaptain="$target_dir/debug/kaptain"
testenv="$target_dir/debug/kaptain-testenv"

work="$(mktemp -d /tmp/kaptain-fuzz-api.XXXXXX)"
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "$status" -ne 0 ] && [ -f "$work/serve.log" ]; then
    log "last lines of the server's log:"
    tail -n 40 "$work/serve.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting a control plane with simulated nodes"
"$testenv" up --nodes 2 >"$work/testenv.out" 2>"$work/testenv.log" &
pids+=($!)
for _ in $(seq 1 240); do
  grep -q '^KUBECONFIG=' "$work/testenv.out" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/testenv.log" >&2; log "kaptain-testenv up failed"; exit 1; }
  sleep 0.5
done
KUBECONFIG="$(sed -n 's/^KUBECONFIG=//p' "$work/testenv.out")"
[ -n "$KUBECONFIG" ] || { cat "$work/testenv.log" >&2; log "no KUBECONFIG after 120 s"; exit 1; }
export KUBECONFIG

# Something to find: broken workloads, and the healing CRDs so their routes answer.
kubectl apply -f deploy/crds/ >/dev/null
for s in missing-configmap oom-crash-loop service-selector-typo; do
  kubectl apply -f "tests/scenarios/$s/manifests.yaml" >/dev/null
done

db="${FUZZ_DATABASE_URL:-sqlite://$work/kaptain.db}"
token="$("$kaptain" token create --name fuzz --role admin --database-url "$db" | tail -n 1)"
viewer="$("$kaptain" token create --name fuzz-viewer --role viewer --database-url "$db" | tail -n 1)"
for t in "$token" "$viewer"; do
  case "$t" in kpt_*) ;; *) log "kaptain token create printed no token"; exit 1 ;; esac
done

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# The fuzzer sends requests without or with broken credentials (the coverage phase drops
# headers); with the default --auth-throttle of 10/m every later request of the run would be a
# (documented) 429 and nothing else would be tested.
log "starting kaptain serve on $base"
"$kaptain" serve --listen "127.0.0.1:$port" --kubeconfig "$KUBECONFIG" --database-url "$db" \
  --secret-key-file "$work/secret.key" --auth-throttle 1000000/m \
  --log error,kaptain_server=info >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "${pids[1]}" 2>/dev/null || { cat "$work/serve.log" >&2; log "kaptain serve exited"; exit 1; }
  sleep 0.5
done
curl -fsS "$base/readyz" >/dev/null || { log "kaptain serve not ready after 60 s"; exit 1; }
# Until the first analysis is recorded, the findings history is empty.
for _ in $(seq 1 120); do
  curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/findings?limit=1" | grep -q '"id"' && break
  sleep 0.5
done

seed_args=()
[ -n "${FUZZ_SEED:-}" ] && seed_args=(--seed "$FUZZ_SEED")
spec="$PWD/docs/openapi.json"
# st NAME TOKEN EXAMPLES [schemathesis options...]
st() {
  local name="$1" bearer="$2" examples="$3"
  shift 3
  # From the temp dir: schemathesis keeps its replay data in ./.schemathesis.
  (cd "$work" && "$VENV/bin/schemathesis" run "$spec" --url "$base/api/v1" \
    --header "Authorization: Bearer $bearer" --checks "$CHECKS" \
    --max-examples "$examples" --workers 2 --request-timeout 20 \
    --suppress-health-check too_slow,filter_too_much \
    --generation-database none --report junit --report-dir "$work/report" \
    --report-junit-path "$work/junit-$name.xml" "${seed_args[@]}" "$@")
}

# `GET /stream` is an endless Server-Sent Events stream (tested in crates/kaptain-server).
# `DELETE /tokens/{id}` runs last and on its own: it may revoke the tokens the fuzzer uses.
started=$SECONDS
log "fuzzing every operation but DELETE /tokens/{id} and GET /stream (admin token)"
st main "$token" "$EXAMPLES" --exclude-path /stream --exclude-operation-id revoke_token
# A viewer may not revoke tokens: DELETE /tokens/{id} is a 403 for it, so it is safe here.
log "fuzzing every operation but GET /stream with a viewer token (documented 403s)"
st viewer "$viewer" "$VIEWER_EXAMPLES" --exclude-path /stream
log "fuzzing DELETE /tokens/{id} (admin token)"
st delete "$token" "$EXAMPLES" --include-operation-id revoke_token
log "no 5xx, and every response matches docs/openapi.json ($((SECONDS - started)) s of fuzzing)"
