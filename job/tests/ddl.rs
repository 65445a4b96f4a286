//! The ClickHouse DDL of a job's sinks (`job::ddl`): ClickHouse sinks declared in the job and their options, the
//! Kafka path of a Kafka sink, the type map on both ClickHouse versions, quoted identifiers, and refusals. That the
//! DDL runs, and that rows go through it, is shown on the real ClickHouse (transformer/tests/job_tables.rs) and on a
//! current one (scripts/job-schema-check.py, chdb).

use contract::sql::ClickHouseVersion::{self, Current, V18};
use job::ddl::{self, DdlParams, Part};
use job::plan::Target;
use job::Plan;

fn plan(sql: &str) -> Plan {
    Plan::new("test.sql", sql).unwrap_or_else(|e| panic!("{e}"))
}

fn params(version: ClickHouseVersion) -> DdlParams {
    DdlParams {
        database: "analytics-prod".into(),
        database_wins: false,
        kafka_broker: "broker:9092".into(),
        group: "ch".into(),
        version,
        kafka_topic: None,
    }
}

const SOURCE: &str = "CREATE TABLE src (id STRING, amount DECIMAL(12, 2), ts STRING, ok BOOLEAN, n INT)
  WITH ('connector' = 'kafka', 'topic' = 'orders', 'format' = 'json');";

fn job(sink: &str, select: &str) -> String {
    format!("{SOURCE}\n{sink}\nINSERT INTO out SELECT {select} FROM src;")
}

#[test]
fn a_clickhouse_sink_takes_flinks_connector_options() {
    let p = plan(&job(
        "CREATE TABLE out (id STRING NOT NULL, amount DECIMAL(12, 2), at TIMESTAMP(3) NOT NULL,
           PRIMARY KEY (id) NOT ENFORCED)
         WITH ('connector' = 'clickhouse', 'url' = 'https://ch:8443', 'database-name' = 'shop',
               'table-name' = 'orders', 'username' = 'etl', 'password' = 'secret', 'sink.batch-size' = '5000',
               'sink.flush-interval' = '2 s', 'sink.max-retries' = '3');",
        "id, amount, TO_TIMESTAMP(ts)",
    ));
    let Target::ClickHouse(t) = &p.sinks[0].target else { panic!("a ClickHouse sink: {:?}", p.sinks[0].target) };
    assert_eq!(
        (t.url.as_deref(), t.database.as_deref(), t.table.as_str(), t.username.as_deref(), t.password.as_deref()),
        (Some("https://ch:8443"), Some("shop"), "orders", Some("etl"), Some("secret"))
    );
    assert_eq!((t.batch_rows, t.flush_interval_ms, t.max_retries), (Some(5000), Some(2000), Some(3)));
    assert_eq!(p.sinks[0].topic(), None);
}

#[test]
fn the_direct_table_maps_every_type_and_quotes_every_name() {
    let p = plan(&format!(
        "{SOURCE}
        CREATE TABLE out (
          s STRING NOT NULL, b BOOLEAN, i INT, n BIGINT NOT NULL, t TINYINT, sm SMALLINT, f FLOAT, d DOUBLE,
          m DECIMAL(12, 2), dt DATE, ts TIMESTAMP(3) NOT NULL, l TIMESTAMP_LTZ(6), by BYTES, `we``ird` STRING
        ) WITH ('connector' = 'clickhouse');
        INSERT INTO out SELECT id, ok, n, CAST(n AS BIGINT), CAST(n AS TINYINT), CAST(n AS SMALLINT),
          CAST(n AS FLOAT), CAST(n AS DOUBLE), amount, TO_DATE(ts), TO_TIMESTAMP(ts), NULL, NULL, id FROM src;"
    ));
    let types = |v| ddl::columns(&p.sinks[0], v).into_iter().map(|c| (c.name, c.ty)).collect::<Vec<_>>();
    let want = |ts: &[(&str, &str)], b: &str, l: &str| {
        let mut w: Vec<(String, String)> = [
            ("s", "String"),
            ("b", b),
            ("i", "Nullable(Int32)"),
            ("n", "Int64"),
            ("t", "Nullable(Int8)"),
            ("sm", "Nullable(Int16)"),
            ("f", "Nullable(Float32)"),
            ("d", "Nullable(Float64)"),
            ("m", "Nullable(Decimal(12, 2))"),
            ("dt", "Nullable(Date)"),
        ]
        .iter()
        .chain(ts)
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        w.extend(l.split(';').map(|c| c.split_once('=').unwrap()).map(|(a, b)| (a.into(), b.into())));
        w.push(("by".into(), "Nullable(String)".into()));
        w.push(("we`ird".into(), "Nullable(String)".into()));
        w
    };
    assert_eq!(
        types(Current),
        want(&[("ts", "DateTime64(3, 'UTC')")], "Nullable(Bool)", "l=Nullable(DateTime64(6, 'UTC'))")
    );
    assert_eq!(
        types(V18),
        want(
            &[("ts", "DateTime('UTC')"), ("ts_ms", "UInt16")],
            "Nullable(UInt8)",
            "l=Nullable(DateTime('UTC'));l_ms=Nullable(UInt16)"
        ),
        "18.16 has no DateTime64 and no Bool: a DateTime with its milliseconds beside it, and UInt8"
    );
    let parts: Vec<Part> =
        ddl::columns(&p.sinks[0], V18).iter().map(|c| c.part).filter(|p| *p != Part::Value).collect();
    assert_eq!(parts, [Part::Seconds, Part::Millis, Part::Seconds, Part::Millis]);
    let stmts = ddl::render(&p, &params(Current)).unwrap();
    assert_eq!(stmts[0], "CREATE DATABASE IF NOT EXISTS `analytics-prod`", "the database is quoted: {stmts:#?}");
    assert!(
        stmts[1].starts_with("CREATE TABLE IF NOT EXISTS `analytics-prod`.`out` (\n    `s` String,"),
        "{}",
        stmts[1]
    );
    assert!(stmts[1].contains("`we\\`ird` Nullable(String)"), "a backquote in a name is escaped: {}", stmts[1]);
    assert!(
        stmts[1].ends_with(
            "    `_source_topic` String,\n    `_source_partition` Int32,\n    `_source_offset` Int64,\n    `_round` \
             UInt64\n) ENGINE = MergeTree()\nORDER BY tuple()"
        ),
        "the hidden columns last: {}",
        stmts[1]
    );
    assert_eq!(stmts.len(), 4, "a ClickHouse sink has no Kafka path; its positions table and view: {stmts:#?}");
    assert!(stmts[2].starts_with("CREATE TABLE IF NOT EXISTS `analytics-prod`.`_etl_positions` ("), "{}", stmts[2]);
    assert_eq!(
        stmts[3],
        "CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics-prod`.`_etl_positions_out` TO \
         `analytics-prod`.`_etl_positions` AS\nSELECT\n    'out' AS `table`,\n    `_source_topic` AS `topic`,\n    \
         `_source_partition` AS `partition`,\n    max(`_source_offset`) AS `offset`,\n    max(`_round`) AS `round`,\n    \
         count() AS `rows`\nFROM `analytics-prod`.`out`\nGROUP BY `_source_topic`, `_source_partition`"
    );
}

#[test]
fn the_primary_key_orders_a_replacing_table_and_options_override_the_layout() {
    let sink = |extra: &str, key: &str| {
        job(
            &format!(
                "CREATE TABLE out (id STRING NOT NULL, at TIMESTAMP(3) NOT NULL, amount DECIMAL(12, 2){key})
                 WITH ('connector' = 'clickhouse', 'database-name' = 'shop'{extra});"
            ),
            "id, TO_TIMESTAMP(ts), amount",
        )
    };
    let table = |sql: &str, v| ddl::render(&plan(sql), &params(v)).unwrap()[1].clone();
    let keyed = sink("", ", PRIMARY KEY (id, at) NOT ENFORCED");
    assert!(table(&keyed, Current).ends_with("ENGINE = ReplacingMergeTree()\nORDER BY (`id`, `at`)"));
    assert!(table(&keyed, V18).ends_with("ORDER BY (`id`, `at`, `at_ms`)"), "{}", table(&keyed, V18));
    assert!(table(&keyed, V18).starts_with("CREATE TABLE IF NOT EXISTS `shop`.`out`"), "database-name is used");
    let laid_out = sink(
        ", 'sink.engine' = 'SummingMergeTree(amount)', 'sink.order-by' = '(id)', 'sink.partition-by' = 'toYYYYMM(at)'",
        ", PRIMARY KEY (id) NOT ENFORCED",
    );
    assert!(
        table(&laid_out, Current)
            .ends_with(") ENGINE = SummingMergeTree(amount)\nPARTITION BY toYYYYMM(at)\nORDER BY (id)"),
        "{}",
        table(&laid_out, Current)
    );
    let wins = DdlParams { database_wins: true, ..params(V18) };
    assert!(
        ddl::render(&plan(&keyed), &wins).unwrap()[1].starts_with("CREATE TABLE IF NOT EXISTS `analytics-prod`.`out`")
    );
    let nullable_key =
        job("CREATE TABLE out (id STRING, PRIMARY KEY (id) NOT ENFORCED) WITH ('connector' = 'clickhouse');", "id");
    let err = ddl::render(&plan(&nullable_key), &params(Current)).unwrap_err().to_string();
    assert!(err.contains("PRIMARY KEY column out.id may be NULL") && err.contains("NOT NULL"), "{err}");
}

#[test]
fn a_kafka_sink_gets_its_table_a_kafka_table_and_a_view() {
    let p = plan(&job(
        "CREATE TABLE out (id STRING NOT NULL, amount DECIMAL(12, 2), at TIMESTAMP(3), ok BOOLEAN, by BYTES)
         WITH ('connector' = 'kafka', 'topic' = 'out-topic', 'format' = 'json', 'sink.order-by' = 'id');",
        "id, amount, TO_TIMESTAMP(ts), ok, CAST(id AS BYTES)",
    ));
    let current = ddl::render(&p, &params(Current)).unwrap();
    assert_eq!(current.len(), 4, "{current:#?}");
    assert!(current[1].ends_with("ENGINE = MergeTree()\nORDER BY id"), "{}", current[1]);
    assert_eq!(
        current[2],
        "CREATE TABLE IF NOT EXISTS `analytics-prod`.`out_queue` (\n    `id` String,\n    `amount` \
         Nullable(Decimal(12, 2)),\n    `at` Nullable(String),\n    `ok` Nullable(Bool),\n    `by` Nullable(String)\n) \
         ENGINE = Kafka SETTINGS\n    kafka_broker_list = 'broker:9092',\n    kafka_topic_list = 'out-topic',\n    \
         kafka_group_name = 'ch_out',\n    kafka_format = 'JSONEachRow',\n    kafka_max_block_size = 100,\n    \
         kafka_flush_interval_ms = 500,\n    kafka_handle_error_mode = 'stream'"
    );
    assert_eq!(
        current[3],
        "CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics-prod`.`out_mv` TO `analytics-prod`.`out` AS\nSELECT\n    \
         `id`,\n    `amount`,\n    parseDateTime64BestEffortOrNull(`at`, 3, 'UTC') AS `at`,\n    `ok`,\n    \
         base64Decode(`by`) AS `by`\nFROM `analytics-prod`.`out_queue`\nWHERE length(_error) = 0"
    );
    let v18 = ddl::render(&p, &params(V18)).unwrap();
    assert!(!v18[2].contains("kafka_handle_error_mode") && !v18[3].contains("_error"), "{v18:#?}");
    assert!(
        v18[3].contains("parseDateTimeBestEffortOrNull(`at`, 'UTC') AS `at`,\n    `ok`,\n    `by`\n"),
        "{}",
        v18[3]
    );
    let cols: Vec<String> = ddl::columns(&p.sinks[0], V18).into_iter().map(|c| c.name).collect();
    assert_eq!(cols, ["id", "amount", "at", "ok", "by"], "18.16's Kafka path keeps whole seconds: no at_ms");
}

#[test]
fn every_database_is_created_once_before_its_tables() {
    let p = plan(&format!(
        "{SOURCE}
        CREATE TABLE a (id STRING) WITH ('connector' = 'clickhouse', 'database-name' = 'x');
        CREATE TABLE b (id STRING) WITH ('connector' = 'clickhouse', 'database-name' = 'x');
        CREATE TABLE c (id STRING) WITH ('connector' = 'kafka', 'topic' = 'c', 'format' = 'json');
        EXECUTE STATEMENT SET BEGIN
          INSERT INTO a SELECT id FROM src; INSERT INTO b SELECT id FROM src; INSERT INTO c SELECT id FROM src;
        END;"
    ));
    let stmts = ddl::render(&p, &params(V18)).unwrap();
    let heads: Vec<&str> = stmts.iter().map(|s| s.lines().next().unwrap()).collect();
    assert_eq!(
        heads,
        [
            "CREATE DATABASE IF NOT EXISTS `x`",
            "CREATE TABLE IF NOT EXISTS `x`.`a` (",
            "CREATE TABLE IF NOT EXISTS `x`.`_etl_positions` (",
            "CREATE MATERIALIZED VIEW IF NOT EXISTS `x`.`_etl_positions_a` TO `x`.`_etl_positions` AS",
            "CREATE TABLE IF NOT EXISTS `x`.`b` (",
            "CREATE MATERIALIZED VIEW IF NOT EXISTS `x`.`_etl_positions_b` TO `x`.`_etl_positions` AS",
            "CREATE DATABASE IF NOT EXISTS `analytics-prod`",
            "CREATE TABLE IF NOT EXISTS `analytics-prod`.`c` (",
            "CREATE TABLE IF NOT EXISTS `analytics-prod`.`c_queue` (",
            "CREATE MATERIALIZED VIEW IF NOT EXISTS `analytics-prod`.`c_mv` TO `analytics-prod`.`c` AS",
        ]
    );
    assert_eq!(ddl::script(&p, &params(V18)).unwrap().matches(";\n\n").count(), stmts.len());
}

#[test]
fn bad_clickhouse_options_are_refused_where_they_are() {
    let err = |with: &str| {
        let sql = job(&format!("CREATE TABLE out (id STRING) WITH ('connector' = 'clickhouse'{with});"), "id");
        Plan::new("test.sql", &sql).map(|_| ()).unwrap_err().to_string()
    };
    let e = err(", 'topic' = 'x'");
    assert!(
        e.contains("unknown or unsupported option 'topic' for a ClickHouse sink") && e.contains("table-name"),
        "{e}"
    );
    assert!(err(", 'url' = 'ch:8123'").contains("is not an HTTP(S) URL"));
    assert!(err(", 'sink.batch-size' = 'many'").contains("'sink.batch-size' takes a whole number, not 'many'"));
    assert!(err(", 'sink.batch.size' = '0'").contains("must be at least 1"));
    assert!(err(", 'sink.batch.size' = '1', 'sink.batch-size' = '2'").contains("not both"));
    assert!(err(", 'sink.flush-interval' = 'soon'").contains("is not a duration"));
    assert!(err(", 'sink.order-by' = ' '").contains("'sink.order-by' is empty"));
    let plain = job("CREATE TABLE out (id STRING) WITH ('connector' = 'clickhouse');", "id");
    assert!(Plan::new("test.sql", &plain).is_ok(), "a ClickHouse sink needs no option but its connector");
}

#[test]
fn a_clickhouse_table_is_not_a_source() {
    let sql = "CREATE TABLE src (id STRING) WITH ('connector' = 'clickhouse');
        CREATE TABLE out (id STRING) WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
        INSERT INTO out SELECT id FROM src;";
    let e = Plan::new("test.sql", sql).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("src is a ClickHouse table") && e.contains("test.sql:1:"), "{e}");
}

#[test]
fn durations_read_as_flink_writes_them() {
    for (text, ms) in [("500", Some(500)), ("500ms", Some(500)), ("1s", Some(1000)), ("2 min", Some(120_000))] {
        assert_eq!(job::catalog::duration_ms(text), ms, "{text}");
    }
    for bad in ["", "s", "1 fortnight", "-1s", "1.5s"] {
        assert_eq!(job::catalog::duration_ms(bad), None, "{bad}");
    }
}
