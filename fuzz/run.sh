#!/usr/bin/env bash
# Bounded libFuzzer runs of every target (or the ones named): `fuzz/run.sh SECONDS [target...]`.
# With FUZZ_RUNS=N, each target instead runs N inputs from seed FUZZ_SEED (default 1): the same
# code and corpus then explore the same inputs on every machine, so a CI run fails only on
# what a local run of the same commit also finds.
# New inputs go to a scratch corpus ($FUZZ_WORK, default a temp dir); the committed corpus
# (fuzz/corpus/<target>) is read, never written. A crash fails the script and leaves its
# input in fuzz/artifacts/<target>/. Prints per target: runs, exec/s, CPU seconds.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?seconds per target}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^winkube-fuzz$')
fi
work=${FUZZ_WORK:-$(mktemp -d)}
# Safe Rust: no sanitizer (ASan finds nothing unsafe code could not), overflow and debug
# assertions on.
flags=(-s none -a)
if [ -n "${FUZZ_RUNS:-}" ]; then
    bound=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
else
    bound=(-max_total_time="$secs")
fi
cargo +nightly fuzz build "${flags[@]}"
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    log="$work/$t.log"
    start=$(date +%s)
    /usr/bin/time -f "%U %S" -o "$work/$t.time" \
        cargo +nightly fuzz run "${flags[@]}" "$t" "$work/$t" "corpus/$t" -- \
        "${bound[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || {
        echo "FAIL $t: see $log and artifacts/$t"; grep -m3 -A3 "panicked" "$log" || true; tail -40 "$log"; exit 1; }
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cpu=$(awk '{printf "%.1f", $1 + $2}' "$work/$t.time")
    wall=$(( $(date +%s) - start ))
    echo "$t: ${runs:-?} runs, ${eps:-?} exec/s, ${cpu} CPU s, ${wall} s wall, $(ls "$work/$t" | wc -l) new inputs"
done
