"""The schema on a current ClickHouse (chdb, ClickHouse in-process; used by scripts/release-checks.sh).

chdb's Kafka engine cannot run here, so each Kafka table is created with the Memory engine (same columns, plus the
virtual columns that kafka_handle_error_mode = 'stream' adds): then a sample record of each topic, in the JSON the
transformer writes, is inserted into it, and the materialized views must turn it into exactly the expected row; a
row with an error must land in kafka_errors only. The DDL comes on stdin, rendered as compose renders it.

With a folder argument (written by `cargo run -p transformer --example insert_bodies -- DIR`), also the direct
sink: the exact RowBinary bodies it sends are inserted into copies of the two tables, and the JSON the Kafka sink
writes for the same records goes through the Kafka path; every column (but inserted_at) must agree.
"""
import json
import os
import re
import sys
import tempfile

from chdb import session

VIRTUAL = "_topic String, _partition UInt64, _offset UInt64, _error String, _raw_message String, "
ddl = re.sub(r"ENGINE = Kafka SETTINGS.*?;", "ENGINE = Memory;", sys.stdin.read(), flags=re.S)
ddl = re.sub(r"(CREATE TABLE IF NOT EXISTS \S+_queue \()", r"\1" + VIRTUAL, ddl)
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
# A record the engine could not parse (kafka_handle_error_mode = 'stream' fills _error): kept in kafka_errors, not
# in the tables.
db.query("INSERT INTO etl.events_queue (_topic, _partition, _offset, _error, _raw_message) "
         "VALUES ('processed_events', 1, 99, 'Cannot parse input', 'not json')")
errors = json.loads(str(db.query("SELECT topic, offset, raw FROM etl.kafka_errors", "JSONCompact")))["data"]
assert errors == [["processed_events", "99", "not json"]] or errors == [["processed_events", 99, "not json"]], errors
assert str(db.query("SELECT count() FROM etl.events_processed FINAL", "TSV")).strip() == "1", "the bad row stayed out"
version = str(db.query("SELECT version()", "TSV")).strip()
done = "tables and views created, one row each through both views, deduplicated, a parse error kept in kafka_errors"

if len(sys.argv) > 1:
    folder = sys.argv[1]
    db.query("CREATE DATABASE direct")
    for table in ["events_processed", "dead_letters"]:
        db.query(f"CREATE TABLE direct.{table} AS etl.{table}")
        db.query(f"TRUNCATE TABLE etl.{table}")
        columns = open(os.path.join(folder, f"{table}.columns")).read()
        names = ", ".join(c.split(" ")[0] for c in columns.split(", "))
        body = os.path.join(folder, f"{table}.bin")
        # The body exactly as the sink sends it after `INSERT INTO ... (names) FORMAT RowBinary`.
        structure = columns.replace("'", "\\'")
        db.query(f"INSERT INTO direct.{table} ({names}) SELECT * FROM file('{body}', 'RowBinary', '{structure}')")
    for queue in ["events_queue", "dead_letters_queue"]:
        for line in open(os.path.join(folder, f"{queue}.jsonl")):
            db.query(f"INSERT INTO etl.{queue} FORMAT JSONEachRow {line}")
    for table, key in [("events_processed", "event_id"), ("dead_letters", "source_offset")]:
        q = f"SELECT * EXCEPT inserted_at FROM {{}}.{table} ORDER BY {key} FORMAT JSONCompact"
        direct, kafka = (json.loads(str(db.query(q.format(d))))["data"] for d in ["direct", "etl"])
        assert direct and direct == kafka, f"{table}: direct sink {direct} != Kafka path {kafka}"
    n = str(db.query("SELECT count() FROM direct.events_processed", "TSV")).strip()
    done += f"; the direct sink's RowBinary bodies ({n} events, 1 dead letter) give the Kafka path's rows"
print(f"schema ok on ClickHouse {version}: {done}")
