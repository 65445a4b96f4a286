-- The original demo's path, extended: Kafka topic processed_events -> events_queue (Kafka engine)
-- -> events_mv (materialized view) -> events_processed (ReplacingMergeTree, one row per event_id after merges).
-- The Kafka table and the view are kafka_path.sql, rendered after this file.
-- Runs on ClickHouse 18.16 and on current releases. Placeholders in {braces} are filled in by contract::sql::render,
-- the one renderer (`transformer schema` prints the result): the column lists come from the record's declaration,
-- schema/src/record.rs (`transformer schema --fields` prints it as a table).
-- Exact counts while duplicates may still be unmerged: SELECT count() FROM events_processed FINAL
-- (or uniqExact(event_id)).

CREATE DATABASE IF NOT EXISTS {database};

CREATE TABLE IF NOT EXISTS {database}.events_processed (
{stored_columns}
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_timestamp)
ORDER BY (event_type, event_timestamp, event_id);
