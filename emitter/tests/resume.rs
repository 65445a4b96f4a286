//! An emitter killed with SIGKILL mid-stream and restarted with `--resume` (same seed) sends every event of its
//! stream exactly once, against the real broker named by scripts/test.sh.

use std::collections::HashMap;
use std::time::{Duration, Instant};

fn brokers() -> String {
    std::env::var("TEST_KAFKA_BROKERS").expect("TEST_KAFKA_BROKERS is not set: run scripts/test.sh")
}

async fn raw_ids(brokers: &str, prefix: &str) -> Vec<String> {
    let client = rskafka::client::ClientBuilder::new(vec![brokers.to_string()]).build().await.unwrap();
    let mut ids = Vec::new();
    for topic in contract::topics::RAW.map(|t| format!("{prefix}{t}")) {
        for p in runtime::kafka::partitions(&client, &topic).await.unwrap_or_default() {
            let pc = runtime::kafka::partition_client(&client, &topic, p).await.unwrap();
            let (low, high) = runtime::kafka::bounds(&pc).await.unwrap();
            for r in runtime::kafka::read_range(&pc, low, high).await.unwrap() {
                ids.push(contract::id::event_id(&topic, r.record.value.as_deref().unwrap_or_default()));
            }
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_resumed_emitter_sends_every_event_exactly_once() {
    let brokers = brokers();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let prefix = format!("e{}x{nanos}_", std::process::id());
    let total: u64 = 30_000;
    let args = [
        format!("--brokers={brokers}"),
        format!("--topic-prefix={prefix}"),
        "--seed=77".into(),
        "--start-time=2026-01-01T00:00:00Z".into(),
        "--messages-per-second=10000".into(),
        "--batch-size=300".into(),
        "--malformed-ratio=0.01".into(),
        format!("--total={total}"),
        "--http-addr=off".into(),
        "--connect-timeout-secs=20".into(),
    ];
    let spawn = |resume: bool| {
        std::process::Command::new(env!("CARGO_BIN_EXE_emitter"))
            .args(&args)
            .arg(format!("--resume={resume}"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // Two SIGKILLs at different points of the stream, then a run to the end.
    for (k, resume) in [(1u64, false), (2, true)] {
        let mut child = spawn(resume);
        let goal = total * k / 3;
        let deadline = Instant::now() + Duration::from_secs(60);
        while (raw_ids(&brokers, &prefix).await.len() as u64) < goal {
            assert!(Instant::now() < deadline, "no progress to {goal}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert!(spawn(true).wait().unwrap().success());

    let generator = emitter::generate::Generator::new(77, Some("2026-01-01T00:00:00Z".parse().unwrap()), 10_000, 0.01);
    let topics = contract::topics::RAW.map(|t| format!("{prefix}{t}"));
    let mut want: HashMap<String, u32> = HashMap::new();
    for i in 0..total {
        *want.entry(generator.event(i).event_id(&topics)).or_default() += 1;
    }
    let mut got: HashMap<String, u32> = HashMap::new();
    for id in raw_ids(&brokers, &prefix).await {
        *got.entry(id).or_default() += 1;
    }
    // Counted with multiplicity: identical records (two empty ones, say) share an id, and each must be there.
    let missing: u32 = want.iter().map(|(k, n)| n.saturating_sub(*got.get(k).unwrap_or(&0))).sum();
    let extra: u32 = got.iter().map(|(k, n)| n.saturating_sub(*want.get(k).unwrap_or(&0))).sum();
    assert!(want.values().any(|&n| n > 1), "the stream has identical records (the case this counts)");
    assert_eq!((missing, extra), (0, 0), "every event exactly once, identical ones as often as they were emitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_record_that_does_not_decode_stops_resume_with_the_way_out() {
    let brokers = brokers();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let prefix = format!("b{}x{nanos}_", std::process::id());
    let progress = format!("{prefix}progress");
    let args = |resume: bool| {
        vec![
            format!("--brokers={brokers}"),
            format!("--topic-prefix={prefix}"),
            format!("--progress-topic={progress}"),
            "--seed=5".into(),
            "--start-time=2026-01-01T00:00:00Z".into(),
            "--messages-per-second=0".into(),
            "--total=300".into(),
            "--http-addr=off".into(),
            "--connect-timeout-secs=20".into(),
            format!("--resume={resume}"),
        ]
    };
    let run =
        |resume: bool| std::process::Command::new(env!("CARGO_BIN_EXE_emitter")).args(args(resume)).output().unwrap();
    assert!(run(false).status.success());

    // A foreign record under the stream's key (topic prefix + seed).
    let client = rskafka::client::ClientBuilder::new(vec![brokers.clone()]).build().await.unwrap();
    let pc = runtime::kafka::partition_client(&client, &progress, 0).await.unwrap();
    let bad = pc
        .produce(
            vec![rskafka::record::Record {
                key: Some(format!("{prefix}5").into_bytes()),
                value: Some(b"not a progress record".to_vec()),
                headers: Default::default(),
                timestamp: chrono::Utc::now(),
            }],
            rskafka::client::partition::Compression::NoCompression,
        )
        .await
        .unwrap()[0];
    let out = run(true);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("record at offset {bad} of topic {progress}")), "{said}");
    assert!(said.contains("--progress-topic") && said.contains("without --resume"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_raw_topic_was_recreated_goes_on_and_says_so() {
    let brokers = brokers();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let prefix = format!("r{}x{nanos}_", std::process::id());
    let args = |total: u64, resume: bool| {
        vec![
            format!("--brokers={brokers}"),
            format!("--topic-prefix={prefix}"),
            "--seed=9".into(),
            "--start-time=2026-01-01T00:00:00Z".into(),
            "--messages-per-second=0".into(),
            format!("--total={total}"),
            "--http-addr=off".into(),
            "--connect-timeout-secs=20".into(),
            format!("--resume={resume}"),
        ]
    };
    let run = |total, resume| {
        std::process::Command::new(env!("CARGO_BIN_EXE_emitter")).args(args(total, resume)).output().unwrap()
    };
    assert!(run(300, false).status.success());
    let orders = format!("{prefix}orders");
    let client = rskafka::client::ClientBuilder::new(vec![brokers.clone()]).build().await.unwrap();
    let controller = client.controller_client().unwrap();
    controller.delete_topic(&orders, 10_000).await.unwrap();
    controller.create_topic(&orders, 3, 1, 10_000).await.unwrap();

    let out = run(600, true);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("past the partition's end"), "{said}");
    // The stream went on at 300: the other topics hold all 600 of theirs once, the new orders topic only 300..600's.
    let generator = emitter::generate::Generator::new(9, Some("2026-01-01T00:00:00Z".parse().unwrap()), 0, 0.0);
    let topics = contract::topics::RAW.map(|t| format!("{prefix}{t}"));
    let mut want: Vec<String> = (0..600u64)
        .map(|i| (i, generator.event(i)))
        .filter(|(i, e)| !(topics[e.topic] == orders && *i < 300))
        .map(|(_, e)| e.event_id(&topics))
        .collect();
    let mut got = raw_ids(&brokers, &prefix).await;
    want.sort();
    got.sort();
    assert_eq!(got, want);
}

/// A produce batch larger than the broker takes (Kafka's max.message.bytes, 1 MiB by default) would be refused for
/// good and retried forever: the emitter splits each partition's batch into requests under the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_size_larger_than_the_broker_takes_is_sent_in_requests_it_takes() {
    use clap::Parser;
    let brokers = brokers();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let prefix = format!("big{}x{nanos}_", std::process::id());
    let cfg = emitter::Config::parse_from([
        "emitter".to_string(),
        format!("--brokers={brokers}"),
        format!("--topic-prefix={prefix}"),
        "--seed=4".into(),
        "--messages-per-second=0".into(),
        "--total=60000".into(),
        "--batch-size=60000".into(), // ~12 MB per produce round, ~1.3 MB per partition
        "--http-addr=off".into(),
        "--connect-timeout-secs=20".into(),
    ]);
    let summary = tokio::time::timeout(Duration::from_secs(120), emitter::run(cfg, std::future::pending()))
        .await
        .expect("the emitter finishes instead of retrying a refused batch")
        .unwrap();
    assert_eq!(summary.sent, 60_000);
    assert_eq!(raw_ids(&brokers, &prefix).await.len(), 60_000);
}
