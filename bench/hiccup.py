#!/usr/bin/env python3
"""How long the machine itself stalls a runnable thread (issue 9, Deliver 1).

A p99 target at a fixed rate cannot be met by any server when the core it runs on is taken
away for longer than the target often enough. This meter (after Gil Tene's jHiccup) runs no
server at all: it sleeps INTERVAL in a loop on one core and records by how much each wake-up
came late. For a stream of requests arriving at a constant rate, a stall of h ms delays every
request that arrives in its first h - 1 ms by more than 1 ms, so

    share of requests late by > 1 ms  >=  sum(max(0, h - 1 ms)) / run time

before any queueing behind the stall is counted. It also reads the core's steal time (time the
hypervisor ran something else) from /proc/stat.

Usage: taskset -c 0 python3 bench/hiccup.py [seconds] [core]   (default 10 s, core 0)
"""

import sys
import time


def steal_ticks(core: str) -> int:
    with open("/proc/stat") as f:
        for line in f:
            fields = line.split()
            if fields[0] == f"cpu{core}":
                return int(fields[8])
    raise SystemExit(f"no cpu{core} line in /proc/stat")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    core = sys.argv[2] if len(sys.argv) > 2 else "0"
    interval = 0.0002  # 200 µs: short next to the 1 ms target, long next to Python's loop
    hz = 100  # USER_HZ on Linux
    late = []
    steal0 = steal_ticks(core)
    start = time.perf_counter()
    end = start + seconds
    now = start
    while now < end:
        before = now
        time.sleep(interval)
        now = time.perf_counter()
        late.append(now - before - interval)
    elapsed = now - start
    steal = (steal_ticks(core) - steal0) / hz
    late.sort()
    n = len(late)

    def pct(p: float) -> float:
        return late[min(n - 1, int(p * n))] * 1000

    over = lambda ms: sum(1 for x in late if x > ms / 1000)
    excess = sum(max(0.0, x - 0.001) for x in late)
    print(f"{n} wake-ups in {elapsed:.1f} s on core {core}; lateness ms: p50 {pct(0.5):.3f} "
          f"p99 {pct(0.99):.3f} p99.9 {pct(0.999):.3f} max {late[-1] * 1000:.2f}")
    print(f"stalls > 1 ms: {over(1)}, > 5 ms: {over(5)}, > 20 ms: {over(20)}; "
          f"steal time on core {core}: {steal:.2f} s ({100 * steal / elapsed:.2f} %)")
    print(f"share of a constant-rate stream late by > 1 ms from stalls alone: "
          f"{100 * excess / elapsed:.3f} % (p99 <= 1 ms needs < 1 %)")


if __name__ == "__main__":
    main()
