#!/usr/bin/env bash
# End to end with real peers (docs/e2e.md): starts, on 127.0.0.1 and free
# ports, the authorization server (oidc-provider), the example server, the
# everything server, and mcp-policy proxy in front of it over stdio and over
# Streamable HTTP; then walks the flow with the official TypeScript SDK and the
# official Rust SDK (rmcp), runs the official conformance suite through the
# proxy, and rotates the issuer's key last.
#
#   bash tests/e2e/run.sh --setup      install the Node packages (npm ci) and build the
#                                      binaries first, then run the whole suite
#   bash tests/e2e/run.sh              the whole suite; exit 0 when every step passes
#   bash tests/e2e/run.sh --up FILE    start the stack only, write its variables to
#                                      FILE (`export` lines) and wait until killed
#
# Needs: `npm ci` in tests/e2e, and the binaries `mcp-policy`,
# `github-mcp-example` and `e2e-rmcp-client` in $E2E_BIN_DIR (default
# target/debug: what `cargo test` has built already).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export E2E_BIN_DIR="${E2E_BIN_DIR:-$ROOT/target/debug}"

if [[ "${1:-}" == "--setup" ]]; then
  shift
  (cd "$HERE" && npm ci --no-audit --no-fund)
  (cd "$ROOT" && cargo build -p mcp-policy-cli -p github-mcp-example -p mcp-policy-e2e-rmcp)
  E2E_BIN_DIR="$ROOT/target/debug"
fi
export E2E_TOKEN_TTL="${E2E_TOKEN_TTL:-20}"
# A stack started with --up gets a directory of its own, so several can run.
if [[ "${1:-}" == "--up" && -z "${E2E_RUN_DIR:-}" ]]; then
  RUN_DIR=$(mktemp -d /tmp/mcp-policy-e2e.XXXXXX)
else
  RUN_DIR="${E2E_RUN_DIR:-$HERE/.run}"
fi
export E2E_RUN_DIR="$RUN_DIR"
export E2E_REPORT_DIR="$RUN_DIR/reports"
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/logs" "$E2E_REPORT_DIR"

say() { printf 'e2e: %s\n' "$*"; }

bins=(mcp-policy github-mcp-example)
[[ "${1:-}" == "--up" ]] || bins+=(e2e-rmcp-client)
for bin in "${bins[@]}"; do
  [[ -x "$E2E_BIN_DIR/$bin" ]] || { say "missing $E2E_BIN_DIR/$bin (run with --setup, or cargo build first)"; exit 2; }
done
[[ -d "$HERE/node_modules/oidc-provider" ]] || { say "missing node_modules: run npm ci in tests/e2e"; exit 2; }

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Wait until URL answers with any HTTP status, or fail after 30 s.
wait_http() {
  local url=$1 name=$2 i
  for i in $(seq 1 300); do
    if curl -s -o /dev/null --max-time 1 "$url"; then return 0; fi
    sleep 0.1
  done
  say "$name did not start; its log:"
  cat "$RUN_DIR/logs/$name.log" >&2 || true
  exit 1
}

start() {
  local name=$1
  shift
  "$@" >"$RUN_DIR/logs/$name.log" 2>&1 &
  PIDS+=($!)
}

# The authorization server prints `ready <issuer>` when it serves.
start as node "$HERE/as.mjs"
for i in $(seq 1 300); do
  E2E_AS=$(awk '/^ready /{print $2; exit}' "$RUN_DIR/logs/as.log")
  [[ -n "$E2E_AS" ]] && break
  sleep 0.1
done
[[ -n "$E2E_AS" ]] || { say "the authorization server did not start"; cat "$RUN_DIR/logs/as.log" >&2; exit 1; }
export E2E_AS

EVERYTHING="$HERE/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
direct_port=$(free_port)
export E2E_EVERYTHING_DIRECT="http://127.0.0.1:$direct_port/mcp"
PORT=$direct_port start everything-http node "$EVERYTHING" streamableHttp

# The example server takes the issuer's JWKS URL (it has no discovery).
example_port=$(free_port)
export E2E_SERVER_EXAMPLE="http://127.0.0.1:$example_port/mcp"
start example "$E2E_BIN_DIR/github-mcp-example" \
  --bind "127.0.0.1:$example_port" --issuer "$E2E_AS" --audience "$E2E_SERVER_EXAMPLE" \
  --jwks "$E2E_AS/jwks" --policy "$ROOT/examples/github.mcppolicy" --leeway 0

# Both proxies find the issuer's keys from its metadata (no --jwks), as in
# production; leeway 0 so that an expired token is refused at once.
proxy_args=(--issuer "$E2E_AS" --policy "$HERE/everything.mcppolicy" --leeway 0)
stdio_port=$(free_port)
export E2E_SERVER_PROXY_STDIO="http://127.0.0.1:$stdio_port/mcp"
start proxy-stdio "$E2E_BIN_DIR/mcp-policy" proxy --bind "127.0.0.1:$stdio_port" "${proxy_args[@]}" \
  -- node "$EVERYTHING" stdio

http_port=$(free_port)
export E2E_SERVER_PROXY_HTTP="http://127.0.0.1:$http_port/mcp"
start proxy-http "$E2E_BIN_DIR/mcp-policy" proxy --bind "127.0.0.1:$http_port" "${proxy_args[@]}" \
  --upstream "$E2E_EVERYTHING_DIRECT"

export E2E_SERVERS_JSON="$HERE/servers.json"

wait_http "$E2E_EVERYTHING_DIRECT" everything-http
for pair in example:$E2E_SERVER_EXAMPLE proxy-stdio:$E2E_SERVER_PROXY_STDIO proxy-http:$E2E_SERVER_PROXY_HTTP; do
  name=${pair%%:*}
  url=${pair#*:}
  wait_http "${url%/mcp}/.well-known/oauth-protected-resource/mcp" "$name"
done
say "stack up: authorization server $E2E_AS"
say "  example (rmcp + layer)   $E2E_SERVER_EXAMPLE"
say "  proxy, stdio upstream    $E2E_SERVER_PROXY_STDIO"
say "  proxy, HTTP upstream     $E2E_SERVER_PROXY_HTTP"
say "  everything, unguarded    $E2E_EVERYTHING_DIRECT"

if [[ "${1:-}" == "--up" ]]; then
  env_file=${2:?--up needs a file to write the variables to}
  {
    for var in E2E_AS E2E_SERVER_EXAMPLE E2E_SERVER_PROXY_STDIO E2E_SERVER_PROXY_HTTP \
      E2E_EVERYTHING_DIRECT E2E_SERVERS_JSON E2E_TOKEN_TTL E2E_REPORT_DIR E2E_BIN_DIR E2E_RUN_DIR; do
      printf 'export %s=%q\n' "$var" "${!var}"
    done
    printf 'export E2E_STACK_PID=%q\n' "$$"
  } >"$env_file"
  say "variables in $env_file; logs in $RUN_DIR/logs; stop with kill $$"
  while true; do sleep 3600 & wait $! || true; done
fi

# ---- the suite ----
started=$SECONDS
declare -A PART_PIDS=()
part() {
  local name=$1
  shift
  ("$@" >"$RUN_DIR/logs/$name.out" 2>&1) &
  PART_PIDS[$name]=$!
}

part as-check node "$HERE/as-check.mjs"
part ts-sdk node "$HERE/ts-client.mjs"
part rmcp "$E2E_BIN_DIR/e2e-rmcp-client"
part conformance node "$HERE/conformance.mjs"

failed=()
for name in as-check ts-sdk rmcp conformance; do
  if wait "${PART_PIDS[$name]}"; then status=ok; else status=FAILED; failed+=("$name"); fi
  grep -E '^STEP ' "$RUN_DIR/logs/$name.out" || true
  say "$name: $status"
  [[ $status == ok ]] || tail -n 40 "$RUN_DIR/logs/$name.out" | sed 's/^/  | /'
done

# Last, because it makes every server refuse fresh tokens until it has
# refetched the issuer's keys: the issuer rotates its key.
if node "$HERE/rotation.mjs" >"$RUN_DIR/logs/rotation.out" 2>&1; then status=ok; else status=FAILED; failed+=(rotation); fi
grep -E '^STEP ' "$RUN_DIR/logs/rotation.out" || true
say "rotation: $status"
[[ $status == ok ]] || tail -n 40 "$RUN_DIR/logs/rotation.out" | sed 's/^/  | /'

node "$HERE/report.mjs" "$E2E_REPORT_DIR" >"$RUN_DIR/table.md" || failed+=(report)
say "the step table: $RUN_DIR/table.md"
say "took $((SECONDS - started)) s after the stack was up"
if ((${#failed[@]})); then
  say "FAILED: ${failed[*]} (logs in $RUN_DIR/logs)"
  exit 1
fi
say "every step passed"
