#!/usr/bin/env bash
# Latency at fixed offered load (issue 9, Deliver 1): a cluster sends reviews at a rate, and
# a saturation run (bench/load.sh) hides queueing. For each case and rate, the server runs
# pinned to core 0 and oha (crates.io; `cargo install --locked oha`) pinned to core 1 sends
# exactly RATE reviews/s over 32 keep-alive HTTPS connections with --latency-correction
# (latency counted from when each request was due, so a stall is not hidden by the requests
# it delayed: no coordinated omission). Reports, over the steady state (after the first
# second), p50, p99, p99.9, max and the rate answered (a request that failed or never got an
# answer is missing from it); non-200 answers; the slowest request of the first second,
# while the connections were set up; and the server's CPU µs per review.
#
# Cases: bare TLS (examples/bare_tls, the floor), winkube /mutate and /validate with 10 and
# 10,000 credspecs (file view: RBAC evaluated locally, as rbac-cache mode does), and the
# Windows policies (/mutate-windows, --windows-policies --offline, pinned image metadata).
#
# Usage: [WINKUBE_BIN_DIR=dir] bench/rate.sh [seconds-per-run] [rates...]
#        (default 10 s at 1000 5000 20000; needs oha, openssl, taskset, python3)
set -euo pipefail

DURATION="${1:-10}"
shift || true
RATES=("${@:-1000 5000 20000}")
read -r -a RATES <<<"${RATES[*]}"
CONNS=32
OHA="${OHA:-$(command -v oha || echo /work/tools/bin/oha)}"
[[ -x "$OHA" ]] || { echo "oha is missing (cargo install --locked oha)" >&2; exit 2; }
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"

# The first second of each measured run is left out of the figures: oha starts its clock before
# its 32 connections exist, so the TCP and TLS handshakes (up to ~50 ms for the last of them,
# once per connection; an API server keeps its connections alive) would otherwise count as the
# latency of every request scheduled meanwhile. That second is reported on its own (SETUP_MS:
# the slowest request in it); the steady-state figures cover the DURATION seconds after it.
SKIP=1

oha_run() { # path body-file rate seconds
    taskset -c 1 "$OHA" --no-tui --insecure --output-format csv -c "$CONNS" -z "$4s" \
        -q "$3" --latency-correction -m POST -T application/json -D "$2" \
        "https://127.0.0.1:$PORT$1"
}

run_rate() { # name path body-file rate
    local name="$1" path="$2" body="$3" rate="$4" t0 t1 hz
    hz=$(getconf CLK_TCK)
    oha_run "$path" "$body" "$rate" 2 >/dev/null # warm-up, not measured
    t0=$(cpu_ticks "$SERVER_PID")
    oha_run "$path" "$body" "$rate" "$((DURATION + SKIP))" >"$WORK/requests.csv"
    t1=$(cpu_ticks "$SERVER_PID")
    python3 - "$name" "$rate" "$((t1 - t0))" "$hz" "$SKIP" "$DURATION" "$WORK/requests.csv" <<'PY'
import csv, sys
name, rate, ticks, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
skip, duration, path = float(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
# oha's CSV: one row per answered request; request-start is seconds from the run's start and
# request-duration counts from when the request was due (--latency-correction).
steady, setup, non200, total = [], 0.0, 0, 0
with open(path) as f:
    for row in csv.DictReader(f):
        total += 1
        start, took = float(row["request-start"]), float(row["request-duration"])
        if row["status"] != "200":
            non200 += 1
        if start < skip:
            setup = max(setup, took)
        elif start < skip + duration:
            steady.append(took)
if not steady:
    sys.exit(f"{name} at {rate}/s: no request answered after the first {skip:.0f} s")
steady.sort()
n = len(steady)
pct = lambda p: steady[min(n - 1, int(p * n))]
ms = lambda v: f"{v * 1000:.2f}"
cpu = ticks / hz * 1e6 / max(total, 1)
print(f"{name:<30} {rate:>6} {n / duration:>9.0f} {ms(pct(0.5)):>7} {ms(pct(0.99)):>7} "
      f"{ms(pct(0.999)):>7} {ms(steady[-1]):>7} {non200:>5} {ms(setup):>8} {cpu:>7.1f}")
PY
}

printf "%-30s %6s %9s %7s %7s %7s %7s %5s %8s %7s\n" case rate "got/s" "p50 ms" "p99 ms" \
    "p99.9" "max ms" non200 "setup ms" "cpu µs"

start_bare
for rate in "${RATES[@]}"; do run_rate "bare TLS" /mutate "$WORK/mutate.json" "$rate"; done
stop_server

for n in 10 10000; do
    start_winkube "$WORK/state-$n"
    for rate in "${RATES[@]}"; do
        run_rate "mutate ($n credspecs)" /mutate "$WORK/mutate.json" "$rate"
        run_rate "validate ($n credspecs)" /validate "$WORK/validate.json" "$rate"
    done
    stop_server
done

start_winkube "$WORK/state-windows" --windows-policies --offline
for rate in "${RATES[@]}"; do
    run_rate "Windows policies" /mutate-windows "$WORK/windows.json" "$rate"
done
stop_server
