//! A job's own ClickHouse tables on the real ClickHouse: `transformer --job FILE schema --create-tables` makes every
//! sink's table as `job::ddl` declares it (quoted names, a database with a dash, twice without harm), and a Kafka
//! sink of every type goes through the generated Kafka table and view into its table, with the values the job wrote.
mod common;

use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(120);

fn clickhouse_url() -> String {
    std::env::var("TEST_CLICKHOUSE_URL").expect("TEST_CLICKHOUSE_URL: run scripts/test.sh")
}

/// `sql` written to a file of its own; returns its path.
fn job_file(names: &Names, sql: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}job.sql", names.prefix));
    std::fs::write(&path, sql).unwrap();
    path
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct Column {
    table: String,
    name: String,
    #[serde(rename = "type")]
    ty: String,
}

#[tokio::test]
async fn the_job_ddl_creates_every_sink_table_on_clickhouse() {
    let s = servers();
    let names = Names::new("jobddl");
    let db = format!("{}-prod", names.db); // a name that needs quoting
    let job = job_file(&names, include_str!("../../schema/jobs/shop.sql"));
    let args: Vec<String> = [
        format!("--job={}", job.display()),
        format!("--brokers={}", s.brokers),
        format!("--clickhouse-url={}", clickhouse_url()),
        format!("--clickhouse-database={db}"),
        "schema".into(),
        "--create-tables".into(),
    ]
    .into();
    for attempt in 0..2 {
        let (code, log) = run_binary(&args);
        assert_eq!(code, 0, "attempt {attempt}: {log}");
    }
    let plan = job::Plan::new("shop.sql", include_str!("../../schema/jobs/shop.sql")).unwrap();
    let found: Vec<Column> = s
        .clickhouse
        .query("SELECT table, name, type FROM system.columns WHERE database = ?")
        .bind(&db)
        .fetch_all()
        .await
        .unwrap();
    let params = job::ddl::DdlParams {
        database: db.clone(),
        database_wins: true,
        kafka_broker: s.brokers.clone(),
        group: "clickhouse".into(),
        version: contract::sql::ClickHouseVersion::V18,
        kafka_topic: None,
    };
    for sink in &plan.sinks {
        let (_, table) = job::ddl::stored_table(sink, &params);
        let got: Vec<(String, String)> =
            found.iter().filter(|c| c.table == table).map(|c| (c.name.clone(), c.ty.replace("\\'", "'"))).collect();
        let mut want: Vec<(String, String)> =
            job::ddl::columns(sink, params.version).into_iter().map(|c| (c.name, c.ty)).collect();
        if sink.clickhouse().is_some() {
            want.extend(job::ddl::HIDDEN.iter().map(|(n, t)| (n.to_string(), t.to_string())));
        }
        assert_eq!(got, want, "{db}.{table}");
    }
    let tables: Vec<String> = found.iter().map(|c| c.table.clone()).collect();
    for t in [
        "orders",
        "page_activity",
        "big_orders",
        "big_orders_queue",
        "big_orders_mv",
        "_etl_positions",
        "_etl_positions_orders",
        "_etl_positions_page_activity",
    ] {
        assert!(tables.contains(&t.to_string()), "{t} in {tables:?}");
    }
    let _ = s.clickhouse.query(&format!("DROP DATABASE IF EXISTS `{db}`")).execute().await;
    std::fs::remove_file(&job).unwrap();
}

/// One input record of the typed job, and what ClickHouse must store for it (18.16: whole seconds, BYTES as the
/// base64 text the JSON holds, booleans as 0/1).
fn typed(k: i64) -> (String, String) {
    let s = typed_text(k);
    if k % 5 == 4 {
        let raw = serde_json::json!({"s": s, "n": k}).to_string();
        return (raw, format!("{s}\t\\N\t\\N\t{k}\t\\N\t\\N\t\\N\t\\N\t{}", base64(&s)));
    }
    let raw = serde_json::json!({
        "s": s, "b": k % 2 == 0, "i": k - 25, "n": k, "m": format!("{k}.5"), "d": k as f64 / 4.0,
        "dt": format!("2024-05-{:02}", k % 28 + 1), "ts": format!("2024-05-01 10:00:{:02}.250", k % 60),
    })
    .to_string();
    let want = format!(
        "{s}\t{}\t{}\t{k}\t{k}.5\t{}\t2024-05-{:02}\t2024-05-01 10:00:{:02}\t{}",
        u8::from(k % 2 == 0),
        k - 25,
        k as f64 / 4.0,
        k % 28 + 1,
        k % 60,
        base64(&s)
    );
    (raw, want)
}

/// The text of input record `k`'s STRING (and, cast, its BYTES).
fn typed_text(k: i64) -> String {
    format!("s{k} \"é\" \\ \u{1F600}")
}

fn base64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Starts a transformer running `job` (which reads `input` and writes to Kafka sinks and ClickHouse sinks) in
/// process, after creating its topics (`--init`: a Kafka table reads one) and its tables (`schema --create-tables`:
/// the transformer checks its tables at start).
fn start_with_its_tables(s: &Servers, names: &Names, job: &std::path::Path, input: &str) -> InProcess {
    let job_flag = format!("--job={}", job.display());
    // The names' flags would win over the job's topics: give the job's (and no --output-topic: several sinks).
    let input_flag = format!("--input-topics={input}");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a = names.transformer_args(
            s,
            &[&[job_flag.as_str(), input_flag.as_str(), &format!("--clickhouse-url={}", clickhouse_url())], extra]
                .concat(),
        );
        a.retain(|f| !f.starts_with("--output-topic="));
        a
    };
    let (code, log) = run_binary(&args(&["--init"]));
    assert_eq!(code, 0, "{log}");
    let (code, log) = run_binary(&args(&[
        "schema",
        &format!("--database={}", names.db),
        &format!("--group={}", names.db),
        "--create-tables",
    ]));
    assert_eq!(code, 0, "{log}");
    InProcess::start(transformer::Config::from_args(std::iter::once("transformer".to_string()).chain(args(&[]))))
}

#[tokio::test]
async fn a_sink_of_every_type_lands_in_its_generated_tables_by_both_paths() {
    // The same row to a Kafka sink (through the generated Kafka table and view) and to a ClickHouse sink (RowBinary):
    // both tables hold the values the job wrote (18.16: the direct table keeps the milliseconds beside the
    // DateTime, and BYTES as bytes where the Kafka path keeps their base64 text).
    let s = servers();
    let names = Names::new("jobtyped");
    names.init_topics(&s).await;
    let [input, _, _] = names.raw();
    let output = format!("{}typed", names.prefix);
    let columns = "s STRING NOT NULL, b BOOLEAN, i INT, n BIGINT NOT NULL, m DECIMAL(10, 3), d DOUBLE, dt DATE, \
                   ts TIMESTAMP(3), by BYTES";
    let job = job_file(
        &names,
        &format!(
            "CREATE TABLE src (s STRING, b BOOLEAN, i INT, n BIGINT, m DECIMAL(10, 3), d DOUBLE, dt STRING, ts STRING)
               WITH ('connector' = 'kafka', 'topic' = '{input}', 'format' = 'json');
             CREATE TABLE typed ({columns})
               WITH ('connector' = 'kafka', 'topic' = '{output}', 'format' = 'json', 'sink.order-by' = 'n');
             CREATE TABLE typed_direct ({columns})
               WITH ('connector' = 'clickhouse', 'database-name' = '{db}', 'sink.order-by' = 'n');
             EXECUTE STATEMENT SET BEGIN
               INSERT INTO typed SELECT s, b, i, n, m, d, TO_DATE(dt), TO_TIMESTAMP(ts), CAST(s AS BYTES) FROM src;
               INSERT INTO typed_direct SELECT s, b, i, n, m, d, TO_DATE(dt), TO_TIMESTAMP(ts), CAST(s AS BYTES)
                 FROM src;
             END;",
            db = names.db
        ),
    );
    let transformer = start_with_its_tables(&s, &names, &job, &input);

    let n = 60;
    let (raw, want): (Vec<String>, Vec<String>) = (0..n).map(typed).unzip();
    produce(&s, &input, 0, &raw).await;
    let db = &names.db;
    for table in ["typed", "typed_direct"] {
        eventually(LIMIT, "every row in ClickHouse", || async {
            let c = ch_count(&s, &format!("SELECT count() FROM `{db}`.{table}")).await;
            (c >= n as u64).then_some(()).ok_or(format!("{table}: {c} of {n} rows"))
        })
        .await;
    }
    let select = |table: &str, extra: &str| {
        format!(
            "SELECT concat(s, '\\t', ifNull(toString(b), '\\\\N'), '\\t', ifNull(toString(i), '\\\\N'), '\\t', \
             toString(n), '\\t', ifNull(toString(m), '\\\\N'), '\\t', ifNull(toString(d), '\\\\N'), '\\t', \
             ifNull(toString(dt), '\\\\N'), '\\t', ifNull(toString(ts), '\\\\N'), '\\t', ifNull(by, '\\\\N'){extra}) \
             FROM `{db}`.{table} ORDER BY n"
        )
    };
    // ClickHouse prints a Decimal(10, 3) with its three decimals.
    let want: Vec<String> = want.iter().map(|w| w.replacen(".5\t", ".500\t", 1)).collect();
    assert_eq!(ch_strings(&s, &select("typed", "")).await, want, "the Kafka path");
    let direct: Vec<String> = (0..n)
        .zip(&want)
        .map(|(k, w)| {
            let (head, b64) = w.rsplit_once('\t').unwrap();
            let text = if b64 == "\\N" { b64.to_owned() } else { typed_text(k) };
            let ms = if k % 5 == 4 { "\\N" } else { "250" };
            format!("{head}\t{text}\t{ms}")
        })
        .collect();
    let direct_got = ch_strings(&s, &select("typed_direct", ", '\\t', ifNull(toString(ts_ms), '\\\\N')")).await;
    assert_eq!(direct_got, direct, "the direct sink");
    for table in ["typed", "typed_direct"] {
        assert_eq!(
            ch_count(&s, &format!("SELECT count() FROM `{db}`.{table}")).await,
            n as u64,
            "{table}: each row once"
        );
    }
    transformer.stop().await;
    names.drop_clickhouse_tables(&s).await;
    std::fs::remove_file(&job).unwrap();
}

#[tokio::test]
async fn nested_values_land_in_their_generated_tables_by_both_paths() {
    // ARRAY, MAP and ROW columns (nested in each other too) through a ClickHouse sink (RowBinary into Array and
    // Tuple; 18.16 keeps a MAP and an array of rows as one array per field: `attrs.key`, `items.sku`), and arrays
    // through a Kafka sink (the Kafka table reads JSON arrays): each row's values as ClickHouse prints them, once
    // per table.
    let s = servers();
    let names = Names::new("jobnested");
    names.init_topics(&s).await;
    let [input, _, _] = names.raw();
    let output = format!("{}nested", names.prefix);
    let job = job_file(
        &names,
        &format!(
            "CREATE TABLE src (id BIGINT, tags ARRAY<STRING>, attrs MAP<STRING, INT>,
                 items ARRAY<ROW<sku STRING, qty INT NOT NULL>>, customer ROW<name STRING, seen ARRAY<TIMESTAMP(3)>>)
               WITH ('connector' = 'kafka', 'topic' = '{input}', 'format' = 'json');
             CREATE TABLE arrays (id BIGINT NOT NULL, tags ARRAY<STRING> NOT NULL, qtys ARRAY<INT> NOT NULL)
               WITH ('connector' = 'kafka', 'topic' = '{output}', 'format' = 'json', 'sink.order-by' = 'id');
             CREATE TABLE nested (id BIGINT NOT NULL, tags ARRAY<STRING>, attrs MAP<STRING, INT>,
                 items ARRAY<ROW<sku STRING, qty INT NOT NULL>>, customer ROW<name STRING, seen ARRAY<TIMESTAMP(3)>>,
                 first_sku STRING, n INT)
               WITH ('connector' = 'clickhouse', 'database-name' = '{db}', 'sink.order-by' = 'id');
             EXECUTE STATEMENT SET BEGIN
               INSERT INTO arrays SELECT id, tags, ARRAY[CARDINALITY(items), items[1].qty] FROM src
                 WHERE tags IS NOT NULL;
               INSERT INTO nested SELECT id, tags, attrs, items, customer, items[1].sku, attrs['n'] FROM src;
             END;",
            db = names.db
        ),
    );
    let transformer = start_with_its_tables(&s, &names, &job, &input);
    let n = 30i64;
    let raw: Vec<String> = (0..n)
        .map(|k| match k % 3 {
            0 => format!(
                r#"{{"id": {k}, "tags": ["a{k}", null], "attrs": {{"n": {k}, "m": "7"}},
                    "items": [{{"sku": "s{k}", "qty": 2}}, {{"qty": "3"}}],
                    "customer": {{"name": "c{k}", "seen": ["2024-05-01 10:00:0{}.25"]}}}}"#,
                k % 10
            ),
            1 => format!(r#"{{"id": {k}, "tags": [], "attrs": {{}}, "items": [], "customer": {{"seen": null}}}}"#),
            _ => format!(r#"{{"id": {k}}}"#),
        })
        .collect();
    produce(&s, &input, 0, &raw).await;
    let db = &names.db;
    // The Kafka sink takes the rows with tags (two of every three).
    let with_tags = (0..n).filter(|k| k % 3 != 2).count() as u64;
    for (table, rows) in [("arrays", with_tags), ("nested", n as u64)] {
        eventually(LIMIT, "every row in ClickHouse", || async {
            let c = ch_count(&s, &format!("SELECT count() FROM `{db}`.{table}")).await;
            (c >= rows).then_some(()).ok_or(format!("{table}: {c} of {rows} rows"))
        })
        .await;
    }
    let got = ch_strings(
        &s,
        &format!(
            "SELECT concat(toString(id), ' ', toString(tags), ' ', toString(qtys)) FROM `{db}`.arrays ORDER BY id"
        ),
    )
    .await;
    let want: Vec<String> = (0..n)
        .filter_map(|k| match k % 3 {
            0 => Some(format!("{k} ['a{k}',NULL] [2,2]")),
            1 => Some(format!("{k} [] [0,NULL]")),
            _ => None,
        })
        .collect();
    assert_eq!(got, want, "the Kafka path");
    let got = ch_strings(
        &s,
        &format!(
            "SELECT concat(toString(id), ' ', toString(tags), ' ', toString(`attrs.key`), ' ', \
             toString(`attrs.value`), ' ', toString(`items.sku`), ' ', toString(`items.qty`), ' ', \
             toString(customer), ' ', ifNull(first_sku, '\\\\N'), ' ', ifNull(toString(n), '\\\\N')) \
             FROM `{db}`.nested ORDER BY id"
        ),
    )
    .await;
    let want: Vec<String> = (0..n)
        .map(|k| match k % 3 {
            0 => format!(
                "{k} ['a{k}',NULL] ['n','m'] [{k},7] ['s{k}',NULL] [2,3] ('c{k}',['2024-05-01 10:00:0{}']) s{k} {k}",
                k % 10
            ),
            _ => format!("{k} [] [] [] [] [] (NULL,[]) \\N \\N"),
        })
        .collect();
    assert_eq!(got, want, "the direct sink");
    for (table, rows) in [("arrays", with_tags), ("nested", n as u64)] {
        assert_eq!(ch_count(&s, &format!("SELECT count() FROM `{db}`.{table}")).await, rows, "{table}: each row once");
    }
    transformer.stop().await;
    names.drop_clickhouse_tables(&s).await;
    std::fs::remove_file(&job).unwrap();
}

/// A job with two ClickHouse sinks and one Kafka sink, its topics and database those of `names`.
fn shop_job(names: &Names) -> String {
    let [clicks, views, orders] = names.raw();
    format!(
        "CREATE TABLE orders_raw (order_id STRING, user_id STRING, amount DECIMAL(12, 2), `timestamp` STRING)
           WITH ('connector' = 'kafka', 'topic' = '{orders}', 'format' = 'json');
         CREATE TABLE activity_raw (user_id STRING, url STRING, element_id STRING, duration_seconds BIGINT,
           `timestamp` STRING, `topic` STRING METADATA VIRTUAL)
           WITH ('connector' = 'kafka', 'topic' = '{clicks};{views}', 'format' = 'json');
         CREATE TABLE orders (order_id STRING NOT NULL, user_id STRING NOT NULL, amount DECIMAL(12, 2) NOT NULL,
           ordered_at TIMESTAMP(3) NOT NULL) WITH ('connector' = 'clickhouse', 'database-name' = '{db}');
         CREATE TABLE page_activity (kind STRING NOT NULL, user_id STRING NOT NULL, url STRING, element_id STRING,
           duration_seconds BIGINT, event_time TIMESTAMP(3) NOT NULL)
           WITH ('connector' = 'clickhouse', 'database-name' = '{db}', 'sink.order-by' = '(kind, event_time)');
         CREATE TABLE big_orders (order_id STRING NOT NULL, amount DECIMAL(12, 2) NOT NULL)
           WITH ('connector' = 'kafka', 'topic' = '{prefix}big_orders', 'format' = 'json');
         EXECUTE STATEMENT SET BEGIN
           INSERT INTO orders SELECT order_id, user_id, amount, TO_EVENT_TIME(`timestamp`) FROM orders_raw;
           INSERT INTO page_activity SELECT UPPER(REPLACE(`topic`, '{prefix}user_', '')), user_id, url, element_id,
             duration_seconds, TO_EVENT_TIME(`timestamp`) FROM activity_raw;
           INSERT INTO big_orders SELECT order_id, amount FROM orders_raw WHERE amount >= 100;
         END;",
        db = names.db,
        prefix = names.prefix,
    )
}

/// How many rows each sink of `plan` gets from every record now on the raw topics of `names`.
async fn rows_per_sink(s: &Servers, names: &Names, plan: &job::Plan) -> std::collections::BTreeMap<String, u64> {
    let client = kafka(s).await;
    let mut rows = std::collections::BTreeMap::new();
    for topic in names.raw() {
        for p in runtime::kafka::partitions(&client, &topic).await.unwrap() {
            let pc = runtime::kafka::partition_client(&client, &topic, p).await.unwrap();
            let (low, high) = transformer::source::bounds(&pc).await.unwrap();
            for r in transformer::source::read_range(&pc, low, high).await.unwrap() {
                let rec = job::Record {
                    topic: &topic,
                    partition: p,
                    offset: r.offset,
                    timestamp_ms: 0,
                    key: None,
                    value: r.record.value.as_deref(),
                    headers: None,
                };
                for out in plan.map_owned(&rec, 1 << 20, 0) {
                    if let job::Outcome::Row { sink, .. } = out {
                        *rows.entry(sink).or_insert(0) += 1;
                    }
                }
            }
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_writes_its_clickhouse_tables_exactly_once_through_a_crash() {
    // Two ClickHouse sinks and a Kafka sink from one read. The process dies after a round is in every output and
    // before its commit; the restart finds that round in the tables through their positions (and on the topic by
    // its scan) and writes nothing twice: count() = uniqExact(source coordinates) without FINAL.
    let s = servers();
    let names = Names::new("jobch");
    let sql = shop_job(&names);
    let job = job_file(&names, &sql);
    let plan = job::Plan::new("shop.sql", &sql).unwrap();
    let job_flag = format!("--job={}", job.display());
    let url = format!("--clickhouse-url={}", clickhouse_url());
    // The job names its topics: no --output-topic.
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a = names.transformer_args(&s, &[&[job_flag.as_str(), url.as_str()], extra].concat());
        a.retain(|f| !f.starts_with("--output-topic="));
        a
    };
    let (code, log) = run_binary(&args(&["schema", "--create-tables"]));
    assert_eq!(code, 0, "{log}");
    let n: u64 = 3_000;
    emitter::run(names.emitter(&s, 46, n, 0.0, false), std::future::pending()).await.unwrap();
    let want = rows_per_sink(&s, &names, &plan).await;
    assert!(want["orders"] > 100 && want["page_activity"] > 100 && want["big_orders"] > 10, "{want:?}");

    let (code, log) = run_binary(&args(&["--fetch-max-bytes=16384", "--crash-before-commit=2"]));
    assert_ne!(code, 0, "it aborted: {log}");
    assert!(log.contains("--crash-before-commit: aborting"), "{log}");
    let db = &names.db;
    let count = |table: &str| format!("SELECT count() FROM `{db}`.`{table}`");
    assert!(ch_count(&s, &count("orders")).await > 0, "the crashed round reached the table");

    let again =
        InProcess::start(transformer::Config::from_args(std::iter::once("transformer".to_string()).chain(args(&[]))));
    eventually(LIMIT, "every row in both tables", || async {
        let (o, a) = (ch_count(&s, &count("orders")).await, ch_count(&s, &count("page_activity")).await);
        (o >= want["orders"] && a >= want["page_activity"])
            .then_some(())
            .ok_or(format!("orders {o} of {}, page_activity {a} of {}", want["orders"], want["page_activity"]))
    })
    .await;
    let big = format!("{}big_orders", names.prefix);
    eventually(LIMIT, "every big order on its topic", || async {
        let n = topic_len(&s, &big).await as u64;
        (n >= want["big_orders"]).then_some(()).ok_or(format!("{n} of {}", want["big_orders"]))
    })
    .await;
    assert!(
        again.metrics.records_skipped.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the crashed round was found"
    );
    again.stop().await;
    for table in ["orders", "page_activity"] {
        let distinct =
            format!("SELECT uniqExact(_source_topic, _source_partition, _source_offset) FROM `{db}`.`{table}`");
        assert_eq!(ch_count(&s, &count(table)).await, want[table], "{table}: every row");
        assert_eq!(ch_count(&s, &distinct).await, want[table], "{table}: none twice, without FINAL");
    }
    let (coords, _) = output_coordinates(&s, std::slice::from_ref(&big)).await;
    assert_eq!(coords.len() as u64, want["big_orders"]);
    assert_eq!(coords.iter().collect::<std::collections::HashSet<_>>().len(), coords.len(), "none twice on the topic");
    // The positions the recovery reads: one row per partition and table once merged, never the sink's size.
    let positions = ch_count(&s, &format!("SELECT count() FROM `{db}`.`_etl_positions` FINAL")).await;
    assert!(positions <= 2 * 3 * 3, "{positions} positions for 2 tables of 3 partitions of 3 topics at most");
    names.drop_clickhouse_tables(&s).await;
    std::fs::remove_file(&job).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_checkpoints_do_not_double_a_tables_rows_and_a_recreated_topic_is_written() {
    // The table's positions live with its rows: with the checkpoints gone (a new checkpoint topic, as an emptied
    // one or a new group name would be), a restart does not write the table's rows again. A recreated topic's
    // records, with the same offsets but made after the rows were written, are written.
    let s = servers();
    let names = Names::new("lostcp");
    let (orders, job) = orders_into_a_table(&s, &names).await;
    let job_flag = format!("--job={}", job.display());
    let url = format!("--clickhouse-url={}", clickhouse_url());
    let drain = |checkpoints: &str| {
        run_binary(&names.transformer_args(
            &s,
            &[
                &job_flag,
                &url,
                &format!("--input-topics={orders}"),
                &format!("--checkpoint-topic={checkpoints}"),
                "--drain",
            ],
        ))
    };
    let (code, log) = run_binary(&names.transformer_args(&s, &[&job_flag, &url, "schema", "--create-tables"]));
    assert_eq!(code, 0, "{log}");
    produce(&s, &orders, 0, &common::orders("old", 200)).await;
    produce(&s, &orders, 1, &common::orders("old1", 100)).await;
    let (code, log) = drain(&format!("{}cp1", names.prefix));
    assert_eq!(code, 0, "{log}");
    let db = &names.db;
    let count = format!("SELECT count() FROM `{db}`.t");
    assert_eq!(ch_count(&s, &count).await, 300);

    let (code, log) = drain(&format!("{}cp2", names.prefix));
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("no checkpoint: the table already holds"), "{log}");
    assert_eq!(ch_count(&s, &count).await, 300, "nothing written twice with the checkpoints gone");

    let client = kafka(&s).await;
    let controller = client.controller_client().unwrap();
    controller.delete_topic(&orders, 10_000).await.unwrap();
    controller.create_topic(&orders, 3, 1, 10_000).await.unwrap();
    // The new topic's records are made after the old rows were written: stamped ten minutes on, as if the topic
    // were recreated ten minutes later (the check compares the record's time with the round that wrote the row).
    let pc = runtime::kafka::partition_client(&client, &orders, 0).await.unwrap();
    let later = chrono::Utc::now() + chrono::Duration::minutes(10);
    let records = common::orders("new", 250)
        .into_iter()
        .map(|v| rskafka::record::Record {
            key: None,
            value: Some(v.into_bytes()),
            headers: Default::default(),
            timestamp: later,
        })
        .collect();
    pc.produce(records, rskafka::client::partition::Compression::NoCompression).await.unwrap();
    let (code, log) = drain(&format!("{}cp3", names.prefix));
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("does not hold as it was then"), "{log}");
    assert_eq!(ch_count(&s, &count).await, 550, "the recreated topic's 250 records written");
    let new = ch_count(&s, &format!("SELECT count() FROM `{db}`.t WHERE startsWith(user_id, 'new-')")).await;
    assert_eq!(new, 250);
    names.drop_clickhouse_tables(&s).await;
    std::fs::remove_file(&job).unwrap();
}

#[tokio::test]
async fn a_missing_column_is_refused_with_the_alter_to_run_and_added_with_evolve() {
    let s = servers();
    let names = Names::new("evolve");
    let (orders, job) = orders_into_a_table(&s, &names).await;
    let base = [format!("--job={}", job.display()), format!("--clickhouse-url={}", clickhouse_url())];
    let args = |extra: &[&str]| {
        let mut a: Vec<&str> = base.iter().map(String::as_str).collect();
        a.push("--drain");
        a.extend_from_slice(extra);
        names.transformer_args(&s, &a)
    };
    let (code, log) = run_binary(&names.transformer_args(&s, &[&base[0], &base[1], "schema", "--create-tables"]));
    assert_eq!(code, 0, "{log}");
    let db = &names.db;
    s.clickhouse.query(&format!("ALTER TABLE `{db}`.t DROP COLUMN user_id")).execute().await.unwrap();
    produce(&s, &orders, 0, &common::orders("e", 20)).await;

    let (code, log) = run_binary(&args(&[]));
    assert_ne!(code, 0, "{log}");
    assert!(log.contains(&format!("ALTER TABLE `{db}`.`t` ADD COLUMN `user_id` Nullable(String)")), "{log}");
    assert!(log.contains("--evolve"), "{log}");

    let (code, log) = run_binary(&args(&["--evolve"]));
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("--evolve: added a column the job writes"), "{log}");
    let filled = ch_count(&s, &format!("SELECT count() FROM `{db}`.t WHERE startsWith(user_id, 'e-')")).await;
    assert_eq!(filled, 20, "the rows carry the added column");
    names.drop_clickhouse_tables(&s).await;
    std::fs::remove_file(&job).unwrap();
}

/// A job writing orders into the table `t` ([`orders_into_a_table_with`]), its tables created.
struct TableJob {
    orders: String,
    job: std::path::PathBuf,
    /// The flags that run it: the job, ClickHouse and the orders topic.
    flags: [String; 3],
}

impl TableJob {
    async fn created(s: &Servers, names: &Names, options: &str) -> Self {
        let (orders, job) = orders_into_a_table_with(s, names, options).await;
        let flags = [
            format!("--job={}", job.display()),
            format!("--clickhouse-url={}", clickhouse_url()),
            format!("--input-topics={orders}"),
        ];
        let (code, log) = run_binary(&names.transformer_args(s, &[&flags[0], &flags[1], "schema", "--create-tables"]));
        assert_eq!(code, 0, "{log}");
        Self { orders, job, flags }
    }

    /// The transformer's arguments with `extra` added.
    fn args(&self, s: &Servers, names: &Names, extra: &[&str]) -> Vec<String> {
        let mut all: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        all.extend_from_slice(extra);
        names.transformer_args(s, &all)
    }

    /// Waits until the table holds `n` rows.
    async fn rows(&self, s: &Servers, names: &Names, n: u64, t: &Binary) {
        let count = format!("SELECT count() FROM `{}`.t", names.db);
        eventually(LIMIT, "the orders in the table", || async {
            match ch_count(s, &count).await {
                got if got == n => Ok(()),
                got => Err(format!("{got} rows of {n}\n{}", t.logged())),
            }
        })
        .await;
    }

    async fn drop(self, s: &Servers, names: &Names) {
        names.drop_clickhouse_tables(s).await;
        std::fs::remove_file(&self.job).unwrap();
    }
}

/// The rows per round (INSERT) of the table `t`, by `_round`.
async fn rows_per_round(s: &Servers, names: &Names) -> Vec<u64> {
    let sql = format!("SELECT toString(count()) FROM `{}`.t GROUP BY _round ORDER BY _round", names.db);
    ch_strings(s, &sql).await.iter().map(|n| n.parse().unwrap()).collect()
}

#[tokio::test]
async fn a_backlog_is_written_in_inserts_of_the_batch_size_each_gathered_over_several_fetches() {
    // 1,000 orders in 40 producer batches of 25; a fetch brings one batch (--fetch-max-bytes 1 KiB). With
    // 'sink.batch-size' = '100' every INSERT holds exactly 100 rows: four fetches gathered, never more.
    let s = servers();
    let names = Names::new("batchsize");
    let options = ", 'sink.batch-size' = '100', 'sink.flush-interval' = '1 min'";
    let tj = TableJob::created(&s, &names, options).await;
    let client = kafka(&s).await;
    let pc = runtime::kafka::partition_client(&client, &tj.orders, 0).await.unwrap();
    for batch in common::orders("b", 1000).chunks(25) {
        let records = batch.iter().map(|v| record(v)).collect();
        pc.produce(records, rskafka::client::partition::Compression::NoCompression).await.unwrap();
    }
    let mut t = Binary::spawn(&tj.args(&s, &names, &["--drain", "--fetch-max-bytes=1024"]));
    assert!(t.exit(LIMIT).await.success(), "{}", t.logged());
    assert!(t.logged().contains("rounds gather records before writing"), "{}", t.logged());
    assert_eq!(rows_per_round(&s, &names).await, vec![100; 10], "ten INSERTs of exactly the batch size");
    tj.drop(&s, &names).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_stream_is_written_once_per_flush_interval_not_once_per_fetch() {
    // An order every 50 ms for 2 s: without a flush interval that is an INSERT (a ClickHouse part) per fetch,
    // 20 to 40 of them. With 'sink.flush-interval' = '2s' a round gathers for 2 s, so the rows land in at most one
    // INSERT per 2 s the stream was watched, plus one.
    let s = servers();
    let names = Names::new("flushint");
    let tj = TableJob::created(&s, &names, ", 'sink.flush-interval' = '2s'").await;
    let t = Binary::spawn(&tj.args(&s, &names, &[]));
    let client = kafka(&s).await;
    let pc = runtime::kafka::partition_client(&client, &tj.orders, 0).await.unwrap();
    let began = std::time::Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    for order in common::orders("slow", 40) {
        ticks.tick().await;
        pc.produce(vec![record(&order)], rskafka::client::partition::Compression::NoCompression).await.unwrap();
    }
    tj.rows(&s, &names, 40, &t).await;
    let watched = began.elapsed();
    let rounds = rows_per_round(&s, &names).await;
    let most = (watched.as_secs_f64() / 2.0).floor() as usize + 1;
    assert!(rounds.len() <= most, "{} INSERTs in {watched:?}, at most {most}: {rounds:?}", rounds.len());
    drop(t);
    tj.drop(&s, &names).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_that_keeps_failing_stops_the_run_after_sink_max_retries() {
    // Without 'sink.max-retries' a failed round is retried for good (a server that went away comes back); with it,
    // the run stops, exit 1, once that many retries in a row have failed: here the table was dropped under it.
    let s = servers();
    let names = Names::new("maxretry");
    let tj = TableJob::created(&s, &names, ", 'sink.max-retries' = '2'").await;
    let mut t = Binary::spawn(&tj.args(&s, &names, &[]));
    produce(&s, &tj.orders, 0, &common::orders("r", 10)).await;
    tj.rows(&s, &names, 10, &t).await;
    s.clickhouse.query(&format!("DROP TABLE `{}`.t", names.db)).execute().await.unwrap();
    produce(&s, &tj.orders, 0, &common::orders("r2", 10)).await;
    let status = t.exit(LIMIT).await;
    let log = t.logged();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("3 failed rounds in a row, over the job's 'sink.max-retries' = '2'"), "{log}");
    tj.drop(&s, &names).await;
}

/// A record of `value`, made now.
fn record(value: &str) -> rskafka::record::Record {
    rskafka::record::Record {
        key: None,
        value: Some(value.as_bytes().to_vec()),
        headers: Default::default(),
        timestamp: chrono::Utc::now(),
    }
}

/// The input topics of `names`, and a job file that writes their orders' ids and users into the ClickHouse table
/// `t` of the database `names.db`: returns the orders topic and the job file.
async fn orders_into_a_table(s: &Servers, names: &Names) -> (String, std::path::PathBuf) {
    orders_into_a_table_with(s, names, "").await
}

/// As [`orders_into_a_table`], with `options` (`, 'key' = 'value'…`) added to the table's WITH clause.
async fn orders_into_a_table_with(s: &Servers, names: &Names, options: &str) -> (String, std::path::PathBuf) {
    names.init_topics(s).await;
    let orders = names.raw()[2].clone();
    let job = job_file(
        names,
        &format!(
            "CREATE TABLE src (order_id STRING, user_id STRING)
               WITH ('connector' = 'kafka', 'topic' = '{orders}', 'format' = 'json');
             CREATE TABLE t (order_id STRING, user_id STRING)
               WITH ('connector' = 'clickhouse', 'database-name' = '{db}'{options});
             INSERT INTO t SELECT order_id, user_id FROM src;",
            db = names.db
        ),
    );
    (orders, job)
}
