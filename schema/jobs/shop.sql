-- An example of a job for your own tables: orders into a ClickHouse table `orders` (an exact Decimal amount, a
-- millisecond timestamp, one row per order id after merges), page views and clicks into a second table
-- `page_activity`, test users dropped from both, and the big orders also on a Kafka topic for another team.
--
--   transformer --job schema/jobs/shop.sql schema                     # the tables' DDL (18.16; or --clickhouse-version current)
--   transformer --job schema/jobs/shop.sql schema --create-tables     # ... and run it on ClickHouse
--   transformer --job schema/jobs/shop.sql run-job --input records.jsonl   # try it on records, no servers
--
-- The flags and environment variables win over the connection options below (--brokers, --clickhouse-url, ...).

CREATE TABLE `orders_raw` (
  `order_id` STRING,
  `user_id` STRING,
  `amount` DECIMAL(12, 2),
  `timestamp` STRING
) WITH (
  'connector' = 'kafka',
  'topic' = 'orders',
  'properties.bootstrap.servers' = '127.0.0.1:9092',
  'properties.group.id' = 'shop',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'json'
);

CREATE TABLE `activity_raw` (
  `user_id` STRING,
  `url` STRING,
  `element_id` STRING,
  `duration_seconds` BIGINT,
  `timestamp` STRING,
  `topic` STRING METADATA VIRTUAL
) WITH (
  'connector' = 'kafka',
  'topic' = 'user_clicks;page_views',
  'properties.bootstrap.servers' = '127.0.0.1:9092',
  'properties.group.id' = 'shop',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'json'
);

-- One row per order id after merges (a PRIMARY KEY makes a ReplacingMergeTree ordered by it).
CREATE TABLE `orders` (
  `order_id` STRING NOT NULL,
  `user_id` STRING NOT NULL,
  `amount` DECIMAL(12, 2) NOT NULL,
  `ordered_at` TIMESTAMP(3) NOT NULL,
  PRIMARY KEY (`order_id`) NOT ENFORCED
) WITH (
  'connector' = 'clickhouse',
  'url' = 'http://127.0.0.1:8123',
  'database-name' = 'shop',
  'table-name' = 'orders',
  'sink.batch-size' = '10000',
  'sink.flush-interval' = '1s',
  'sink.partition-by' = 'toYYYYMM(`ordered_at`)'
);

CREATE TABLE `page_activity` (
  `kind` STRING NOT NULL,
  `user_id` STRING NOT NULL,
  `url` STRING,
  `element_id` STRING,
  `duration_seconds` BIGINT,
  `event_time` TIMESTAMP(3) NOT NULL
) WITH (
  'connector' = 'clickhouse',
  'database-name' = 'shop',
  'sink.order-by' = '(`kind`, `event_time`)'
);

CREATE TABLE `big_orders` (
  `order_id` STRING NOT NULL,
  `user_id` STRING NOT NULL,
  `amount` DECIMAL(12, 2) NOT NULL
) WITH (
  'connector' = 'kafka',
  'topic' = 'big_orders',
  'format' = 'json'
);

EXECUTE STATEMENT SET
BEGIN
  INSERT INTO `orders`
  SELECT `order_id`, `user_id`, `amount`, TO_TIMESTAMP(`timestamp`)
  FROM `orders_raw`
  WHERE `user_id` NOT LIKE 'test%';

  INSERT INTO `page_activity`
  SELECT UPPER(REPLACE(`topic`, 'user_', '')), `user_id`, `url`, `element_id`, `duration_seconds`,
         TO_TIMESTAMP(`timestamp`)
  FROM `activity_raw`
  WHERE `user_id` NOT LIKE 'test%';

  INSERT INTO `big_orders`
  SELECT `order_id`, `user_id`, `amount`
  FROM `orders_raw`
  WHERE `amount` >= 100 AND `user_id` NOT LIKE 'test%';
END;
