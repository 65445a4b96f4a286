//! Helpers for the integration tests: the real broker and ClickHouse named by scripts/test.sh, fresh topic and
//! database names per test, seeded emitter runs whose event ids can be recomputed, and polling with a deadline.
#![allow(dead_code)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde::de::DeserializeOwned;

/// The servers under test. Missing variables fail the test: these tests never skip.
pub struct Servers {
    pub brokers: String,
    pub clickhouse: clickhouse::Client,
}

pub fn servers() -> Servers {
    let need = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: integration tests need the real broker and ClickHouse; run scripts/test.sh")
        })
    };
    let brokers = need("TEST_KAFKA_BROKERS");
    let url = need("TEST_CLICKHOUSE_URL");
    Servers { brokers, clickhouse: clickhouse::Client::default().with_url(url).with_validation(false) }
}

/// Topic, database and group names no other test uses.
#[derive(Clone, Debug)]
pub struct Names {
    pub prefix: String,
    pub db: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Names {
    pub fn new(test: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let prefix = format!("t{}x{}_{}_{test}_", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed));
        Self { db: prefix.trim_end_matches('_').to_string(), prefix }
    }
    pub fn raw(&self) -> [String; 3] {
        contract::topics::RAW.map(|t| format!("{}{t}", self.prefix))
    }
    pub fn output(&self) -> String {
        format!("{}processed_events", self.prefix)
    }
    pub fn dead(&self) -> String {
        format!("{}dead_letters", self.prefix)
    }
    pub fn checkpoints(&self) -> String {
        format!("{}checkpoints", self.prefix)
    }

    /// Transformer config for these names; `extra` flags are appended.
    pub fn transformer(&self, s: &Servers, extra: &[&str]) -> transformer::Config {
        let args = std::iter::once("transformer".to_string()).chain(self.transformer_args(s, extra));
        transformer::Config::from_args(args)
    }

    /// Creates the pipeline's topics for these names (`transformer --init`, in process).
    pub async fn init_topics(&self, s: &Servers) {
        let mut cfg = self.transformer(s, &[]);
        cfg.init = true;
        transformer::run(cfg, std::future::pending()).await.unwrap();
    }

    /// The flags of a transformer for these names, for running the binary; `extra` flags are appended.
    pub fn transformer_args(&self, s: &Servers, extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            format!("--brokers={}", s.brokers),
            format!("--input-topics={}", self.raw().join(",")),
            format!("--output-topic={}", self.output()),
            format!("--dead-letter-topic={}", self.dead()),
            format!("--checkpoint-topic={}", self.checkpoints()),
            "--connect-timeout-secs=20".into(),
            "--stats-interval-secs=0".into(),
            "--http-addr=127.0.0.1:0".into(),
            // The tests of one transformer at a time keep the checkpoint topic (their figures and `offsets`
            // commands are about it); tests/group.rs and tests/security.rs pass --assignment=group.
            "--assignment=static".into(),
        ];
        // A flag in `extra` replaces the default above (clap refuses a flag given twice).
        let flag = |a: &str| a.split('=').next().unwrap_or(a).to_string();
        args.retain(|a| !extra.iter().any(|e| e.starts_with("--") && flag(e) == flag(a)));
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// A reproducible emitter run: `total` events of stream `seed` (fixed clock), `malformed` share broken.
    pub fn emitter(&self, s: &Servers, seed: u64, total: u64, malformed: f64, resume: bool) -> emitter::Config {
        emitter::Config::parse_from([
            "emitter".to_string(),
            format!("--brokers={}", s.brokers),
            format!("--topic-prefix={}", self.prefix),
            format!("--seed={seed}"),
            "--start-time=2026-01-01T00:00:00Z".into(),
            "--messages-per-second=0".into(),
            format!("--total={total}"),
            format!("--malformed-ratio={malformed}"),
            "--batch-size=1000".into(),
            format!("--resume={resume}"),
            "--http-addr=off".into(),
            "--connect-timeout-secs=20".into(),
        ])
    }

    /// Creates the ClickHouse database and tables for these topics (the same DDL the scripts apply).
    pub async fn create_clickhouse_tables(&self, s: &Servers) {
        self.apply_schema(s, false).await
    }

    /// Creates the ClickHouse database and only the tables that store rows (what `--sink clickhouse` needs).
    pub async fn create_storage_tables(&self, s: &Servers) {
        self.apply_schema(s, true).await
    }

    async fn apply_schema(&self, s: &Servers, storage_only: bool) {
        let kafka_broker = s.brokers.split(',').next().unwrap().to_string();
        let params = contract::sql::SqlParams {
            database: self.db.clone(),
            kafka_broker,
            processed_topic: self.output(),
            dead_letter_topic: self.dead(),
            group: self.db.clone(),
            version: contract::sql::ClickHouseVersion::V18,
            storage_only,
        };
        for stmt in contract::sql::render(&params) {
            s.clickhouse.query(&stmt).execute().await.unwrap_or_else(|e| panic!("{stmt}\n-> {e}"));
        }
    }

    /// Drops the test database (its Kafka tables stop consuming).
    pub async fn drop_clickhouse_tables(&self, s: &Servers) {
        let _ = s.clickhouse.query(&format!("DROP DATABASE IF EXISTS {}", self.db)).execute().await;
    }
}

/// The ids of the valid events and the number of malformed ones among events `range` of stream `seed`, exactly
/// as [`Names::emitter`] sends them.
pub fn expected(names: &Names, seed: u64, range: std::ops::Range<u64>, malformed: f64) -> (HashSet<String>, u64) {
    let generator =
        emitter::generate::Generator::new(seed, Some("2026-01-01T00:00:00Z".parse().unwrap()), 0, malformed);
    let topics = names.raw();
    let (mut ids, mut bad) = (HashSet::new(), 0);
    for i in range {
        let e = generator.event(i);
        if e.malformed {
            bad += 1;
        } else {
            assert!(ids.insert(e.event_id(&topics)), "event {i} repeats an id");
        }
    }
    (ids, bad)
}

/// Polls `probe` every 200 ms until it returns `Some`, or panics after `limit` naming `what` and the last value.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(state) if start.elapsed() > limit => {
                panic!("timed out after {limit:?} waiting for {what}; last: {state}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Every record of every partition of `topic`, decoded.
pub async fn read_topic<T: DeserializeOwned>(s: &Servers, topic: &str) -> Vec<T> {
    let client = rskafka::client::ClientBuilder::new(vec![s.brokers.clone()]).build().await.unwrap();
    let mut out = Vec::new();
    for p in runtime::kafka::partitions(&client, topic).await.unwrap() {
        let pc = runtime::kafka::partition_client(&client, topic, p).await.unwrap();
        let (low, high) = transformer::source::bounds(&pc).await.unwrap();
        for r in transformer::source::read_range(&pc, low, high).await.unwrap() {
            out.push(serde_json::from_slice(r.record.value.as_deref().unwrap()).unwrap());
        }
    }
    out
}

/// Sum of the high watermarks of `topic`.
pub async fn topic_len(s: &Servers, topic: &str) -> i64 {
    let client = rskafka::client::ClientBuilder::new(vec![s.brokers.clone()]).build().await.unwrap();
    let mut n = 0;
    for p in runtime::kafka::partitions(&client, topic).await.unwrap_or_default() {
        let pc = runtime::kafka::partition_client(&client, topic, p).await.unwrap();
        n += transformer::source::bounds(&pc).await.unwrap().1;
    }
    n
}

/// One number from ClickHouse.
pub async fn ch_count(s: &Servers, sql: &str) -> u64 {
    s.clickhouse.query(sql).fetch_one::<u64>().await.unwrap_or_else(|e| panic!("{sql}\n-> {e}"))
}

/// Strings from ClickHouse.
pub async fn ch_strings(s: &Servers, sql: &str) -> Vec<String> {
    s.clickhouse.query(sql).fetch_all::<String>().await.unwrap_or_else(|e| panic!("{sql}\n-> {e}"))
}

/// A transformer running in this process, stopped by [`InProcess::stop`].
pub struct InProcess {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), transformer::Error>>,
    pub metrics: std::sync::Arc<transformer::metrics::Metrics>,
}

impl InProcess {
    pub fn start(cfg: transformer::Config) -> Self {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let metrics = std::sync::Arc::new(transformer::metrics::Metrics::default());
        let task = tokio::spawn(transformer::run_with_metrics(cfg, metrics.clone(), async {
            let _ = rx.await;
        }));
        Self { stop: Some(tx), task, metrics }
    }
    /// Asks it to stop (it finishes and commits its round) and waits.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().expect("transformer ended with an error");
    }
}

/// `GET path` from `addr`: (status code, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.split_whitespace().nth(1).unwrap().parse().unwrap(), body.to_string())
}

/// Runs `promtool check metrics` on `text`; panics with its complaints.
pub fn promtool_check(text: &str) {
    use std::io::Write;
    let promtool = std::env::var("TEST_PROMTOOL").expect("TEST_PROMTOOL is not set: run scripts/test.sh");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics:\n{said}\n--- input ---\n{text}");
}

/// A client for the test broker.
pub async fn kafka(s: &Servers) -> rskafka::client::Client {
    rskafka::client::ClientBuilder::new(vec![s.brokers.clone()]).build().await.unwrap()
}

/// Produces `values` to one partition of `topic`, in one batch; returns their offsets.
pub async fn produce(s: &Servers, topic: &str, partition: i32, values: &[String]) -> Vec<i64> {
    let client = kafka(s).await;
    let pc = runtime::kafka::partition_client(&client, topic, partition).await.unwrap();
    let records = values
        .iter()
        .map(|v| rskafka::record::Record {
            key: None,
            value: Some(v.clone().into_bytes()),
            headers: Default::default(),
            timestamp: chrono::Utc::now(),
        })
        .collect();
    pc.produce(records, rskafka::client::partition::Compression::NoCompression).await.unwrap()
}

/// `n` valid raw `orders` records whose user_id starts with `tag` (so the test can find them in the output).
pub fn orders(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"order_id":"o-{tag}-{i}","user_id":"{tag}-{i}","amount":12.5,"timestamp":"2026-01-01 00:00:00","ip_address":"10.0.0.1"}}"#
            )
        })
        .collect()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The transformer binary running in a child process; its stderr goes to a file the test can read. Killed
/// (SIGKILL) when dropped.
pub struct Binary {
    pub child: std::process::Child,
    pub log: std::path::PathBuf,
}

impl Binary {
    pub fn spawn(args: &[String]) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let log = std::env::temp_dir().join(format!(
            "transformer-test-{}-{}.log",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::File::create(&log).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_transformer"))
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        Self { child, log }
    }
    /// What it logged so far.
    pub fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// SIGKILL, and wait for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    /// Waits for it to exit by itself, at most `limit`; returns its status.
    pub async fn exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < limit, "the transformer did not exit within {limit:?}:\n{}", self.logged());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Runs the transformer binary with `--drain` and `extra` flags until it exits; it must succeed. Returns its log.
pub async fn drain_binary(s: &Servers, names: &Names, extra: &[&str]) -> String {
    let mut t = Binary::spawn(&names.transformer_args(s, &[&["--drain"], extra].concat()));
    let status = t.exit(Duration::from_secs(120)).await;
    let log = t.logged();
    assert!(status.success(), "--drain failed:\n{log}");
    log
}

/// Runs the transformer binary to completion with `args` (a subcommand, `--status`, ...): (exit code, stdout+stderr).
pub fn run_binary(args: &[String]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_transformer")).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Source coordinates of every record of `topic` (unified records and dead letters both carry them).
pub async fn coordinates(s: &Servers, topic: &str) -> Vec<(String, i32, i64)> {
    read_topic::<contract::processed::SourceCoordinates>(s, topic)
        .await
        .into_iter()
        .map(|c| (c.source_topic, c.source_partition, c.source_offset))
        .collect()
}

/// How many coordinates of `all` appear more than once.
pub fn duplicates(all: &[(String, i32, i64)]) -> usize {
    all.len() - all.iter().collect::<HashSet<_>>().len()
}

/// A record batch (magic 2, uncompressed) of one valid record carrying a header whose key is not UTF-8. Kafka's
/// protocol says header keys are strings, and clients such as librdkafka write whatever bytes they are given; the
/// broker stores it, and a reader that holds the protocol to its word cannot decode the record. Its CRC is right.
pub fn batch_with_binary_header_key(value: &[u8]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64; // zigzag
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    let mut record = vec![0u8]; // attributes
    varint(&mut record, 0); // timestamp delta
    varint(&mut record, 0); // offset delta
    varint(&mut record, -1); // no key
    varint(&mut record, value.len() as i64);
    record.extend_from_slice(value);
    varint(&mut record, 1); // one header
    varint(&mut record, 2);
    record.extend_from_slice(&[0xff, 0xfe]); // its key: not UTF-8
    varint(&mut record, 1);
    record.push(b'x');

    let now = chrono::Utc::now().timestamp_millis();
    let mut tail = Vec::new(); // from attributes to the end: what the CRC covers
    tail.extend_from_slice(&0i16.to_be_bytes()); // attributes: no compression, create time
    tail.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    tail.extend_from_slice(&now.to_be_bytes()); // base timestamp
    tail.extend_from_slice(&now.to_be_bytes()); // max timestamp
    tail.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    tail.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    tail.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    tail.extend_from_slice(&1i32.to_be_bytes()); // records
    varint(&mut tail, record.len() as i64);
    tail.extend_from_slice(&record);
    let mut batch = Vec::new();
    batch.extend_from_slice(&0i64.to_be_bytes()); // base offset (the broker assigns it)
    batch.extend_from_slice(&((4 + 1 + 4 + tail.len()) as i32).to_be_bytes()); // batch length after this field
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    batch.push(2); // magic
    batch.extend_from_slice(&crc32c::crc32c(&tail).to_be_bytes());
    batch.extend_from_slice(&tail);
    batch
}

/// Writes `batch` as it is to `topic`/`partition` with a hand-made Produce request (v3, acks=all), for batches no
/// client library would write. Panics unless the broker acknowledges it.
pub async fn produce_raw_batch(s: &Servers, topic: &str, partition: i32, batch: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut body = Vec::new();
    body.extend_from_slice(&0i16.to_be_bytes()); // api key: Produce
    body.extend_from_slice(&3i16.to_be_bytes()); // api version
    body.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    body.extend_from_slice(&4i16.to_be_bytes());
    body.extend_from_slice(b"test"); // client id
    body.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id: null
    body.extend_from_slice(&(-1i16).to_be_bytes()); // acks: all
    body.extend_from_slice(&30_000i32.to_be_bytes()); // timeout
    body.extend_from_slice(&1i32.to_be_bytes()); // topics
    body.extend_from_slice(&(topic.len() as i16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(&1i32.to_be_bytes()); // partitions
    body.extend_from_slice(&partition.to_be_bytes());
    body.extend_from_slice(&(batch.len() as i32).to_be_bytes());
    body.extend_from_slice(batch);
    let mut conn = tokio::net::TcpStream::connect(s.brokers.split(',').next().unwrap()).await.unwrap();
    conn.write_all(&(body.len() as i32).to_be_bytes()).await.unwrap();
    conn.write_all(&body).await.unwrap();
    let len = conn.read_i32().await.unwrap();
    let mut resp = vec![0u8; len as usize];
    conn.read_exact(&mut resp).await.unwrap();
    // correlation id, topics (1), name, partitions (1), partition, error code, ...
    let name_len = i16::from_be_bytes([resp[8], resp[9]]) as usize;
    let at = 10 + name_len + 4 + 4;
    let error = i16::from_be_bytes([resp[at], resp[at + 1]]);
    assert_eq!(error, 0, "the broker refused the hand-made batch (error code {error})");
}

/// A nisshi broker of the test's own, on a free port, with its files (sqlite storage, log) in `dir`.
pub struct Broker {
    pub child: std::process::Child,
    pub port: u16,
}

impl Broker {
    pub fn start(dir: &std::path::Path, extra: &[&str]) -> Self {
        Self::start_advertising(dir, None, extra)
    }

    /// [`Broker::start`], telling clients (in metadata) to connect to `advertised` (`host:port`) instead of where
    /// it listens: for a proxy in front of it.
    pub fn start_advertising(dir: &std::path::Path, advertised: Option<&str>, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised = advertised.map_or(url.clone(), |a| format!("tcp://{a}"));
        let log = std::fs::File::create(dir.join(format!("broker-{port}.log"))).unwrap();
        let child = std::process::Command::new(nisshi())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &advertised])
            .args(["--storage-engine", "sqlite://broker.db"])
            .args(extra)
            .current_dir(dir)
            .stdout(std::process::Stdio::from(log.try_clone().unwrap()))
            .stderr(std::process::Stdio::from(log))
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(60), "nisshi did not listen on {port}: see {dir:?}");
            std::thread::sleep(Duration::from_millis(100)); // polling the port until it listens
        }
        Self { child, port }
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn nisshi() -> String {
    std::env::var("TEST_NISSHI_BIN").expect("TEST_NISSHI_BIN is not set: run scripts/test.sh")
}

/// A fresh folder for one test's own broker and files.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("etl-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the openssl CLI in `dir`; it must succeed.
pub fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// In `dir`: ca.pem, a server certificate for 127.0.0.1 signed by it (server.pem, server.key), and other-ca.pem,
/// a CA that signed nothing here. Made fresh by each test run; nothing is committed.
pub fn make_certs(dir: &std::path::Path) {
    for ca in ["ca", "other-ca"] {
        let (key, pem, subj) = (format!("{ca}.key"), format!("{ca}.pem"), format!("/CN=etl-test-{ca}"));
        openssl(
            dir,
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem, "-days", "2", "-subj",
                &subj,
            ],
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}

/// Client certificates for mutual TLS in `dir` (after [`make_certs`]): `client.pem`/`client.key` signed by `ca`,
/// and `rogue.pem`/`rogue.key` signed by `other-ca`.
pub fn make_client_certs(dir: &std::path::Path) {
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, ca) in [("client", "ca"), ("rogue", "other-ca")] {
        let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        let subj = format!("/CN=etl-test-{name}");
        openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &subj]);
        let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                "client.ext",
            ],
        );
    }
}

/// Sum of the `already_written=N` fields of a transformer's recovery log lines.
pub fn already_written(log: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("recovered from the last checkpoint"))
        .filter_map(|l| l.split("already_written=").nth(1)?.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Waits until `n` input records are written and committed (`--status`, with `extra` flags, says lag 0): nothing more can appear.
pub async fn everything_committed(s: &Servers, names: &Names, n: u64, extra: &[&str]) {
    eventually(Duration::from_secs(120), "everything written and committed", || async {
        let w = topic_len(s, &names.output()).await + topic_len(s, &names.dead()).await;
        let (_, status) = run_binary(&names.transformer_args(s, &[&["--status"], extra].concat()));
        let done = status.lines().any(|l| l.starts_with("total ") && l.ends_with(" lag=0"));
        (w >= n as i64 && done).then_some(()).ok_or(format!("{w}/{n} written; {}", status.lines().last().unwrap_or("")))
    })
    .await;
}

/// The outputs hold exactly the `want` ids, each once, and exactly `bad` dead letters, each once.
pub async fn assert_outputs_exact(s: &Servers, names: &Names, want: &HashSet<String>, bad: u64) {
    let topic: Vec<contract::processed::ProcessedEvent> = read_topic(s, &names.output()).await;
    let ids: HashSet<String> = topic.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(&ids, want, "nothing lost");
    assert_eq!(topic.len(), ids.len(), "nothing written twice to processed_events");
    let letters: Vec<contract::processed::DeadLetter> = read_topic(s, &names.dead()).await;
    let coords: HashSet<_> =
        letters.iter().map(|d| (d.source_topic.clone(), d.source_partition, d.source_offset)).collect();
    assert_eq!((letters.len() as u64, coords.len() as u64), (bad, bad), "every malformed record dead-lettered once");
}

/// Every record of `topics`, as its source coordinates: read from a header or the value by the recovery's own
/// reader ([`transformer::recovery::coordinates`]).
pub async fn output_coordinates(s: &Servers, topics: &[String]) -> (Vec<(String, i32, i64)>, Vec<Vec<u8>>) {
    let client = kafka(s).await;
    let (mut coords, mut values) = (Vec::new(), Vec::new());
    for topic in topics {
        for p in runtime::kafka::partitions(&client, topic).await.unwrap() {
            let pc = runtime::kafka::partition_client(&client, topic, p).await.unwrap();
            let (low, high) = transformer::source::bounds(&pc).await.unwrap();
            for r in transformer::source::read_range(&pc, low, high).await.unwrap() {
                let c = transformer::recovery::coordinates(&r.record).expect("every output names its source");
                coords.push((c.source_topic, c.source_partition, c.source_offset));
                values.push(r.record.value.unwrap_or_default());
            }
        }
    }
    (coords, values)
}
