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
        let want: Vec<(String, String)> =
            job::ddl::columns(sink, params.version).into_iter().map(|c| (c.name, c.ty)).collect();
        assert_eq!(got, want, "{db}.{table}");
    }
    let tables: Vec<String> = found.iter().map(|c| c.table.clone()).collect();
    for t in ["orders", "page_activity", "big_orders", "big_orders_queue", "big_orders_mv"] {
        assert!(tables.contains(&t.to_string()), "{t} in {tables:?}");
    }
    let _ = s.clickhouse.query(&format!("DROP DATABASE IF EXISTS `{db}`")).execute().await;
    std::fs::remove_file(&job).unwrap();
}

/// One input record of the typed job, and what ClickHouse must store for it (18.16: whole seconds, BYTES as the
/// base64 text the JSON holds, booleans as 0/1).
fn typed(k: i64) -> (String, String) {
    let s = format!("s{k} \"é\" \\ \u{1F600}");
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

fn base64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn a_kafka_sink_of_every_type_lands_in_its_generated_table() {
    let s = servers();
    let names = Names::new("jobtyped");
    names.init_topics(&s).await;
    let [input, _, _] = names.raw();
    let output = format!("{}typed", names.prefix);
    let job = job_file(
        &names,
        &format!(
            "CREATE TABLE src (s STRING, b BOOLEAN, i INT, n BIGINT, m DECIMAL(10, 3), d DOUBLE, dt STRING, ts STRING)
               WITH ('connector' = 'kafka', 'topic' = '{input}', 'format' = 'json');
             CREATE TABLE typed (s STRING NOT NULL, b BOOLEAN, i INT, n BIGINT NOT NULL, m DECIMAL(10, 3),
               d DOUBLE, dt DATE, ts TIMESTAMP(3), by BYTES)
               WITH ('connector' = 'kafka', 'topic' = '{output}', 'format' = 'json', 'sink.order-by' = 'n');
             INSERT INTO typed SELECT s, b, i, n, m, d, TO_DATE(dt), TO_TIMESTAMP(ts), CAST(s AS BYTES) FROM src;"
        ),
    );
    let job_flag = format!("--job={}", job.display());
    // The names' flags would win over the job's topics: give the job's.
    let (input_flag, output_flag) = (format!("--input-topics={input}"), format!("--output-topic={output}"));
    let transformer = InProcess::start(names.transformer(&s, &[&job_flag, &input_flag, &output_flag]));
    eventually(LIMIT, "the output topic", || async {
        (topic_len(&s, &output).await >= 0).then_some(()).ok_or_else(|| "not created yet".to_string())
    })
    .await;
    let args = names.transformer_args(
        &s,
        &[
            &job_flag,
            &input_flag,
            &output_flag,
            &format!("--clickhouse-url={}", clickhouse_url()),
            &format!("--clickhouse-database={}", names.db),
            "schema",
            &format!("--group={}", names.db),
            "--create-tables",
        ],
    );
    let (code, log) = run_binary(&args);
    assert_eq!(code, 0, "{log}");

    let n = 60;
    let (raw, want): (Vec<String>, Vec<String>) = (0..n).map(typed).unzip();
    produce(&s, &input, 0, &raw).await;
    let db = &names.db;
    eventually(LIMIT, "every row in ClickHouse", || async {
        let c = ch_count(&s, &format!("SELECT count() FROM `{db}`.typed")).await;
        (c >= n as u64).then_some(()).ok_or(format!("{c} of {n} rows"))
    })
    .await;
    let got = ch_strings(
        &s,
        &format!(
            "SELECT concat(s, '\\t', ifNull(toString(b), '\\\\N'), '\\t', ifNull(toString(i), '\\\\N'), '\\t', \
             toString(n), '\\t', ifNull(toString(m), '\\\\N'), '\\t', ifNull(toString(d), '\\\\N'), '\\t', \
             ifNull(toString(dt), '\\\\N'), '\\t', ifNull(toString(ts), '\\\\N'), '\\t', ifNull(by, '\\\\N')) \
             FROM `{db}`.typed ORDER BY n"
        ),
    )
    .await;
    // ClickHouse prints a Decimal(10, 3) with its three decimals.
    let want: Vec<String> = want.iter().map(|w| w.replacen(".5\t", ".500\t", 1)).collect();
    assert_eq!(got, want);
    assert_eq!(ch_count(&s, &format!("SELECT count() FROM `{db}`.typed")).await, n as u64, "each row once");
    transformer.stop().await;
    names.drop_clickhouse_tables(&s).await;
    std::fs::remove_file(&job).unwrap();
}
