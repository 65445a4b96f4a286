//! Every Kafka codec, both ways, against the client most producers use: librdkafka 2.16 (the confluent-kafka wheel)
//! writes batches compressed with none, gzip, snappy, lz4 and zstd, and the transformer reads them all; the
//! transformer writes each codec (`--compression`) and librdkafka reads them back. The headers librdkafka writes are
//! a job's `headers` metadata.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use contract::processed::ProcessedEvent;

const LIMIT: Duration = Duration::from_secs(120);
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// Runs tests/support/rdkafka_client.py with the confluent-kafka wheel scripts/test.sh installed.
fn rdkafka(args: &[&str]) -> String {
    let lib = std::env::var("TEST_PYTHONPATH")
        .expect("TEST_PYTHONPATH is not set: it names the confluent-kafka wheel scripts/test.sh installs");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/rdkafka_client.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(args)
        .env("PYTHONPATH", lib)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "rdkafka_client.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_librdkafka_writes_is_read() {
    let s = servers();
    let names = Names::new("codecs_in");
    names.init_topics(&s).await;
    let clicks = names.raw()[0].clone();
    const PER_CODEC: usize = 300;
    for codec in CODECS {
        rdkafka(&["produce", &s.brokers, &clicks, codec, &PER_CODEC.to_string()]);
    }
    let run = transformer::run(names.transformer(&s, &["--drain"]), std::future::pending());
    tokio::time::timeout(LIMIT, run).await.expect("--drain exits by itself").unwrap();

    let out: Vec<ProcessedEvent> = read_topic(&s, &names.output()).await;
    let got: BTreeSet<String> = out.iter().map(|e| e.user_id.clone()).collect();
    let want: BTreeSet<String> =
        CODECS.iter().flat_map(|c| (0..PER_CODEC).map(move |i| format!("u-{c}-{i}"))).collect();
    assert_eq!(out.len(), want.len(), "each record once");
    assert_eq!(got, want, "every record of every codec");
    let letters: Vec<serde_json::Value> = read_topic(&s, &names.dead()).await;
    assert!(letters.is_empty(), "{letters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_reads_every_codec_we_write() {
    let s = servers();
    for codec in CODECS {
        let names = Names::new(&format!("codecs_out_{codec}"));
        names.init_topics(&s).await;
        emitter::run(names.emitter(&s, 3, 500, 0.0, false), std::future::pending()).await.unwrap();
        let flag = format!("--compression={codec}");
        let run = transformer::run(names.transformer(&s, &["--drain", &flag]), std::future::pending());
        tokio::time::timeout(LIMIT, run).await.expect("--drain exits by itself").unwrap();

        let (want, _) = expected(&names, 3, 0..500, 0.0);
        let lines = rdkafka(&["consume", &s.brokers, &names.output(), "500"]);
        let got: std::collections::HashSet<String> = lines
            .lines()
            .map(|l| serde_json::from_str::<ProcessedEvent>(l).expect("a unified record").event_id)
            .collect();
        assert_eq!(got, want, "librdkafka reads our {codec} batches");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_headers_librdkafka_writes_are_the_jobs_headers_metadata() {
    let s = servers();
    let names = Names::new("codecs_headers");
    names.init_topics(&s).await;
    let clicks = names.raw()[0].clone();
    rdkafka(&["produce", &s.brokers, &clicks, "lz4", "50"]);
    let job = std::env::temp_dir().join(format!("{}job.sql", names.prefix));
    std::fs::write(
        &job,
        format!(
            "CREATE TABLE src (user_id STRING, h MAP<STRING, STRING> METADATA FROM 'headers' VIRTUAL)
               WITH ('connector' = 'kafka', 'topic' = '{clicks}', 'format' = 'json');
             CREATE TABLE out (user_id STRING, trace STRING, n INT)
               WITH ('connector' = 'kafka', 'topic' = '{out}', 'format' = 'json');
             INSERT INTO out SELECT user_id, h['trace-id'], CARDINALITY(h) FROM src;",
            out = names.output()
        ),
    )
    .unwrap();
    let job_flag = format!("--job={}", job.display());
    let input_flag = format!("--input-topics={clicks}");
    let run = transformer::run(names.transformer(&s, &["--drain", &job_flag, &input_flag]), std::future::pending());
    tokio::time::timeout(LIMIT, run).await.expect("--drain exits by itself").unwrap();
    let out: Vec<serde_json::Value> = read_topic(&s, &names.output()).await;
    let got: BTreeSet<String> = out.iter().map(|v| v.to_string()).collect();
    let want: BTreeSet<String> = (0..50)
        .map(|i| {
            serde_json::json!({"user_id": format!("u-lz4-{i}"), "trace": format!("t-lz4-{i}"), "n": 2}).to_string()
        })
        .collect();
    assert_eq!(out.len(), 50, "each record once");
    assert_eq!(got, want, "each record's headers");
    std::fs::remove_file(&job).unwrap();
}
