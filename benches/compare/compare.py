#!/usr/bin/env python3
"""seqhound side by side with a straightforward baseline and DuckDB, on one corpus.

    python3 benches/compare/compare.py [--events N] [--corpus FILE]

Builds seqhound and the baseline (release), generates the corpus unless one is given,
runs each contender, checks that all report the same detections (as event-id pairs) and
prints a table of times and ratios. Needs `pip install duckdb`.
"""
import argparse
import os
import platform
import re
import subprocess
import sys
import time

import duckdb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "seqhound")
BASELINE = os.path.join(ROOT, "target", "release", "examples", "baseline")


def spellings(path):
    """Every way a document can spell an ECS path: nested objects, flat dotted keys, mixed
    ({"event.id": …}, {"process": {"parent.name": …}}): one JSON path per split."""
    parts = path.split(".")
    out = []
    for mask in range(1 << (len(parts) - 1)):
        segs, cur = [], [parts[0]]
        for i, p in enumerate(parts[1:]):
            if mask >> i & 1:
                cur.append(p)
            else:
                segs.append(cur)
                cur = [p]
        segs.append(cur)
        out.append("$" + "".join('."' + ".".join(s) + '"' for s in segs))
    return out


def field(path):
    """The field's value as text (first spelling present)."""
    return "coalesce(" + ", ".join(f"json_extract_string(j, '{p}')" for p in spellings(path)) + ")"


def has(path, value):
    """Some value of the field (a string, or an element of an array) equals `value`."""
    return "(" + " OR ".join(f"has_value(j, '{p}', '{value}')" for p in spellings(path)) + ")"


def matches(path, condition):
    """Some value of the field satisfies `condition`, SQL over `v` (one value as text):
    any element of an array may match."""
    return "(" + " OR ".join(f"len(list_filter(field_values(j, '{p}'), lambda v: {condition})) > 0" for p in spellings(path)) + ")"


def seed_rule_sql(corpus):
    """The seed rule as SQL over NDJSON.

    EQL keeps, per join key, only the newest pending stage-1 event; a stage-2 event takes
    it and completes it when within maxspan. Over the key's stage events in
    Elasticsearch's order (@timestamp in ms, event.sequence, input position) a detection
    is therefore a stage-2 event whose predecessor is a stage-1 event at most 15 000 ms
    earlier."""
    corpus = corpus.replace("'", "''")
    return f"""
CREATE OR REPLACE MACRO field_values(j, path) AS
  coalesce(json_extract_string(j, path || '[*]'), []::VARCHAR[]) || [json_extract_string(j, path)];
CREATE OR REPLACE MACRO has_value(j, path, v) AS list_contains(field_values(j, path), v);
WITH lines AS (
  SELECT row_number() OVER () AS pos, json AS j FROM read_ndjson_objects('{corpus}')
),
events AS (
  SELECT pos,
    epoch_us(CAST({field('@timestamp')} AS TIMESTAMPTZ)) // 1000 AS ts,  -- truncated to ms, as Elasticsearch
    TRY_CAST({field('event.sequence')} AS BIGINT) AS seq,
    {field('event.id')} AS id,
    {field('host.id')} AS host,
    {field('process.entity_id')} AS entity,
    {field('process.parent.entity_id')} AS parent_entity,
    {matches('process.parent.name', "lower(v) IN ('installer', 'package_script_service')")}
      AND {matches('process.name', "lower(v) IN ('bash', 'sh', 'zsh', 'python', 'osascript') OR lower(v) LIKE 'tclsh%'")} AS stage1_names,
    {matches('process.name', "lower(v) IN ('curl', 'osascript', 'wget', 'python', 'java', 'ruby', 'node')")} AS stage2_names,
    {has('host.os.type', 'macos')} AND {has('event.type', 'start')} AS mac_start,
    {has('event.category', 'process')} AND {has('event.action', 'exec')} AS process_exec,
    {has('event.category', 'network')} AS network
  FROM lines
),
stages AS (
  SELECT pos, ts, seq, id, host, 1 AS stage, entity AS k FROM events
  WHERE mac_start AND process_exec AND stage1_names
    AND host IS NOT NULL AND entity IS NOT NULL
  UNION ALL
  SELECT pos, ts, seq, id, host, 2 AS stage, parent_entity AS k FROM events
  WHERE mac_start AND network AND stage2_names
    AND host IS NOT NULL AND parent_entity IS NOT NULL
),
ordered AS (
  SELECT *, lag(stage) OVER w AS prev_stage, lag(ts) OVER w AS prev_ts, lag(id) OVER w AS prev_id
  FROM stages
  WINDOW w AS (PARTITION BY host, k ORDER BY ts, seq NULLS LAST, pos)
)
SELECT prev_id || ',' || id FROM ordered
WHERE stage = 2 AND prev_stage = 1 AND ts - prev_ts <= 15000
"""


def timed(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t, out.stdout


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--corpus")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "seqhound", "--example", "baseline"], cwd=ROOT, check=True)
    corpus = args.corpus
    if corpus is None:
        corpus = os.path.join(ROOT, "target", f"compare-{args.events}.ndjson")
        if not os.path.exists(corpus):
            subprocess.run([BIN, "generate", "--seed", "1", "--hosts", "100", "--events", str(args.events), "--out", corpus], check=True)
    size = os.path.getsize(corpus)
    with open(corpus, "rb") as f:
        n_events = sum(1 for line in f if line.strip())
    # Warm the page cache so every contender reads from memory.
    subprocess.run(["cat", corpus], stdout=subprocess.DEVNULL, check=True)

    results = {}
    cores = os.cpu_count() or 1
    for threads in sorted({1, cores}):
        secs, out = timed([BIN, "replay", "--format", "compact", "--threads", str(threads), corpus])
        results[f"seqhound replay ({threads} thread{'s' if threads > 1 else ''})"] = (secs, sorted(re.findall(r"events=(\S+)", out)))
    secs, out = timed([BASELINE, corpus])
    results["baseline (serde_json, row at a time, 1 thread)"] = (secs, sorted(l for l in out.splitlines() if l))
    sql = seed_rule_sql(corpus)
    con = duckdb.connect()
    t = time.perf_counter()
    rows = con.execute(sql).fetchall()
    secs = time.perf_counter() - t
    results[f"DuckDB {duckdb.__version__} SQL ({cores} threads)"] = (secs, sorted(r[0] for r in rows))

    reference = next(iter(results.values()))[1]
    ok = True
    for name, (_, dets) in results.items():
        if dets != reference:
            ok = False
            print(f"MISMATCH: {name}: {len(dets)} detections, {len(set(dets) ^ set(reference))} differ", file=sys.stderr)
    first = next(iter(results.values()))[0]
    print(f"corpus: {n_events} events, {size / 1e6:.0f} MB; {len(reference)} detections; CPU: {cpu_model()}, {cores} cores")
    print()
    print("| contender | seconds | events/s | MB/s | time vs seqhound (1 thread) |")
    print("|---|---:|---:|---:|---:|")
    for name, (secs, _) in results.items():
        print(f"| {name} | {secs:.2f} | {n_events / secs:,.0f} | {size / 1e6 / secs:,.0f} | {secs / first:.1f}× |")
    print()
    print("same detections everywhere" if ok else "DETECTIONS DIFFER")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
