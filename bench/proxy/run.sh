#!/usr/bin/env bash
# mcp-policy proxy beside the bridges people would pick instead, measured in
# ONE run on 127.0.0.1 with ONE load client (crates/proxy/examples/load.rs)
# and one stdio server (@modelcontextprotocol/server-everything). See
# docs/proxy.md ("Benchmark") and docs/PERFORMANCE.md for the figures.
#
#   bench/proxy/run.sh                 # about 8 minutes with the defaults
#   SECONDS_PER_LEVEL=5 LEVELS="1 16" bench/proxy/run.sh
#
# Parameters (environment):
#   SECONDS_PER_LEVEL  seconds of calls at each concurrency level (10)
#   LEVELS             concurrent sessions, each level a separate run ("1 16 64")
#   IDLE               idle session counts for the memory figure ("100 1000")
#   OPEN               sessions opened for the opening time (100)
#   TARGETS            which call targets, a subset of the default list
#   SECTIONS           which parts run ("calls open idle example")
#   SKIP_BUILD=1       use the release binaries already built
#   SKIP_INSTALL=1     use node_modules and .venv as they are
#
# Output: one JSON line per figure on stdout and in
# bench/proxy/results/<UTC time>.jsonl; the servers' logs beside it. A peer
# that cannot be installed or started gets a line with "error" and the run
# goes on.
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SECONDS_PER_LEVEL="${SECONDS_PER_LEVEL:-10}"
LEVELS="${LEVELS:-1 16 64}"
IDLE="${IDLE:-100 1000}"
OPEN="${OPEN:-100}"
TARGETS="${TARGETS:-direct ours-stdio ours-stdio-shared ours-http supergateway mcp-proxy-pypi mcp-proxy-npm}"
SECTIONS="${SECTIONS:-calls open idle example}"
PYPI_MCP_PROXY="mcp-proxy==0.13.0"

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT_DIR="$HERE/results/$STAMP"
mkdir -p "$OUT_DIR"
OUT="$OUT_DIR/results.jsonl"

BIN="$ROOT/target/release/mcp-policy"
EXAMPLE="$ROOT/target/release/github-mcp-example"
LOAD="$ROOT/target/release/examples/load"
EVERYTHING="$HERE/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
JWKS="$ROOT/examples/github-server/dev-keys/jwks.json"
ISSUER="https://auth.example.com"

# 1,000 sessions, each on a connection of its own, need the descriptors.
ulimit -n 16384 2>/dev/null || ulimit -n 4096 2>/dev/null || true

emit() { echo "$1" | tee -a "$OUT"; }
note() { echo "# $*" >&2; }

# ---------- install and build ----------
if [[ -z "${SKIP_INSTALL:-}" ]]; then
    note "npm ci (pinned: package-lock.json)"
    (cd "$HERE" && npm ci --no-audit --no-fund >"$OUT_DIR/npm.log" 2>&1) ||
        note "npm ci failed: see $OUT_DIR/npm.log"
    note "venv + $PYPI_MCP_PROXY"
    (cd "$HERE" && { [[ -x .venv/bin/pip ]] || python3 -m venv .venv; } &&
        .venv/bin/pip install -q "$PYPI_MCP_PROXY" >"$OUT_DIR/pip.log" 2>&1) ||
        note "pip install failed: see $OUT_DIR/pip.log"
fi
if [[ -z "${SKIP_BUILD:-}" ]]; then
    note "cargo build --release"
    (cd "$ROOT" && cargo build --release -p mcp-policy-cli -p github-mcp-example &&
        cargo build --release -p mcp-policy-proxy --example load) >"$OUT_DIR/build.log" 2>&1 ||
        { note "build failed: see $OUT_DIR/build.log"; exit 1; }
fi

# ---------- processes ----------
# Each server runs in a process group of its own (setsid), so that stopping
# it ends its children too (a bridge's stdio servers), and only them.
declare -A PIDS=()
start() { # name port cmd...
    local name="$1" port="$2"
    shift 2
    if port_open "$port"; then
        note "port $port is taken; $name not started"
        return 1
    fi
    setsid "$@" >"$OUT_DIR/$name.log" 2>&1 &
    PIDS[$name]=$!
    for _ in $(seq 1 200); do
        port_open "$port" && return 0
        kill -0 "${PIDS[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    note "$name did not listen on $port (see $OUT_DIR/$name.log)"
    stop "$name"
    return 1
}
stop() {
    local pid="${PIDS[$1]:-}"
    [[ -n "$pid" ]] || return 0
    # supergateway starts its children detached (a process group each), so
    # they are found by parentage, not by group.
    local family
    family="$(descendants "$pid")"
    kill -TERM -- "-$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
    # shellcheck disable=SC2086
    [[ -n "$family" ]] && kill -KILL $family 2>/dev/null
    unset "PIDS[$1]"
}
# Every process below $1, by parentage.
descendants() {
    local children pid
    children="$(pgrep -P "$1" 2>/dev/null)"
    for pid in $children; do
        echo "$pid"
        descendants "$pid"
    done
}
stop_all() { for name in "${!PIDS[@]}"; do stop "$name"; done; }
trap stop_all EXIT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# A process and all its descendants, in kB: a bridge with its children.
tree_rss_kb() {
    local total pid
    total="$(rss_kb "$1")"
    for pid in $(descendants "$1"); do total=$((total + $(rss_kb "$pid"))); done
    echo "$total"
}
tree_count() { echo $(($(descendants "$1" | wc -l) + 1)); }

token_for() { # audience
    "$EXAMPLE" mint-dev-token --scopes "mcp:read" --audience "$1" --ttl 7200 2>/dev/null
}

proxy() { # name port policy upstream-args...
    local name="$1" port="$2" policy="$3"
    shift 3
    start "$name" "$port" "$BIN" proxy --bind "127.0.0.1:$port" --issuer "$ISSUER" \
        --jwks "$JWKS" --policy "$policy" \
        --max-connections 4096 --max-sessions 4000 --max-sessions-per-principal 4000 "$@"
}

calls() { # label url token [extra load args...]
    local label="$1" url="$2" token="$3"
    shift 3
    local auth=()
    [[ -n "$token" ]] && auth=(--token "$token")
    for n in $LEVELS; do
        local line
        line="$("$LOAD" calls "$url" --sessions "$n" --seconds "$SECONDS_PER_LEVEL" \
            --concurrency 16 --label "$label" "${auth[@]}" "$@" 2>>"$OUT_DIR/load.log")"
        [[ -n "$line" ]] || line="{\"label\":\"$label\",\"sessions\":$n,\"error\":\"the load client failed\"}"
        emit "$line"
    done
}

unavailable() { emit "{\"label\":\"$1\",\"error\":\"$2\"}"; }

P_DIRECT=39201 P_STDIO=39202 P_SHARED=39203 P_HTTP=39204 P_SG=39205 P_PYPI=39206 P_NPM=39207
P_EX=39211 P_EX_STDIO=39212 P_EX_HTTP=39213 P_IDLE=39221

note "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
emit "{\"label\":\"run\",\"utc\":\"$STAMP\",\"cores\":$(nproc),\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"seconds_per_level\":$SECONDS_PER_LEVEL,\"node\":\"$(node --version)\"}"

# ---------- tools/call echo, every target ----------
POLICY="$HERE/everything.mcppolicy"
STDIO_CMD=(node "$EVERYTHING" stdio)
[[ " $SECTIONS " == *" calls "* ]] || TARGETS=""
for target in $TARGETS; do
    case "$target" in
    direct)
        if start direct "$P_DIRECT" env PORT="$P_DIRECT" node "$EVERYTHING" streamableHttp; then
            calls direct "http://127.0.0.1:$P_DIRECT/mcp" ""
            stop direct
        else unavailable direct "server-everything did not start"; fi
        ;;
    ours-stdio | ours-stdio-shared)
        port=$P_STDIO mode=per-session
        [[ "$target" == ours-stdio-shared ]] && port=$P_SHARED mode=shared
        if proxy "$target" "$port" "$POLICY" --stdio-mode "$mode" -- "${STDIO_CMD[@]}"; then
            calls "$target" "http://127.0.0.1:$port/mcp" "$(token_for "http://127.0.0.1:$port/mcp")"
            stop "$target"
        else unavailable "$target" "the proxy did not start"; fi
        ;;
    ours-http)
        if start direct-upstream "$P_DIRECT" env PORT="$P_DIRECT" node "$EVERYTHING" streamableHttp &&
            proxy ours-http "$P_HTTP" "$POLICY" --upstream "http://127.0.0.1:$P_DIRECT/mcp"; then
            calls ours-http "http://127.0.0.1:$P_HTTP/mcp" "$(token_for "http://127.0.0.1:$P_HTTP/mcp")"
        else unavailable ours-http "the proxy or its upstream did not start"; fi
        stop ours-http
        stop direct-upstream
        ;;
    supergateway)
        if start supergateway "$P_SG" "$HERE/node_modules/.bin/supergateway" \
            --stdio "node $EVERYTHING stdio" --outputTransport streamableHttp --stateful \
            --port "$P_SG" --logLevel none; then
            calls supergateway "http://127.0.0.1:$P_SG/mcp" ""
            stop supergateway
        else unavailable supergateway "not installed or did not start (see its log)"; fi
        ;;
    mcp-proxy-pypi)
        if [[ -x "$HERE/.venv/bin/mcp-proxy" ]] &&
            start mcp-proxy-pypi "$P_PYPI" "$HERE/.venv/bin/mcp-proxy" --port "$P_PYPI" \
                --host 127.0.0.1 --log-level WARNING -- "${STDIO_CMD[@]}"; then
            calls mcp-proxy-pypi "http://127.0.0.1:$P_PYPI/mcp" ""
            stop mcp-proxy-pypi
        else unavailable mcp-proxy-pypi "not installed or did not start (see its log)"; fi
        ;;
    mcp-proxy-npm)
        if start mcp-proxy-npm "$P_NPM" "$HERE/node_modules/.bin/mcp-proxy" --port "$P_NPM" \
            --host 127.0.0.1 --server stream -- "${STDIO_CMD[@]}"; then
            calls mcp-proxy-npm "http://127.0.0.1:$P_NPM/mcp" ""
            stop mcp-proxy-npm
        else unavailable mcp-proxy-npm "not installed or did not start (see its log)"; fi
        ;;
    *) note "unknown target $target" ;;
    esac
done

# ---------- time to open sessions, one child each: ours against supergateway ----------
# The sessions are held while the bridge's memory (its children included)
# is read, then let go.
open_held() { # label name url [token]
    local label="$1" name="$2" url="$3" token="${4:-}" auth=() fifo="$OUT_DIR/open.fifo" line
    [[ -n "$token" ]] && auth=(--token "$token")
    rm -f "$fifo" && mkfifo "$fifo"
    "$LOAD" idle "$url" --sessions "$OPEN" --concurrency 16 --hold 600 --label "$label" \
        "${auth[@]}" >"$fifo" 2>>"$OUT_DIR/load.log" &
    local load_pid=$!
    read -r line <"$fifo"
    emit "${line%\}},\"rss_kb_with_children\":$(tree_rss_kb "${PIDS[$name]}"),\"processes\":$(tree_count "${PIDS[$name]}")}"
    kill "$load_pid" 2>/dev/null
    wait "$load_pid" 2>/dev/null
}
if [[ " $SECTIONS " == *" open "* ]]; then
    if proxy open-ours "$P_STDIO" "$POLICY" -- "${STDIO_CMD[@]}"; then
        open_held open-ours-stdio open-ours "http://127.0.0.1:$P_STDIO/mcp" \
            "$(token_for "http://127.0.0.1:$P_STDIO/mcp")"
        stop open-ours
    else unavailable open-ours-stdio "the proxy did not start"; fi
    if start open-sg "$P_SG" "$HERE/node_modules/.bin/supergateway" --stdio "node $EVERYTHING stdio" \
        --outputTransport streamableHttp --stateful --port "$P_SG" --logLevel none; then
        open_held open-supergateway open-sg "http://127.0.0.1:$P_SG/mcp"
        stop open-sg
    else unavailable open-supergateway "did not start"; fi
fi

# ---------- the proxy's own memory with idle sessions (HTTP upstream: no children) ----------
EX_TOKEN_FILE="$OUT_DIR/upstream-headers"
[[ " $SECTIONS " == *" idle "* ]] || IDLE=""
if [[ " $SECTIONS " == *" idle "* || " $SECTIONS " == *" example "* ]] && start idle-upstream "$P_EX" "$EXAMPLE" --bind "127.0.0.1:$P_EX" --jwks "$JWKS" \
    --policy "$ROOT/examples/github.mcppolicy" --max-connections 4096 \
    --max-sessions 4000 --max-sessions-per-principal 4000; then
    printf 'Authorization: Bearer %s\n' "$(token_for "http://127.0.0.1:$P_EX/mcp")" >"$EX_TOKEN_FILE"
    for n in $IDLE; do
        if proxy idle-proxy "$P_IDLE" "$ROOT/examples/github.mcppolicy" \
            --upstream "http://127.0.0.1:$P_EX/mcp" --upstream-header-file "$EX_TOKEN_FILE"; then
            pid="${PIDS[idle-proxy]}"
            before="$(rss_kb "$pid")"
            fifo="$OUT_DIR/idle.fifo"
            rm -f "$fifo" && mkfifo "$fifo"
            "$LOAD" idle "http://127.0.0.1:$P_IDLE/mcp" --sessions "$n" --concurrency 32 --hold 600 \
                --token "$(token_for "http://127.0.0.1:$P_IDLE/mcp")" --label "idle-$n" \
                >"$fifo" 2>>"$OUT_DIR/load.log" &
            load_pid=$!
            read -r opened <"$fifo"
            sleep 1
            after="$(rss_kb "$pid")"
            kill "$load_pid" 2>/dev/null
            wait "$load_pid" 2>/dev/null
            emit "${opened%\}},\"proxy_rss_kb_before\":$before,\"proxy_rss_kb_after\":$after,\"kb_per_session\":$(((after - before) / n))}"
            stop idle-proxy
        fi
    done
elif [[ " $SECTIONS " == *" idle "* || " $SECTIONS " == *" example "* ]]; then
    unavailable example-server "the example server did not start"
fi

# ---------- the example server: its own layer, over HTTP, against the proxy ----------
# direct: the example with its own policy layer, over HTTP;
# proxy-stdio: mcp-policy proxy -- github-mcp-example --stdio;
# proxy-http: mcp-policy proxy in front of the example over HTTP (the example
#   still checks its own token, sent from --upstream-header-file).
# The call is list_users, allowed for mcp:read, with the same token each
# time (cached after the first).
EX_ARGS=(--tool list_users --args '{}')
LEVELS_SAVED="$LEVELS"
LEVELS="${EXAMPLE_LEVELS:-1 16}"
if [[ " $SECTIONS " == *" example "* ]] && port_open "$P_EX"; then
    calls example-direct "http://127.0.0.1:$P_EX/mcp" "$(token_for "http://127.0.0.1:$P_EX/mcp")" "${EX_ARGS[@]}"
    if proxy example-proxy-http "$P_EX_HTTP" "$ROOT/examples/github.mcppolicy" \
        --upstream "http://127.0.0.1:$P_EX/mcp" --upstream-header-file "$EX_TOKEN_FILE"; then
        calls example-proxy-http "http://127.0.0.1:$P_EX_HTTP/mcp" \
            "$(token_for "http://127.0.0.1:$P_EX_HTTP/mcp")" "${EX_ARGS[@]}"
        stop example-proxy-http
    fi
fi
stop idle-upstream
if [[ " $SECTIONS " == *" example "* ]] && proxy example-proxy-stdio "$P_EX_STDIO" "$ROOT/examples/github.mcppolicy" -- "$EXAMPLE" --stdio; then
    calls example-proxy-stdio "http://127.0.0.1:$P_EX_STDIO/mcp" \
        "$(token_for "http://127.0.0.1:$P_EX_STDIO/mcp")" "${EX_ARGS[@]}"
    stop example-proxy-stdio
fi
LEVELS="$LEVELS_SAVED"

emit "{\"label\":\"done\",\"utc\":\"$(date -u +%Y%m%dT%H%M%SZ)\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
note "results: $OUT"
