-- The Kafka path of one record, rendered after its stored table (01_events.sql, 02_dead_letters.sql): a Kafka-engine
-- table that reads the record's topic, and a materialized view that moves each row it reads into the stored table.
-- Placeholders of the record ({queue}, {stored}, {view}, {topic}, {consumer}; {queue_columns} and {select} from
-- schema/src/record.rs) and of the whole DDL ({database}, {kafka_broker}, {group}, ...): contract::sql::render.

CREATE TABLE IF NOT EXISTS {database}.{queue} (
{queue_columns}
) ENGINE = Kafka SETTINGS
    kafka_broker_list = '{kafka_broker}',
    kafka_topic_list = '{topic}',
    kafka_group_name = '{group}_{consumer}',
    kafka_format = 'JSONEachRow',
    kafka_max_block_size = 100{kafka_extra_settings};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{view} TO {database}.{stored} AS
SELECT
{select}
FROM {database}.{queue}{queue_filter};
