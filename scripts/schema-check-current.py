"""The schema on a current ClickHouse (chdb, ClickHouse in-process; used by scripts/release-checks.sh).

chdb's Kafka engine cannot run here, so each Kafka table is created with the Memory engine (same columns): then a
sample record of each topic, in the JSON the transformer writes, is inserted into it, and the materialized views
must turn it into exactly the expected row. The DDL comes on stdin, rendered as compose renders it.
"""
import json
import re
import sys
import tempfile

from chdb import session

ddl = re.sub(r"ENGINE = Kafka SETTINGS.*?;", "ENGINE = Memory;", sys.stdin.read(), flags=re.S)
statements = [s.strip() for s in re.sub(r"(?m)^\s*--.*$", "", ddl).split(";") if s.strip()]
db = session.Session(tempfile.mkdtemp())
for s in statements:
    db.query(s)

event = {"event_id": "3c12f345-217a-8182-8a63-2318c13dc79f", "event_type": "ORDERS",
         "event_timestamp": "2024-05-01 10:00:00.250", "event_time_ms": 1714557600250, "user_id": "u",
         "details": "o-1 | 12.3", "url": None, "element_id": None, "duration_seconds": None, "order_id": "o-1",
         "amount": 12.3, "ip_address": "10.0.0.1", "source_topic": "orders", "source_partition": 1,
         "source_offset": 42}
letter = {"source_topic": "orders", "source_partition": 2, "source_offset": 7, "reason": "invalid_json",
          "error": "invalid JSON: EOF", "raw": "{", "raw_size": 1, "failed_at_ms": 1714557600000}
for table, row in [("events_queue", event), ("dead_letters_queue", letter)]:
    for _ in range(2):  # twice: the ReplacingMergeTree must count it once with FINAL
        db.query(f"INSERT INTO etl.{table} FORMAT JSONEachRow {json.dumps(row)}")

got = db.query("SELECT toString(event_id), event_type, toString(event_timestamp), event_timestamp_ms, details, "
               "amount, source_offset FROM etl.events_processed FINAL", "JSONCompact")
want = [["3c12f345-217a-8182-8a63-2318c13dc79f", "ORDERS", "2024-05-01 10:00:00", 250, "o-1 | 12.3", 12.3, 42]]
rows = json.loads(str(got))["data"]
assert rows == want, f"events_processed: {rows} != {want}"
dead = json.loads(str(db.query("SELECT reason, source_offset, toString(failed_at) FROM etl.dead_letters FINAL", "JSONCompact")))["data"]
assert dead == [["invalid_json", 7, "2024-05-01 10:00:00"]], dead
version = str(db.query("SELECT version()", "TSV")).strip()
print(f"schema ok on ClickHouse {version}: tables and views created, one row each through both views, deduplicated")
