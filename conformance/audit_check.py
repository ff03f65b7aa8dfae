"""Reads a seqhound audit directory back with DuckDB and checks it against what it must
hold, derived without seqhound's code:

* the alert documents seqhound printed (Elastic format): every shell alert is one
  `alert_id` of the `detections` table, with exactly its building blocks' ids and events;
* the input NDJSON, evaluated here with an independent implementation of the seed rule's
  stage conditions: the `candidates` table holds exactly the events matching each stage
  (with their join keys present);
* the input NDJSON again: the `events` table holds every line, verbatim, once.

usage: audit_check.py SCOPE AUDIT_DIR INPUT_NDJSON ALERTS_NDJSON
Prints one line per check; exits 1 on the first mismatch.
"""
import fnmatch
import json
import sys

import duckdb

scope, audit, input_path, alerts_path = sys.argv[1:5]


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def table(name):
    return f"read_parquet('{audit}/{name}/**/*.parquet', hive_partitioning=true)"


def get(doc, path):
    """ECS lookup: nested objects and flat dotted keys are the same field."""
    if path in doc:
        return doc[path]
    parts = path.split(".")
    for i in range(1, len(parts)):
        head, rest = ".".join(parts[:i]), ".".join(parts[i:])
        if isinstance(doc.get(head), dict):
            v = get(doc[head], rest)
            if v is not None:
                return v
    return None


def values(doc, path):
    v = get(doc, path)
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def eq(doc, path, want):  # `==` on a keyword: case-sensitive, any value of an array
    return any(isinstance(v, str) and v == want for v in values(doc, path))


def like(doc, path, patterns):  # `:` : case-insensitive wildcard match
    return any(
        isinstance(v, str) and any(fnmatch.fnmatchcase(v.lower(), p.lower()) for p in patterns)
        for v in values(doc, path)
    )


def key(doc, path):
    vs = values(doc, path)
    return str(vs[0]) if len(vs) == 1 else None


def stage0(d):
    return (eq(d, "event.category", "process") and eq(d, "host.os.type", "macos") and eq(d, "event.type", "start")
            and eq(d, "event.action", "exec") and like(d, "process.parent.name", ["installer", "package_script_service"])
            and like(d, "process.name", ["bash", "sh", "zsh", "python", "osascript", "tclsh*"]))


def stage1(d):
    return (eq(d, "event.category", "network") and eq(d, "host.os.type", "macos") and eq(d, "event.type", "start")
            and like(d, "process.name", ["curl", "osascript", "wget", "python", "java", "ruby", "node"]))


# ── detections: against the alert documents ─────────────────────────────────────
alerts = [json.loads(l) for l in open(alerts_path) if l.strip()]
shells = {a["kibana.alert.uuid"] for a in alerts if a.get("kibana.alert.depth") == 2}
blocks = {(a["kibana.alert.group.id"], a["kibana.alert.uuid"], a["kibana.alert.group.index"]) for a in alerts if a.get("kibana.alert.depth") == 1 and "kibana.alert.group.id" in a}
rows = duckdb.sql(f"select alert_id, building_block_alert_id, stage, rule_id from {table('detections')}").fetchall()
if {r[0] for r in rows} != shells:
    fail(f"detections: {len({r[0] for r in rows})} alert ids in Parquet, {len(shells)} shell alerts printed")
if {(r[0], r[1], r[2]) for r in rows} != blocks or len(rows) != len(blocks):
    fail(f"detections: {len(rows)} rows do not match the {len(blocks)} building-block alerts")
if {r[3] for r in rows} - {"99239e7d-b0d4-46e3-8609-acafcf99f68c"}:
    fail("detections: unexpected rule ids")
print(f"ok detections: {len(shells)} detections, {len(rows)} rows match the printed alerts")

lines = [l.rstrip("\r\n") for l in open(input_path, encoding="utf-8") if l.strip()]
docs = [json.loads(l) for l in lines]

# ── candidates: against an independent evaluation of the stage conditions ──────
if scope in ("candidates", "all"):
    expected = {}
    for d in docs:
        host = key(d, "host.id")
        for stage, cond, by in ((0, stage0, "process.entity_id"), (1, stage1, "process.parent.entity_id")):
            k = key(d, by)
            if cond(d) and host is not None and k is not None:
                t = (stage, host, k, get(d, "event.id"))
                expected[t] = expected.get(t, 0) + 1
    got = {}
    for stage, keys, eid in duckdb.sql(f"select stage, join_keys, event_id from {table('candidates')}").fetchall():
        t = (stage, keys[0], keys[1], eid)
        got[t] = got.get(t, 0) + 1
    if got != expected:
        missing = [t for t in expected if t not in got][:3]
        extra = [t for t in got if t not in expected][:3]
        fail(f"candidates: {sum(got.values())} rows, {sum(expected.values())} expected; missing {missing} extra {extra}")
    print(f"ok candidates: {sum(got.values())} rows = the events matching each stage with their join keys")
else:
    n = duckdb.sql(f"select count(*) from glob('{audit}/candidates/**/*.parquet')").fetchall()[0][0]
    if n:
        fail("candidates written outside their scope")

# ── events: every line, verbatim, once ───────────────────────────────────────────
if scope == "all":
    raws = [r[0] for r in duckdb.sql(f"select raw from {table('events')}").fetchall()]
    if sorted(raws) != sorted(lines):
        fail(f"events: {len(raws)} raw rows differ from the {len(lines)} input lines")
    hosts = duckdb.sql(f"select \"host.id\"[1], raw from {table('events')} using sample 200 rows").fetchall()
    for h, raw in hosts:
        if h != key(json.loads(raw), "host.id"):
            fail(f"events: host.id column {h!r} differs from the raw event")
    parts = duckdb.sql(f"select count(*) from {table('events')} where strftime(event_time, '%Y-%m-%d') <> cast(dt as varchar) or hour(event_time) <> hour").fetchall()[0][0]
    if parts:
        fail(f"events: {parts} rows in the wrong dt/hour partition")
    print(f"ok events: {len(raws)} rows = the input lines, projected columns agree, partitions by event hour")
