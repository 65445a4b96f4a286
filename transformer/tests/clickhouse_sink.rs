//! The direct ClickHouse sink (`--sink clickhouse`) against the real broker and the real ClickHouse: rows land once,
//! with the values the Kafka path stores; crashes between the INSERT and the commit, and kill pairs inside the
//! recovery window, double nothing (`count()` = `uniqExact(event_id)`, no FINAL); a table that goes away fails the
//! rounds out loud and loses nothing; a wrong schema or login stops the start with what to do.
mod common;
#[path = "support/jobs.rs"]
mod jobs;

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(120);

fn clickhouse_url() -> String {
    std::env::var("TEST_CLICKHOUSE_URL").expect("TEST_CLICKHOUSE_URL: run scripts/test.sh")
}

/// The flags of a transformer writing to ClickHouse database `names.db`, plus `extra`.
fn sink_args(s: &Servers, names: &Names, extra: &[&str]) -> Vec<String> {
    let url = format!("--clickhouse-url={}", clickhouse_url());
    let db = format!("--clickhouse-database={}", names.db);
    let flag = |a: &str| a.split('=').next().unwrap_or(a).to_string();
    let mut args: Vec<&str> = ["--sink=clickhouse", url.as_str(), db.as_str()]
        .into_iter()
        .filter(|a| !extra.iter().any(|e| flag(e) == flag(a))) // a flag in `extra` replaces ours
        .collect();
    args.extend_from_slice(extra);
    names.transformer_args(s, &args)
}

fn sink_config(s: &Servers, names: &Names, extra: &[&str]) -> transformer::Config {
    transformer::Config::from_args(std::iter::once("transformer".to_string()).chain(sink_args(s, names, extra)))
}

/// A row of `events_processed` as the test reads it back.
#[derive(Debug, PartialEq, clickhouse::Row, serde::Deserialize)]
struct Row {
    event_id: String,
    event_type: String,
    event_time_ms: i64,
    user_id: String,
    details: String,
    url: Option<String>,
    element_id: Option<String>,
    duration_seconds: Option<i64>,
    order_id: Option<String>,
    amount: Option<f64>,
    ip_address: Option<String>,
    source_topic: String,
    source_partition: i32,
    source_offset: i64,
}

/// `count()` and `uniqExact(event_id)` of the events table, and `count()` and distinct coordinates of the dead
/// letters: no FINAL anywhere.
async fn counts(s: &Servers, names: &Names) -> (u64, u64, u64, u64) {
    let db = &names.db;
    (
        ch_count(s, &format!("SELECT count() FROM {db}.events_processed")).await,
        ch_count(s, &format!("SELECT uniqExact(event_id) FROM {db}.events_processed")).await,
        ch_count(s, &format!("SELECT count() FROM {db}.dead_letters")).await,
        ch_count(s, &format!("SELECT uniqExact(source_topic, source_partition, source_offset) FROM {db}.dead_letters"))
            .await,
    )
}

/// The storage tables, and beside each a plain MergeTree fed by a materialized view: it keeps every row ever
/// inserted, where the ReplacingMergeTree's background merges could hide a double.
async fn create_tables_with_audit(s: &Servers, names: &Names) {
    names.create_storage_tables(s).await;
    let db = &names.db;
    for table in ["events_processed", "dead_letters"] {
        let sql = format!(
            "CREATE MATERIALIZED VIEW {db}.audit_{table} ENGINE = MergeTree() ORDER BY tuple() AS \
             SELECT source_topic, source_partition, source_offset FROM {db}.{table}"
        );
        s.clickhouse.query(&sql).execute().await.unwrap_or_else(|e| panic!("{sql}\n-> {e}"));
    }
}

/// The tables hold exactly the `want` ids, each once, and exactly `bad` dead letters, each once; and no row was
/// ever inserted twice (the audit tables of [`create_tables_with_audit`]).
async fn assert_stored_exactly(s: &Servers, names: &Names, want: &HashSet<String>, bad: u64) {
    let n = want.len() as u64;
    assert_eq!(counts(s, names).await, (n, n, bad, bad), "(rows, distinct ids, dead letters, distinct coordinates)");
    let db = &names.db;
    let inserted = (
        ch_count(s, &format!("SELECT count() FROM {db}.audit_events_processed")).await,
        ch_count(s, &format!("SELECT count() FROM {db}.audit_dead_letters")).await,
    );
    assert_eq!(inserted, (n, bad), "rows ever inserted (events, dead letters): none twice, merged away or not");
    let ids: HashSet<String> = ch_strings(s, &format!("SELECT toString(event_id) FROM {}.events_processed", names.db))
        .await
        .into_iter()
        .collect();
    assert_eq!(&ids, want, "exactly the events sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_and_dead_letters_land_once_with_the_kafka_paths_values() {
    let s = servers();
    let names = Names::new("chsink");
    create_tables_with_audit(&s, &names).await;
    let n = 3_000;
    emitter::run(names.emitter(&s, 41, n, 0.03, false), std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 41, 0..n, 0.03);
    let run = transformer::run(sink_config(&s, &names, &["--drain"]), std::future::pending());
    tokio::time::timeout(LIMIT, run).await.expect("--drain exits by itself").unwrap();
    assert_stored_exactly(&s, &names, &want, bad).await;

    // Every column as the mapping makes it (the Kafka path stores the same: its view turns the JSON into these).
    let rows: Vec<Row> = s
        .clickhouse
        .query(&format!(
            "SELECT toString(event_id), event_type, toInt64(toUInt32(event_timestamp)) * 1000 + event_timestamp_ms, \
             user_id, details, url, element_id, duration_seconds, order_id, amount, ip_address, source_topic, \
             source_partition, source_offset FROM {}.events_processed",
            names.db
        ))
        .fetch_all()
        .await
        .unwrap();
    let client = kafka(&s).await;
    let mut checked = 0;
    for topic in names.raw() {
        for p in runtime::kafka::partitions(&client, &topic).await.unwrap() {
            let pc = runtime::kafka::partition_client(&client, &topic, p).await.unwrap();
            let (low, high) = transformer::source::bounds(&pc).await.unwrap();
            for r in transformer::source::read_range(&pc, low, high).await.unwrap() {
                let Ok(e) = jobs::unified_at(&topic, p, r.offset, r.record.value.as_deref()) else { continue };
                let want = Row {
                    event_id: e.event_id,
                    event_type: e.event_type,
                    event_time_ms: e.event_time_ms,
                    user_id: e.user_id,
                    details: e.details,
                    url: e.url,
                    element_id: e.element_id,
                    duration_seconds: e.duration_seconds,
                    order_id: e.order_id,
                    amount: e.amount,
                    ip_address: e.ip_address,
                    source_topic: e.source_topic,
                    source_partition: e.source_partition,
                    source_offset: e.source_offset,
                };
                let got = rows.iter().find(|row| row.event_id == want.event_id).expect("the row is stored");
                assert_eq!(got, &want);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, want.len());
    let reasons = ch_strings(&s, &format!("SELECT DISTINCT reason FROM {}.dead_letters", names.db)).await;
    assert!(!reasons.is_empty() && reasons.iter().all(|r| !r.is_empty()), "{reasons:?}");
    names.drop_clickhouse_tables(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_insert_and_the_commit_writes_nothing_twice() {
    let s = servers();
    let names = Names::new("chcrash");
    create_tables_with_audit(&s, &names).await;
    let n = 5_000;
    emitter::run(names.emitter(&s, 43, n, 0.02, false), std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 43, 0..n, 0.02);
    // Abort after round 4's INSERTs are acknowledged, before its commit.
    let (code, log) = run_binary(&sink_args(&s, &names, &["--fetch-max-bytes=16384", "--crash-before-commit=3"]));
    assert_ne!(code, 0, "it aborted:\n{log}");
    assert!(log.contains("--crash-before-commit: aborting"), "it aborted at the failpoint:\n{log}");
    let (rows, ..) = counts(&s, &names).await;
    assert!(rows > 0, "the crashed round's rows are in ClickHouse");

    let again = InProcess::start(sink_config(&s, &names, &["--fetch-max-bytes=16384"]));
    eventually(LIMIT, "everything stored", || async {
        let (rows, _, dead, _) = counts(&s, &names).await;
        (rows + dead >= n).then_some(()).ok_or(format!("{rows} rows + {dead} dead letters of {n}"))
    })
    .await;
    assert!(again.metrics.records_skipped.load(Relaxed) > 0, "the crashed round was found stored and skipped");
    again.stop().await;
    assert_stored_exactly(&s, &names, &want, bad).await;
    names.drop_clickhouse_tables(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_and_kill_pairs_lose_nothing_and_double_nothing() {
    let s = servers();
    let names = Names::new("chkill");
    create_tables_with_audit(&s, &names).await;
    let n = 10_000;
    emitter::run(names.emitter(&s, 47, n, 0.01, false), std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 47, 0..n, 0.01);
    // Small rounds, and a pause between each round's acknowledgement and its commit: most kills land there.
    let args =
        sink_args(&s, &names, &["--fetch-max-bytes=16384", "--fetch-max-wait-ms=5", "--delay-before-commit-ms=100"]);
    let mut found_stored = 0;
    let stored = || async {
        let (rows, _, dead, _) = counts(&s, &names).await;
        rows + dead
    };
    for k in 1..=4u64 {
        let mut t = Binary::spawn(&args);
        let goal = n * k / 5;
        eventually(LIMIT, "progress before the kill", || async {
            let w = stored().await;
            (w >= goal).then_some(()).ok_or(format!("{w}/{goal}"))
        })
        .await;
        t.kill();
        found_stored += already_written(&t.logged());
        if k % 2 == 0 {
            // A kill pair: the restart dies again inside its recovery window (or its first rounds).
            let mut t = Binary::spawn(&args);
            eventually(LIMIT, "the restart under way", || async {
                t.logged().contains("ClickHouse tables checked").then_some(()).ok_or("starting".to_string())
            })
            .await;
            tokio::time::sleep(Duration::from_millis(50 * k)).await; // where in the window the second kill lands
            t.kill();
            found_stored += already_written(&t.logged());
        }
    }
    let mut t = Binary::spawn(&args);
    eventually(LIMIT, "everything stored", || async {
        let w = stored().await;
        (w >= n).then_some(()).ok_or(format!("{w}/{n}"))
    })
    .await;
    t.kill();
    found_stored += already_written(&t.logged());
    assert_stored_exactly(&s, &names, &want, bad).await;
    assert!(found_stored > 0, "some kill landed between an INSERT and its commit (the test would catch a double)");
    names.drop_clickhouse_tables(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_that_goes_away_fails_rounds_out_loud_and_loses_nothing() {
    let s = servers();
    let names = Names::new("chaway");
    create_tables_with_audit(&s, &names).await;
    emitter::run(names.emitter(&s, 53, 1_000, 0.0, false), std::future::pending()).await.unwrap();
    let t = InProcess::start(sink_config(&s, &names, &[]));
    let db = &names.db;
    eventually(LIMIT, "the first rows", || async {
        let (rows, ..) = counts(&s, &names).await;
        (rows == 1_000).then_some(()).ok_or(format!("{rows} rows"))
    })
    .await;
    s.clickhouse.query(&format!("RENAME TABLE {db}.events_processed TO {db}.away")).execute().await.unwrap();
    emitter::run(names.emitter(&s, 53, 2_000, 0.0, true), std::future::pending()).await.unwrap();
    let addr = t.metrics.http_addr.lock().unwrap().expect("serving");
    let health = eventually(LIMIT, "/healthz to say why", || async {
        let (code, body) = http_get(addr, "/healthz").await;
        (code == 503 && body.contains("events_processed")).then_some(body.clone()).ok_or(format!("{code} {body}"))
    })
    .await;
    assert!(health.contains("doesn't exist"), "ClickHouse's own words: {health}");
    assert!(t.metrics.round_errors.load(Relaxed) > 0);
    s.clickhouse.query(&format!("RENAME TABLE {db}.away TO {db}.events_processed")).execute().await.unwrap();
    eventually(LIMIT, "everything once the table is back", || async {
        let (rows, ..) = counts(&s, &names).await;
        (rows >= 2_000).then_some(()).ok_or(format!("{rows} rows"))
    })
    .await;
    let (code, _) = http_get(addr, "/healthz").await;
    assert_eq!(code, 200, "healthy again");
    t.stop().await;
    assert_stored_exactly(&s, &names, &expected(&names, 53, 0..2_000, 0.0).0, 0).await;
    names.drop_clickhouse_tables(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_schema_or_login_stops_the_start_with_what_to_do() {
    let s = servers();
    let names = Names::new("chschema");
    names.init_topics(&s).await;
    s.clickhouse.query(&format!("CREATE DATABASE {}", names.db)).execute().await.unwrap();
    // No tables.
    let (code, out) = run_binary(&sink_args(&s, &names, &[]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("no table {}.events_processed", names.db)), "{out}");
    assert!(out.contains("transformer schema --sink clickhouse"), "names the DDL command: {out}");
    // A column of another type.
    names.create_storage_tables(&s).await;
    let alter = format!("ALTER TABLE {}.dead_letters MODIFY COLUMN raw_size UInt32", names.db);
    s.clickhouse.query(&alter).execute().await.unwrap();
    let (code, out) = run_binary(&sink_args(&s, &names, &[]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("dead_letters.raw_size is UInt32 but the rows hold UInt64"), "{out}");
    // A wrong password: at once, and the password is not printed.
    let (code, out) = run_binary(&sink_args(&s, &names, &["--clickhouse-password=hunter2-wrong"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ClickHouse refused the login") && out.contains("--clickhouse-user"), "{out}");
    assert!(!out.contains("hunter2-wrong"), "the password never prints: {out}");
    names.drop_clickhouse_tables(&s).await;
}

/// A TLS listener on 127.0.0.1 that forwards each connection to the test ClickHouse's plain HTTP port: ClickHouse
/// over HTTPS, with the certificate of [`make_certs`] in `dir`. Returns its port.
async fn tls_proxy(dir: &std::path::Path) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem")).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls_rustcrypto::provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let upstream = clickhouse_url().trim_start_matches("http://").trim_end_matches('/').to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return }; // e.g. the client refused our CA
                let mut plain = tokio::net::TcpStream::connect(&upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_our_ca_and_a_password_file_and_an_unknown_ca_refused() {
    let s = servers();
    let names = Names::new("chtls");
    let dir = temp_dir("chtls");
    make_certs(&dir);
    let port = tls_proxy(&dir).await;
    create_tables_with_audit(&s, &names).await;
    emitter::run(names.emitter(&s, 59, 500, 0.0, false), std::future::pending()).await.unwrap();
    // The compose user of scripts/clickhouse/users.xml, its password from a file.
    std::fs::write(dir.join("password"), "etl-local\n").unwrap();
    let url = format!("--clickhouse-url=https://127.0.0.1:{port}");
    let ca = format!("--clickhouse-ca-location={}", dir.join("ca.pem").display());
    let password = format!("--clickhouse-password-file={}", dir.join("password").display());
    let (code, out) = run_binary(&sink_args(&s, &names, &[&url, &ca, "--clickhouse-user=etl", &password, "--drain"]));
    assert_eq!(code, 0, "{out}");
    assert_stored_exactly(&s, &names, &expected(&names, 59, 0..500, 0.0).0, 0).await;
    // A CA that did not sign ClickHouse's certificate: refused at once, naming the flag.
    let other = format!("--clickhouse-ca-location={}", dir.join("other-ca.pem").display());
    let started = std::time::Instant::now();
    let (code, out) = run_binary(&sink_args(&s, &names, &[&url, &other, "--clickhouse-user=etl", &password]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--clickhouse-ca-location"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(15), "at once, not after --connect-timeout-secs");
    names.drop_clickhouse_tables(&s).await;
}
