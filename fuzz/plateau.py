#!/usr/bin/env python3
"""Run one cargo-fuzz target until its coverage stops growing, then report.

A target has plateaued when libFuzzer's edge coverage (`cov:`) has not grown for
`--flat` seconds. The run stops there (or at `--max`), and one summary line is printed:
executions, final coverage and features, when coverage last grew, crashes.

    cd fuzz && python3 plateau.py decode --flat 600 --max 3600

Crash inputs land in fuzz/artifacts/<target>/ as usual; keep each one in
fuzz/regressions/<target>/ once fixed.
"""

import argparse
import os
import re
import signal
import subprocess
import queue
import sys
import threading
import time

STATUS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("--flat", type=int, default=600, help="seconds without new coverage that count as a plateau")
    parser.add_argument("--max", type=int, default=3600, help="hard limit in seconds")
    parser.add_argument("--log", help="file to keep libFuzzer's full output in")
    args = parser.parse_args()

    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    command = ["cargo", "fuzz", "run", "-O", args.target, "--", f"-max_total_time={args.max}", "-print_final_stats=1"]
    # A dictionary of the input language's tokens (fuzz/dicts/<target>.dict), when there is one.
    dictionary = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dicts", f"{args.target}.dict")
    if os.path.exists(dictionary):
        command.append(f"-dict={dictionary}")
    log = open(args.log or os.devnull, "w")
    fuzzer = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=log, env=env, text=True, errors="replace", start_new_session=True)

    started = None
    last_growth = None
    growth = []  # (seconds since start, edges) at every increase: the coverage curve
    cov = ft = execs = 0
    crashed = False
    reason = "max time"
    eof = False
    # libFuzzer prints only on progress (and at powers of two), so the clock is checked
    # on a timeout too: a flat run may print nothing at all.
    lines = queue.Queue()

    def forward():
        for text in fuzzer.stderr:
            lines.put(text)
        lines.put(None)

    threading.Thread(target=forward, daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=5)
        except queue.Empty:
            line = ""
        if line is None:
            eof = True
            break
        now = time.monotonic()
        if started is not None and now - last_growth >= args.flat:
            reason = f"plateau: no new coverage for {args.flat} s"
            os.killpg(fuzzer.pid, signal.SIGINT)  # cargo and the fuzzer it started
            break
        log.write(line)
        if "ERROR: libFuzzer" in line or "panicked at" in line or "==ERROR" in line:
            crashed = True
        match = STATUS.match(line)
        if not match:
            continue
        execs, kind = int(match.group(1)), match.group(2)
        new_cov, ft = int(match.group(3)), int(match.group(4))
        if started is None and kind == "INITED":
            started = last_growth = now
            cov = new_cov
            growth.append((0.0, cov))
            print(f"{args.target}: corpus loaded, cov {cov} ft {ft}", file=sys.stderr, flush=True)
            continue
        if started is None:
            continue
        if new_cov > cov:
            cov, last_growth = new_cov, now
            growth.append((now - started, cov))
    # Drain the rest (final stats) and wait.
    while not eof and (line := lines.get()) is not None:
        log.write(line)
        if "ERROR: libFuzzer" in line or "panicked at" in line:
            crashed = True
        match = re.match(r"^stat::number_of_executed_units:\s+(\d+)", line)
        if match:
            execs = int(match.group(1))
    code = fuzzer.wait()
    elapsed = time.monotonic() - started if started else 0
    grew_at = last_growth - started if started else 0
    print(
        f"{args.target}: {execs} executions in {elapsed:.0f} s, cov {cov} ft {ft}, "
        f"coverage last grew at {grew_at:.0f} s, stopped by {reason}, "
        f"{'CRASH (see fuzz/artifacts)' if crashed else 'no crash'}, exit {code}",
        flush=True,
    )
    if started:
        print(f"{args.target}: edges by time: {curve(growth, elapsed)}", flush=True)
    return 1 if crashed else 0


def curve(growth, elapsed):
    """Edges reached at each quarter of the run, to show how fast coverage was still growing."""
    marks = []
    for quarter in (1, 2, 3, 4):
        at = elapsed * quarter / 4
        reached = [edges for seconds, edges in growth if seconds <= at]
        marks.append(f"{at:.0f} s {reached[-1]}")
    return f"0 s {growth[0][1]}, " + ", ".join(marks)


if __name__ == "__main__":
    sys.exit(main())
