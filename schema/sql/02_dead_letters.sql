-- Records the transformer could not map: Kafka topic dead_letters -> dead_letters_queue -> dead_letters_mv
-- -> dead_letters (MergeTree). The raw value is kept (as text, cut to the transformer's --dead-letter-max-raw).

CREATE TABLE IF NOT EXISTS {database}.dead_letters (
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    reason String,
    error String,
    raw String,
    raw_size UInt64,
    failed_at DateTime('UTC'),
    inserted_at DateTime('UTC')
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(failed_at)
ORDER BY (source_topic, source_partition, source_offset);

CREATE TABLE IF NOT EXISTS {database}.dead_letters_queue (
    source_topic String,
    source_partition Int32,
    source_offset Int64,
    reason String,
    error String,
    raw String,
    raw_size UInt64,
    failed_at_ms UInt64
) ENGINE = Kafka SETTINGS
    kafka_broker_list = '{kafka_broker}',
    kafka_topic_list = '{dead_letter_topic}',
    kafka_group_name = '{group}_dead_letters',
    kafka_format = 'JSONEachRow',
    kafka_max_block_size = 100{kafka_extra_settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.dead_letters_mv TO {database}.dead_letters AS
SELECT
    source_topic,
    source_partition,
    source_offset,
    reason,
    error,
    raw,
    raw_size,
    toDateTime(intDiv(failed_at_ms, 1000), 'UTC') AS failed_at,
    now() AS inserted_at
FROM {database}.dead_letters_queue{queue_filter};
