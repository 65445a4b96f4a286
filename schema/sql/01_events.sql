-- The original demo's path, extended: Kafka topic processed_events -> events_queue (Kafka engine)
-- -> events_mv (materialized view) -> events_processed (ReplacingMergeTree, one row per event_id after merges).
-- Runs on ClickHouse 18.16 and on current releases. Placeholders in {braces} are filled in by contract::sql::render,
-- the one renderer (`transformer schema` prints it). The columns are held to schema/src/record.rs by its tests.
-- Exact counts while duplicates may still be unmerged: SELECT count() FROM events_processed FINAL
-- (or uniqExact(event_id)).

CREATE DATABASE IF NOT EXISTS {database};

CREATE TABLE IF NOT EXISTS {database}.events_processed (
    event_id UUID,
    event_type String,
    event_timestamp DateTime('UTC'),
    event_timestamp_ms UInt16,
    user_id String,
    details String,
    url Nullable(String),
    element_id Nullable(String),
    duration_seconds Nullable(Int64),
    order_id Nullable(String),
    amount Nullable(Float64),
    ip_address Nullable(String),
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    inserted_at DateTime('UTC')
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_timestamp)
ORDER BY (event_type, event_timestamp, event_id);

CREATE TABLE IF NOT EXISTS {database}.events_queue (
    event_id String,
    event_type String,
    event_timestamp String,
    event_time_ms UInt64,
    user_id String,
    details String,
    url Nullable(String),
    element_id Nullable(String),
    duration_seconds Nullable(Int64),
    order_id Nullable(String),
    amount Nullable(Float64),
    ip_address Nullable(String),
    source_topic String,
    source_partition Int32,
    source_offset Int64
) ENGINE = Kafka SETTINGS
    kafka_broker_list = '{kafka_broker}',
    kafka_topic_list = '{processed_topic}',
    kafka_group_name = '{group}_events',
    kafka_format = 'JSONEachRow',
    kafka_max_block_size = 100{kafka_extra_settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.events_mv TO {database}.events_processed AS
SELECT
    toUUID(event_id) AS event_id,
    event_type,
    toDateTime(intDiv(event_time_ms, 1000), 'UTC') AS event_timestamp,
    toUInt16(event_time_ms % 1000) AS event_timestamp_ms,
    user_id,
    details,
    url,
    element_id,
    duration_seconds,
    order_id,
    amount,
    ip_address,
    source_topic,
    source_partition,
    source_offset,
    now() AS inserted_at
FROM {database}.events_queue{queue_filter};
