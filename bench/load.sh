#!/usr/bin/env bash
# Load benchmark of the admission server, loopback only, bounded in time.
#
# Builds release binaries, then for each case starts a server pinned to core 0 and drives it
# with wrk pinned to core 1 (32 keep-alive connections, POSTing an AdmissionReview):
#   bare       examples/bare_tls: the same rustls/hyper stack returning a fixed body (baseline)
#   mutate     `winkube webhook --state DIR` with N credspecs, /mutate inlining credspec-0
#   validate   same server, /validate of an authorized pod (local RBAC evaluation)
#   windows    `winkube webhook --windows-policies --offline`, /mutate-windows of a Windows pod
# for N = 10 and N = 10000, then the live view's memory with N credspecs (examples/live_rss). Reports reviews/s, p50/p99 latency, server CPU µs per review
# (utime+stime delta from /proc/PID/stat divided by requests) and peak RSS (VmHWM).
#
# Usage: [WINKUBE_BIN=path | WINKUBE_BIN_DIR=dir] bench/load.sh [seconds-per-case]
#        (default 10 s; needs wrk, openssl, taskset, python3)
set -euo pipefail

DURATION="${1:-10}"
CONNS=32
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install -y wrk)" >&2; exit 2; }
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"

cat > "$WORK/post.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA

run_case() { # name path body-file
    local name="$1" path="$2" body="$3"
    local t0 out reqs t1 ticks hz
    hz=$(getconf CLK_TCK)
    # Warm-up (connections, caches), not measured.
    BODY_FILE="$body" taskset -c 1 wrk -t1 -c"$CONNS" -d2s -s "$WORK/post.lua" "https://127.0.0.1:$PORT$path" >/dev/null
    t0=$(cpu_ticks "$SERVER_PID")
    out=$(BODY_FILE="$body" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/post.lua" "https://127.0.0.1:$PORT$path")
    t1=$(cpu_ticks "$SERVER_PID")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    local rps p50 p99 errors
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    ticks=$((t1 - t0))
    local us
    us=$(python3 -c "print(f'{($ticks / $hz) * 1e6 / max($reqs, 1):.1f}')")
    printf "%-28s %10s %9s %9s %12s %10s  %s\n" "$name" "$rps" "$p50" "$p99" "$us" "$(hwm_kib "$SERVER_PID")" "$errors"
}

printf "%-28s %10s %9s %9s %12s %10s\n" "case" "reviews/s" "p50" "p99" "cpu µs/req" "VmHWM KiB"

start_bare
run_case "bare TLS (fixed body)" /mutate "$WORK/mutate.json"
stop_server

for n in 10 10000; do
    start_winkube "$WORK/state-$n"
    run_case "winkube mutate ($n credspecs)" /mutate "$WORK/mutate.json"
    run_case "winkube validate ($n cs)" /validate "$WORK/validate.json"
    stop_server
done

# The Windows policies (the costliest path: the pod decoded whole, every policy, a JSON Patch).
start_winkube "$WORK/state-windows" --windows-policies --offline
run_case "winkube Windows policies" /mutate-windows "$WORK/windows.json"
stop_server

# Memory of the live view (no load): a LiveView synced with the testkit stand-in, which runs
# in a child process so that its store is not counted. Lists are paged by 100 (the watch
# caches' page size).
for n in 10 10000; do
    printf "%-28s %s\n" "LiveView RSS ($n cs)" "$(taskset -c 0 "$LIVE_RSS" "$n")"
done
