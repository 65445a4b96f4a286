"""A job's DDL on a current ClickHouse (chdb, ClickHouse in-process; used by scripts/release-checks.sh).

    job-schema-check.py TRANSFORMER JOB RECORDS [BODIES]

Runs `TRANSFORMER --job JOB schema --clickhouse-version current` into chdb, each Kafka table made a Memory table (chdb's
Kafka engine cannot run here) with the virtual columns kafka_handle_error_mode = 'stream' adds. Then the rows
`TRANSFORMER --job JOB run-job --input RECORDS` writes for each Kafka sink go into its Kafka table, and its view must
store exactly those rows, value by value: text, numbers, decimals, dates, timestamps to the millisecond, booleans,
BYTES decoded. The tables of the job's ClickHouse sinks are created; with BODIES (a folder written by `cargo run -p
transformer --example job_insert_bodies -- JOB RECORDS BODIES`), the direct sink's RowBinary for the same records goes
into them, and they must store what run-job prints for those sinks, value by value, nested values part by part (a NULL
array or map is stored empty, a NULL row as its fields' NULLs: ClickHouse has no Nullable(Array/Map/Tuple)).
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from decimal import Decimal

from chdb import session

transformer, job, records = sys.argv[1:4]
bodies = sys.argv[4] if len(sys.argv) > 4 else None
run = lambda *args: subprocess.run([transformer, "--job", job, *args], check=True, capture_output=True, text=True).stdout
ddl = run("schema", "--clickhouse-version", "current", "--database", "jobcheck")
VIRTUAL = "`_topic` String, `_partition` UInt64, `_offset` UInt64, `_error` String, `_raw_message` String, "
ddl = re.sub(r"ENGINE = Kafka SETTINGS.*?;", "ENGINE = Memory;", ddl, flags=re.S)
ddl = re.sub(r"(CREATE TABLE IF NOT EXISTS \S+_queue` \()", r"\1" + VIRTUAL, ddl)
db = session.Session(tempfile.mkdtemp())
statements = [s.strip() for s in ddl.split(";\n\n") if s.strip()]
for s in statements:
    db.query(s)
queues = re.findall(r"CREATE TABLE IF NOT EXISTS `jobcheck`\.`(\w+)_queue`", ddl)
tables = re.findall(r"CREATE TABLE IF NOT EXISTS `([\w-]+)`\.`(\w+)` \(", ddl)
direct = [(d, t) for d, t in tables if t not in queues and not t.endswith("_queue")]

rows = {}
for line in run("run-job", "--input", records).splitlines():
    out = json.loads(line)
    if "sink" in out:
        rows.setdefault(out["sink"], []).append(out["value"])


def same(want, got, column, ty):
    """Whether ClickHouse's `got` (JSONEachRow output) stores the job's `want` (Flink's JSON)."""
    if want is None or got is None:
        return want is None and got is None
    if "Decimal" in ty:
        return Decimal(str(want)) == Decimal(str(got))
    if "DateTime64" in ty:  # 2024-05-01 10:00:00.25[Z] against 2024-05-01 10:00:00.250
        trim = lambda t: t.rstrip("Z").rstrip("0").rstrip(".") if "." in t else t.rstrip("Z")
        return trim(want) == trim(got)
    if "Float" in ty:
        return float(want) == float(got)
    # BYTES: Flink's JSON holds base64, the table the bytes.
    return want == got or (ty.endswith("String)") or ty == "String") and base64.b64decode(want).decode() == got


def loose(want, got):
    """Whether a part of a nested value is stored as written: numbers by value, timestamps to the millisecond, a
    NULL array, map or row as an empty one or a row of NULLs."""
    if want is None:
        return got is None or got == [] or got == {} or (isinstance(got, dict) and all(loose(None, v) for v in got.values()))
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(loose(w, g) for w, g in zip(want, got))
    if isinstance(want, dict):
        return isinstance(got, dict) and set(want) == set(got) and all(loose(want[k], got[k]) for k in want)
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        return got is not None and Decimal(str(want)) == Decimal(str(got))
    if isinstance(want, str) and isinstance(got, str) and re.match(r"\d{4}-\d\d-\d\d \d\d:", want):
        return same(want, got, "", "DateTime64")
    return want == got


def stored_as(want, got, column, ty):
    """[`same`] for a column, part by part for a nested one."""
    return loose(want, got) if ty.startswith(("Array", "Map", "Tuple")) else same(want, got, column, ty)


def compare(database, table, values):
    """Checks that `table` stores exactly the rows `values` (Flink's JSON, as run-job prints them), column by column
    (the direct sink's hidden `_…` columns aside); gives how many."""
    desc = json.loads(str(db.query(f"DESCRIBE TABLE `{database}`.`{table}`", "JSON")))["data"]
    types = {c["name"]: c["type"] for c in desc if not c["name"].startswith("_")}
    stored = [json.loads(l) for l in str(db.query(f"SELECT * FROM `{database}`.`{table}`", "JSONEachRow")).splitlines() if l]
    wanted = [json.loads(v) for v in values]
    assert len(stored) == len(wanted), f"{table}: {len(stored)} rows stored of {len(wanted)}"
    key = next(iter(types))
    stored.sort(key=lambda r: str(r[key]))
    wanted.sort(key=lambda r: str(r[key]))
    for w, g in zip(wanted, stored):
        for column, ty in types.items():
            assert stored_as(w.get(column), g.get(column), column, ty), f"{table}.{column} ({ty}): stored {g.get(column)!r} for {w.get(column)!r}"
    return len(stored)


checked = 0
for sink in queues:
    values = rows.get(sink, [])
    assert values, f"run-job wrote no row for the Kafka sink {sink}"
    for v in values:
        db.query(f"INSERT INTO jobcheck.`{sink}_queue` FORMAT JSONEachRow {v}")
    checked += compare("jobcheck", sink, values)
direct_rows = 0
for database, table in direct:
    db.query(f"SELECT count() FROM `{database}`.`{table}`")
    if bodies is None or not os.path.exists(os.path.join(bodies, f"{table}.bin")):
        continue
    body = os.path.join(bodies, f"{table}.bin")
    structure = open(os.path.join(bodies, f"{table}.columns")).read().replace("'", "\\'")
    sink = open(os.path.join(bodies, f"{table}.sink")).read()
    names = open(os.path.join(bodies, f"{table}.names")).read()
    db.query(f"INSERT INTO `{database}`.`{table}` ({names}) SELECT * FROM file('{body}', 'RowBinary', '{structure}')")
    assert rows.get(sink), f"run-job wrote no row for the ClickHouse sink {sink}"
    direct_rows += compare(database, table, rows[sink])
version = str(db.query("SELECT version()", "TSV")).strip()
print(f"job DDL ok on ClickHouse {version}: {len(statements)} statements; {checked} rows through "
      f"{len(queues)} Kafka path(s), value by value; {len(direct)} direct table(s) created"
      + (f", {direct_rows} rows of the direct sink's RowBinary stored as run-job writes them" if bodies else ""))
