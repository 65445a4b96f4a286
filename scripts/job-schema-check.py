"""A job's DDL on a current ClickHouse (chdb, ClickHouse in-process; used by scripts/release-checks.sh).

    job-schema-check.py TRANSFORMER JOB RECORDS

Runs `TRANSFORMER --job JOB schema --clickhouse-version current` into chdb, each Kafka table made a Memory table (chdb's
Kafka engine cannot run here) with the virtual columns kafka_handle_error_mode = 'stream' adds. Then the rows
`TRANSFORMER --job JOB run-job --input RECORDS` writes for each Kafka sink go into its Kafka table, and its view must
store exactly those rows, value by value: text, numbers, decimals, dates, timestamps to the millisecond, booleans,
BYTES decoded. The tables of the job's ClickHouse sinks are created (their rows come from the direct sink).
"""
import base64
import json
import re
import subprocess
import sys
import tempfile
from decimal import Decimal

from chdb import session

transformer, job, records = sys.argv[1:4]
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
        trim = lambda t: t.rstrip("Z").rstrip("0").rstrip(".")
        return trim(want) == trim(got)
    if "Float" in ty:
        return float(want) == float(got)
    # BYTES: Flink's JSON holds base64, the table the bytes.
    return want == got or (ty.endswith("String)") or ty == "String") and base64.b64decode(want).decode() == got


checked = 0
for sink in queues:
    values = rows.get(sink, [])
    assert values, f"run-job wrote no row for the Kafka sink {sink}"
    for v in values:
        db.query(f"INSERT INTO jobcheck.`{sink}_queue` FORMAT JSONEachRow {v}")
    desc = json.loads(str(db.query(f"DESCRIBE TABLE jobcheck.`{sink}`", "JSON")))["data"]
    types = {c["name"]: c["type"] for c in desc}
    stored = [json.loads(l) for l in str(db.query(f"SELECT * FROM jobcheck.`{sink}`", "JSONEachRow")).splitlines() if l]
    wanted = [json.loads(v) for v in values]
    assert len(stored) == len(wanted), f"{sink}: {len(stored)} rows stored of {len(wanted)}"
    key = next(iter(types))
    stored.sort(key=lambda r: str(r[key]))
    wanted.sort(key=lambda r: str(r[key]))
    for w, g in zip(wanted, stored):
        for column, ty in types.items():
            assert same(w.get(column), g.get(column), column, ty), f"{sink}.{column} ({ty}): stored {g.get(column)!r} for {w.get(column)!r}"
    checked += len(stored)
for database, table in direct:
    db.query(f"SELECT count() FROM `{database}`.`{table}`")
version = str(db.query("SELECT version()", "TSV")).strip()
print(f"job DDL ok on ClickHouse {version}: {len(statements)} statements; {checked} rows through "
      f"{len(queues)} Kafka path(s), value by value; {len(direct)} direct table(s) created")
