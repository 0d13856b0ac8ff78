#!/usr/bin/env bash
# Latency at fixed offered load (issue 9, Deliver 1): a cluster sends reviews at a rate, and
# a saturation run (bench/load.sh) hides queueing. For each case and rate, the server runs
# pinned to core 0 and oha (crates.io; `cargo install --locked oha`) pinned to core 1 sends
# exactly RATE reviews/s over 32 keep-alive HTTPS connections with --latency-correction
# (latency counted from when each request was due, so a stall is not hidden by the requests
# it delayed: no coordinated omission). Reports p50, p99, p99.9, max, the rate achieved,
# non-200 answers, errors (requests still open when the run's time is up are not errors)
# and the server's CPU µs per review.
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

oha_run() { # path body-file rate seconds
    taskset -c 1 "$OHA" --no-tui --insecure --output-format json -c "$CONNS" -z "$4s" \
        -q "$3" --latency-correction -m POST -T application/json -D "$2" \
        "https://127.0.0.1:$PORT$1"
}

run_rate() { # name path body-file rate
    local name="$1" path="$2" body="$3" rate="$4" t0 t1 hz json
    hz=$(getconf CLK_TCK)
    oha_run "$path" "$body" "$rate" 2 >/dev/null # warm-up, not measured
    t0=$(cpu_ticks "$SERVER_PID")
    json=$(oha_run "$path" "$body" "$rate" "$DURATION")
    t1=$(cpu_ticks "$SERVER_PID")
    python3 - "$name" "$rate" "$((t1 - t0))" "$hz" <<PY
import json, sys
name, rate, ticks, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = json.loads('''$json''')
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
ok = codes.get("200", 0)
total = sum(codes.values())
errors = sum(v for k, v in r.get("errorDistribution", {}).items() if "deadline" not in k)
ms = lambda v: f"{v * 1000:.2f}"
cpu = ticks / hz * 1e6 / max(total, 1)
print(f"{name:<30} {rate:>6} {s['requestsPerSec']:>9.0f} {ms(p['p50']):>7} {ms(p['p99']):>7} "
      f"{ms(p['p99.9']):>7} {ms(s['slowest']):>7} {total - ok:>5} {errors:>5} {cpu:>7.1f}")
PY
}

printf "%-30s %6s %9s %7s %7s %7s %7s %5s %5s %7s\n" case rate "got/s" "p50 ms" "p99 ms" \
    "p99.9" "max ms" non200 errs "cpu µs"

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
