-- ROW, ARRAY and MAP columns through both kinds of sink (scripts/job-schema-check.py runs it on a current
-- ClickHouse: the Kafka sink's rows through its Kafka table, the ClickHouse sink's RowBinary into its table).
CREATE TABLE orders_raw (
  order_id STRING,
  items ARRAY<ROW<sku STRING, qty INT NOT NULL, price DECIMAL(10, 2)>>,
  attrs MAP<STRING, STRING>,
  customer ROW<name STRING, tags ARRAY<STRING>, seen ARRAY<TIMESTAMP(3)>>,
  scores ARRAY<DOUBLE>
) WITH ('connector' = 'kafka', 'topic' = 'orders', 'format' = 'json');

CREATE TABLE order_lines (
  order_id STRING NOT NULL,
  skus ARRAY<STRING> NOT NULL,
  qty_by_sku MAP<STRING, INT>,
  customer ROW<name STRING, tags ARRAY<STRING>>,
  n INT
) WITH ('connector' = 'kafka', 'topic' = 'order_lines', 'format' = 'json', 'sink.order-by' = 'order_id');

CREATE TABLE orders_nested (
  order_id STRING NOT NULL,
  items ARRAY<ROW<sku STRING, qty INT NOT NULL, price DECIMAL(10, 2)>>,
  attrs MAP<STRING, STRING>,
  customer ROW<name STRING, tags ARRAY<STRING>, seen ARRAY<TIMESTAMP(3)>>,
  scores ARRAY<DOUBLE>,
  first_price DECIMAL(10, 2),
  color STRING
) WITH ('connector' = 'clickhouse', 'sink.order-by' = 'order_id');

EXECUTE STATEMENT SET BEGIN
INSERT INTO order_lines
SELECT order_id, ARRAY[items[1].sku, items[2].sku], MAP[items[1].sku, items[1].qty],
       ROW(customer.name, customer.tags), CARDINALITY(items)
FROM orders_raw WHERE CARDINALITY(items) >= 2;
INSERT INTO orders_nested
SELECT order_id, items, attrs, customer, scores, items[1].price, attrs['color']
FROM orders_raw;
END;
