-- Every sink type through the DDL of `transformer schema --job` on a current ClickHouse (scripts/job-schema-check.py,
-- from scripts/release-checks.sh): a Kafka sink through its Kafka table and view, a ClickHouse sink's table.
CREATE TABLE src (s STRING, b BOOLEAN, i INT, n BIGINT, m DECIMAL(10, 3), d DOUBLE, dt STRING, ts STRING)
  WITH ('connector' = 'kafka', 'topic' = 'typed_in', 'format' = 'json');

CREATE TABLE typed (
  s STRING NOT NULL, b BOOLEAN, i INT, n BIGINT NOT NULL, m DECIMAL(10, 3), d DOUBLE, dt DATE, ts TIMESTAMP(3),
  ltz TIMESTAMP_LTZ(3), `by` BYTES
) WITH ('connector' = 'kafka', 'topic' = 'typed_out', 'format' = 'json', 'sink.order-by' = 'n');

CREATE TABLE typed_direct (
  s STRING NOT NULL, b BOOLEAN, n BIGINT NOT NULL, m DECIMAL(10, 3), ts TIMESTAMP(3) NOT NULL,
  PRIMARY KEY (n) NOT ENFORCED
) WITH ('connector' = 'clickhouse', 'sink.partition-by' = 'toYYYYMM(ts)');

EXECUTE STATEMENT SET BEGIN
  INSERT INTO typed SELECT s, b, i, n, m, d, TO_DATE(dt), TO_TIMESTAMP(ts), CAST(TO_TIMESTAMP(ts) AS TIMESTAMP_LTZ(3)),
    CAST(s AS BYTES) FROM src;
  INSERT INTO typed_direct SELECT s, b, n, m, TO_TIMESTAMP(ts) FROM src WHERE ts IS NOT NULL;
END;
