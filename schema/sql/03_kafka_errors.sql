-- Current ClickHouse only (kafka_handle_error_mode = 'stream' on both Kafka tables): a record on processed_events
-- or dead_letters that is not the JSON the tables expect (written there by anything but the transformer) does not
-- stop ingestion. The views above take only the rows that parsed; these two keep the others, with the parser's
-- error, where SQL sees them:  SELECT topic, partition, offset, error, raw FROM kafka_errors
-- (18.16 has no such mode: scripts/check.sh detects its stall and prints the way past the record.)

CREATE TABLE IF NOT EXISTS {database}.kafka_errors (
    topic String,
    partition UInt64,
    offset UInt64,
    error String,
    raw String,
    inserted_at DateTime('UTC')
) ENGINE = MergeTree()
ORDER BY (topic, partition, offset);

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.events_errors_mv TO {database}.kafka_errors AS
SELECT _topic AS topic, _partition AS partition, _offset AS offset, _error AS error, _raw_message AS raw,
    now() AS inserted_at
FROM {database}.events_queue
WHERE length(_error) > 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.dead_letters_errors_mv TO {database}.kafka_errors AS
SELECT _topic AS topic, _partition AS partition, _offset AS offset, _error AS error, _raw_message AS raw,
    now() AS inserted_at
FROM {database}.dead_letters_queue
WHERE length(_error) > 0;
