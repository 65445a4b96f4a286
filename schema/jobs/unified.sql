-- The transformer's default job (run when no --job is given): the original Flink job's SELECT
-- (shared/seed/job.sql: the first four expressions below, verbatim) extended with the unified record's other
-- columns. Flags and environment variables win over the connection options here (--brokers, --topics,
-- --output-topic, ...). Where the product is stricter than Flink, the SQL says so: a NOT NULL column turns a NULL
-- into a dead letter with its cause (a missing user_id, a timestamp that does not parse) instead of a null.
CREATE TABLE `raw_events_source` (
  `timestamp` STRING,
  `user_id` STRING,
  `ip_address` STRING,
  `url` STRING,
  `element_id` STRING,
  `duration_seconds` BIGINT,
  `order_id` STRING,
  `amount` DOUBLE,
  `topic` STRING METADATA VIRTUAL,
  `partition` INT METADATA VIRTUAL,
  `offset` BIGINT METADATA VIRTUAL,
  `event_id` STRING METADATA FROM 'etl.event-id' VIRTUAL,
  -- TO_EVENT_TIME reads what TO_TIMESTAMP reads, plus RFC 3339 and epoch milliseconds, within what ClickHouse's
  -- DateTime stores (1970..2105); anything else is NULL, and the sink's NOT NULL makes the record a dead letter.
  -- A computed column is evaluated once per record, however often it is used.
  `event_ts` AS TO_EVENT_TIME(`timestamp`)
) WITH (
  'connector' = 'kafka',
  'topic' = 'user_clicks;page_views;orders',
  'properties.bootstrap.servers' = '127.0.0.1:9092',
  'properties.group.id' = 'transformer',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'json'
);

CREATE TABLE `processed_events` (
  `event_id` STRING NOT NULL,
  `event_type` STRING NOT NULL,
  `event_timestamp` TIMESTAMP(3) NOT NULL,
  `event_time_ms` BIGINT NOT NULL,
  `user_id` STRING NOT NULL,
  `details` STRING NOT NULL,
  `url` STRING,
  `element_id` STRING,
  `duration_seconds` BIGINT,
  `order_id` STRING,
  `amount` DOUBLE,
  `ip_address` STRING,
  `source_topic` STRING NOT NULL,
  `source_partition` INT NOT NULL,
  `source_offset` BIGINT NOT NULL
) WITH (
  'connector' = 'kafka',
  'topic' = 'processed_events',
  'format' = 'json'
);

INSERT INTO `processed_events`
SELECT
    `event_id`,
    UPPER(REPLACE(`topic`, 'user_', '')),
    `event_ts`,
    EPOCH_MILLIS(`event_ts`),
    `user_id`,
    CONCAT_WS(' | ', `url`, `element_id`, CAST(`order_id` AS STRING), CAST(`amount` AS STRING)),
    `url`,
    `element_id`,
    `duration_seconds`,
    `order_id`,
    `amount`,
    `ip_address`,
    `topic`,
    `partition`,
    `offset`
FROM `raw_events_source`;
