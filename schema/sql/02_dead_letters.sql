-- Records the transformer could not map: Kafka topic dead_letters -> dead_letters_queue -> dead_letters_mv
-- -> dead_letters (ReplacingMergeTree, one row per source record after merges). The raw value is kept (as text, cut
-- to the transformer's --dead-letter-max-raw). The column lists come from the dead letter's declaration in
-- schema/src/record.rs; the Kafka table and the view are kafka_path.sql, rendered after this file.

CREATE TABLE IF NOT EXISTS {database}.dead_letters (
{stored_columns}
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(failed_at)
ORDER BY (source_topic, source_partition, source_offset);
