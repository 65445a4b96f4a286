//! End to end against the real servers: emitter → nisshi → transformer → nisshi → ClickHouse 18.16.
//! Every test uses topics and a database of its own and compares exact sets of event ids.

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use common::*;
use contract::processed::{DeadLetter, ProcessedEvent};

const LIMIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emitted_events_arrive_exactly_once_in_clickhouse() {
    let s = servers();
    let names = Names::new("e2e");
    let n = 3_000;
    names.init_topics(&s).await; // the input topics must exist before a transformer starts
    let transformer = InProcess::start(names.transformer(&s, &[]));
    // The transformer creates the topics; ClickHouse's Kafka tables want them to exist.
    eventually(LIMIT, "topics", || async {
        (topic_len(&s, &names.checkpoints()).await >= 0 && transformer.metrics.recoveries.load(Relaxed) > 0)
            .then_some(())
            .ok_or_else(|| "no recovery yet".to_string())
    })
    .await;
    names.create_clickhouse_tables(&s).await;

    let sent = emitter::run(names.emitter(&s, 11, n, 0.0, false), std::future::pending()).await.unwrap();
    assert_eq!(sent.sent, n);
    let (want, _) = expected(&names, 11, 0..n, 0.0);

    let db = &names.db;
    eventually(LIMIT, "all rows in ClickHouse", || async {
        let c = ch_count(&s, &format!("SELECT count() FROM {db}.events_processed FINAL")).await;
        (c >= n).then_some(()).ok_or(format!("{c} of {n} rows"))
    })
    .await;
    let got: HashSet<String> = ch_strings(&s, &format!("SELECT toString(event_id) FROM {db}.events_processed FINAL"))
        .await
        .into_iter()
        .collect();
    assert_eq!(got.len() as u64, n);
    assert_eq!(got, want, "ClickHouse holds exactly the emitted ids");
    assert_eq!(
        ch_count(&s, &format!("SELECT count() FROM {db}.events_processed")).await,
        n,
        "no duplicate rows even before merges"
    );

    let topic: Vec<ProcessedEvent> = read_topic(&s, &names.output()).await;
    assert_eq!(topic.len() as u64, n);
    assert_eq!(topic.iter().map(|e| e.event_id.clone()).collect::<HashSet<_>>(), want);
    transformer.stop().await;
    names.drop_clickhouse_tables(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_land_in_dead_letters_with_their_reason() {
    let s = servers();
    let names = Names::new("dlq");
    let n = 1_500;
    names.init_topics(&s).await; // the input topics must exist before a transformer starts
    let transformer = InProcess::start(names.transformer(&s, &[]));
    eventually(LIMIT, "start", || async {
        (transformer.metrics.recoveries.load(Relaxed) > 0).then_some(()).ok_or_else(|| "starting".to_string())
    })
    .await;
    names.create_clickhouse_tables(&s).await;

    let sent = emitter::run(names.emitter(&s, 5, n, 0.2, false), std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 5, 0..n, 0.2);
    assert_eq!(sent.malformed, bad);
    assert!(bad > 150, "the stream has malformed records ({bad})");

    let db = &names.db;
    eventually(LIMIT, "dead letters and rows in ClickHouse", || async {
        let d = ch_count(&s, &format!("SELECT count() FROM {db}.dead_letters FINAL")).await;
        let r = ch_count(&s, &format!("SELECT count() FROM {db}.events_processed FINAL")).await;
        (d == bad && r == n - bad).then_some(()).ok_or(format!("{d}/{bad} dead letters, {r}/{} rows", n - bad))
    })
    .await;
    let got: HashSet<String> = ch_strings(&s, &format!("SELECT toString(event_id) FROM {db}.events_processed FINAL"))
        .await
        .into_iter()
        .collect();
    assert_eq!(got, want);
    let empty_reasons =
        ch_count(&s, &format!("SELECT count() FROM {db}.dead_letters WHERE reason = '' OR error = ''")).await;
    assert_eq!(empty_reasons, 0);

    // In the topic: every dead letter names a distinct source record, and in + out add up exactly.
    let letters: Vec<DeadLetter> = read_topic(&s, &names.dead()).await;
    let coords: HashSet<_> =
        letters.iter().map(|d| (d.source_topic.clone(), d.source_partition, d.source_offset)).collect();
    assert_eq!(coords.len() as u64, bad);
    assert!(letters.iter().all(|d| job::MapError::REASONS.contains(&d.reason.as_str())));
    assert_eq!(transformer.metrics.records_in.load(Relaxed), n);
    assert_eq!(transformer.metrics.records_out.load(Relaxed) + transformer.metrics.dead_letters_total(), n);
    transformer.stop().await;
    names.drop_clickhouse_tables(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_transformer_resumes_from_its_commit() {
    let s = servers();
    let names = Names::new("restart");
    let (n1, n2) = (1_200, 800);
    emitter::run(names.emitter(&s, 9, n1, 0.0, false), std::future::pending()).await.unwrap();

    let first = InProcess::start(names.transformer(&s, &[]));
    eventually(LIMIT, "first batch processed", || async {
        let out = topic_len(&s, &names.output()).await;
        (out == n1 as i64).then_some(()).ok_or(format!("{out}/{n1}"))
    })
    .await;
    first.stop().await;

    // More events while it is down, continuing the same stream.
    let more = emitter::run(names.emitter(&s, 9, n1 + n2, 0.0, true), std::future::pending()).await.unwrap();
    assert_eq!((more.first_index, more.sent), (n1, n2));

    let second = InProcess::start(names.transformer(&s, &[]));
    eventually(LIMIT, "second batch processed", || async {
        let out = topic_len(&s, &names.output()).await;
        (out >= (n1 + n2) as i64).then_some(()).ok_or(format!("{out}/{}", n1 + n2))
    })
    .await;
    // Resumed from the commit: it read only the new records, and skipped none as already written.
    eventually(LIMIT, "second run committed", || async {
        let m = &second.metrics;
        let v = (m.records_in.load(Relaxed), m.records_skipped.load(Relaxed));
        (v == (n2, 0)).then_some(()).ok_or(format!("(in, skipped) = {v:?}"))
    })
    .await;
    second.stop().await;

    let topic: Vec<ProcessedEvent> = read_topic(&s, &names.output()).await;
    let ids: HashSet<String> = topic.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(topic.len(), ids.len(), "no duplicates in processed_events");
    assert_eq!(ids, expected(&names, 9, 0..n1 + n2, 0.0).0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_produce_and_commit_writes_nothing_twice() {
    let s = servers();
    let names = Names::new("crash");
    let n: u64 = 5_000;
    emitter::run(names.emitter(&s, 33, n, 0.02, false), std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 33, 0..n, 0.02);
    let run = |extra: &[&str]| {
        let args = names.transformer_args(&s, &[&["--fetch-max-bytes=16384"], extra].concat());
        std::process::Command::new(env!("CARGO_BIN_EXE_transformer"))
            .args(&args)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // Crash after the outputs of round 4 are acknowledged, before its commit.
    let status = run(&["--crash-before-commit=3"]).wait().unwrap();
    assert!(!status.success(), "it aborted");
    let written_before = topic_len(&s, &names.output()).await + topic_len(&s, &names.dead()).await;
    assert!(written_before > 0);

    // The restart finds that round's records already written and skips them.
    let cfg = names.transformer(&s, &[]);
    let again = InProcess::start(cfg);
    eventually(LIMIT, "everything handled", || async {
        let m = &again.metrics;
        let done = m.records_in.load(Relaxed) + m.records_skipped.load(Relaxed);
        (m.records_in.load(Relaxed) > 0
            && topic_len(&s, &names.output()).await + topic_len(&s, &names.dead()).await >= n as i64)
            .then_some(())
            .ok_or(format!("{done} handled"))
    })
    .await;
    assert!(again.metrics.records_skipped.load(Relaxed) > 0, "the crashed round was found in the outputs and skipped");
    again.stop().await;

    assert_outputs_exact(&s, &names, &want, bad).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_and_writes_nothing_twice() {
    let s = servers();
    let names = Names::new("kill");
    let n: u64 = 20_000;
    emitter::run(names.emitter(&s, 21, n, 0.01, false), std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 21, 0..n, 0.01);

    // Small fetches make many rounds, so the kills land between produce and commit now and then.
    let args = names.transformer_args(&s, &["--fetch-max-bytes=8192", "--fetch-max-wait-ms=5"]);
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_transformer"))
            .args(&args)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let written = || async { topic_len(&s, &names.output()).await + topic_len(&s, &names.dead()).await };
    for k in 1..=3u64 {
        let mut child = spawn();
        let goal = (n * k / 4) as i64;
        eventually(LIMIT, "progress before the kill", || async {
            let w = written().await;
            (w >= goal).then_some(()).ok_or(format!("{w}/{goal}"))
        })
        .await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let mut child = spawn();
    everything_committed(&s, &names, n, &[]).await;
    child.kill().unwrap();
    child.wait().unwrap();

    assert_outputs_exact(&s, &names, &want, bad).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_mode_works_through_a_backlog_larger_than_any_produce_request() {
    // 1 MiB fetches from three partitions land in one output partition: far over the broker's 1 MiB batch limit
    // unless the sink splits requests by bytes (scripts/bench.sh found this).
    let s = servers();
    let names = Names::new("drain");
    let n: u64 = 30_000;
    emitter::run(names.emitter(&s, 2, n, 0.0, false), std::future::pending()).await.unwrap();
    let run = transformer::run(names.transformer(&s, &["--drain"]), std::future::pending());
    tokio::time::timeout(LIMIT, run).await.expect("--drain exits by itself").unwrap();
    assert_eq!(topic_len(&s, &names.output()).await, n as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_crashes_in_a_row_write_nothing_twice() {
    // The placed double crash: the first run dies between produce and commit; the restart re-reads only part of
    // what that left written, commits, and dies too. The third start must still know the rest is written.
    let s = servers();
    let names = Names::new("twocrash");
    let n: u64 = 6_000;
    let mut cfg = names.emitter(&s, 44, n, 0.02, false);
    cfg.batch_size = 20; // small producer batches, so a small fetch takes only part of a crashed round
    emitter::run(cfg, std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 44, 0..n, 0.02);

    let mut first = Binary::spawn(&names.transformer_args(&s, &["--fetch-max-bytes=4096", "--crash-before-commit=3"]));
    first.exit(LIMIT).await;
    assert!(first.logged().contains("--crash-before-commit: aborting"), "{}", first.logged());
    let mut second = Binary::spawn(&names.transformer_args(&s, &["--fetch-max-bytes=1024", "--crash-before-commit=1"]));
    second.exit(LIMIT).await;
    let log = second.logged();
    assert!(log.contains("--crash-before-commit: aborting"), "{log}");
    let found_second = already_written(&log);
    let found_third = already_written(&drain_binary(&s, &names, &[]).await);
    assert!(found_second > 0, "the first crash left records written past the commit");
    assert!(found_third > 0, "after the second crash, recovery still finds what the first one left ({found_second})");
    assert_outputs_exact(&s, &names, &want, bad).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_pairs_inside_the_recovery_window_write_nothing_twice() {
    let s = servers();
    let names = Names::new("killpairs");
    let n: u64 = 20_000;
    let mut cfg = names.emitter(&s, 45, n, 0.01, false);
    cfg.batch_size = 50;
    emitter::run(cfg, std::future::pending()).await.unwrap();
    let (want, bad) = expected(&names, 45, 0..n, 0.01);
    let args = names.transformer_args(&s, &["--fetch-max-bytes=8192", "--fetch-max-wait-ms=5"]);
    let written = || async { topic_len(&s, &names.output()).await + topic_len(&s, &names.dead()).await };
    let mut rng = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("kill-pair timing seed {rng}");
    for k in 1..=5u64 {
        let mut t = Binary::spawn(&args);
        let goal = (n * k / 6) as i64;
        eventually(LIMIT, "progress before the kill", || async {
            let w = written().await;
            (w >= goal).then_some(()).ok_or(format!("{w}/{goal}"))
        })
        .await;
        t.kill();
        // The restart dies again inside its recovery window: once it has recovered, within its first rounds.
        let mut again = Binary::spawn(&args);
        eventually(LIMIT, "the restart to recover", || async {
            again.logged().contains("recovered from the last checkpoint").then_some(()).ok_or_else(String::new)
        })
        .await;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(Duration::from_millis(rng % 300)).await; // chaos timing, not synchronisation
        again.kill();
    }
    let _last = Binary::spawn(&args);
    everything_committed(&s, &names, n, &[]).await;
    assert_outputs_exact(&s, &names, &want, bad).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_that_reached_one_sink_is_completed_in_the_other_after_a_crash() {
    // A statement set writes two topics; the process dies with a round produced to the first and not to the second.
    // The restart writes that round to the second only: each topic holds each of its records exactly once.
    a_round_that_reached_one_sink_is_completed("midwrite", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_that_reached_one_sink_is_completed_even_with_the_checkpoints_lost() {
    // As above, and the restart finds no checkpoint at all (a new checkpoint topic, as an emptied one, a new group
    // name or expired offsets would leave it): the sink topics' records say where each partition was and which
    // round was cut off. Nothing is written twice, nothing is missing.
    a_round_that_reached_one_sink_is_completed("midlost", true).await;
}

/// A statement set of two topics, a crash with a round written to the first only, and a restart (with a new,
/// empty checkpoint topic when `lose_checkpoints`): each topic ends up with each of its records exactly once.
async fn a_round_that_reached_one_sink_is_completed(test: &str, lose_checkpoints: bool) {
    let s = servers();
    let names = Names::new(test);
    let n: u64 = 3_000;
    emitter::run(names.emitter(&s, 45, n, 0.0, false), std::future::pending()).await.unwrap();
    let (everything, orders) = (format!("{}everything", names.prefix), format!("{}orders_only", names.prefix));
    let job = std::env::temp_dir().join(format!("{}job.sql", names.prefix));
    std::fs::write(
        &job,
        format!(
            "CREATE TABLE src (user_id STRING, order_id STRING, `topic` STRING METADATA VIRTUAL,
               `partition` INT METADATA VIRTUAL, `offset` BIGINT METADATA VIRTUAL)
               WITH ('connector' = 'kafka', 'topic' = '{inputs}', 'format' = 'json');
             CREATE TABLE everything (user_id STRING, source_topic STRING NOT NULL, source_partition INT NOT NULL,
               source_offset BIGINT NOT NULL) WITH ('connector' = 'kafka', 'topic' = '{everything}', 'format' = 'json');
             CREATE TABLE orders_only (order_id STRING, user_id STRING)
               WITH ('connector' = 'kafka', 'topic' = '{orders}', 'format' = 'json');
             EXECUTE STATEMENT SET BEGIN
               INSERT INTO everything SELECT user_id, `topic`, `partition`, `offset` FROM src;
               INSERT INTO orders_only SELECT order_id, user_id FROM src WHERE order_id IS NOT NULL;
             END;",
            inputs = names.raw().join(";")
        ),
    )
    .unwrap();
    let job_flag = format!("--job={}", job.display());
    // The job names its two topics: no --output-topic.
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a = names.transformer_args(&s, &[&[job_flag.as_str(), "--fetch-max-bytes=16384"], extra].concat());
        a.retain(|f| !f.starts_with("--output-topic="));
        a
    };
    let (code, log) = run_binary(&args(&["--crash-mid-write=3"]));
    assert_ne!(code, 0, "it aborted: {log}");
    assert!(log.contains("--crash-mid-write: aborting"), "{log}");
    let (_, orders_before) = output_coordinates(&s, std::slice::from_ref(&orders)).await;
    let (_, everything_before) = output_coordinates(&s, std::slice::from_ref(&everything)).await;
    assert!(everything_before.len() > orders_before.len(), "the crashed round reached only the first topic");

    let lost = format!("--checkpoint-topic={}lost", names.prefix);
    let restart: &[&str] = if lose_checkpoints { &[&lost] } else { &[] };
    let again = InProcess::start(transformer::Config::from_args(
        std::iter::once("transformer".to_string()).chain(args(restart)),
    ));
    let client = kafka(&s).await;
    let mut inputs = HashSet::new();
    let mut order_inputs = HashSet::new();
    for topic in names.raw() {
        for p in runtime::kafka::partitions(&client, &topic).await.unwrap() {
            let pc = runtime::kafka::partition_client(&client, &topic, p).await.unwrap();
            let (low, high) = transformer::source::bounds(&pc).await.unwrap();
            inputs.extend((low..high).map(|o| (topic.clone(), p, o)));
            if topic.ends_with("orders") {
                order_inputs.extend((low..high).map(|o| (topic.clone(), p, o)));
            }
        }
    }
    eventually(LIMIT, "both topics complete", || async {
        let (a, _) = output_coordinates(&s, std::slice::from_ref(&everything)).await;
        let (b, _) = output_coordinates(&s, std::slice::from_ref(&orders)).await;
        (a.len() >= inputs.len() && b.len() >= order_inputs.len()).then_some(()).ok_or(format!(
            "{} of {}, {} of {}",
            a.len(),
            inputs.len(),
            b.len(),
            order_inputs.len()
        ))
    })
    .await;
    again.stop().await;
    let (a, _) = output_coordinates(&s, std::slice::from_ref(&everything)).await;
    let (b, _) = output_coordinates(&s, std::slice::from_ref(&orders)).await;
    assert_eq!((duplicates(&a), duplicates(&b)), (0, 0), "no record written twice to either topic");
    assert_eq!(a.into_iter().collect::<HashSet<_>>(), inputs, "every record once in the first topic");
    assert_eq!(b.into_iter().collect::<HashSet<_>>(), order_inputs, "every order once in the second");
    std::fs::remove_file(&job).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_checkpoints_double_nothing_in_the_kafka_sinks() {
    // With the checkpoints gone (a new checkpoint topic stands for an emptied one, a new group name or expired
    // offsets), a restart finds where it was in the sink topic's records and writes nothing again, dead letters
    // included; what came since is written once.
    let s = servers();
    let names = Names::new("lostkafka");
    let n: u64 = 2_000;
    emitter::run(names.emitter(&s, 46, n, 0.05, false), std::future::pending()).await.unwrap();
    let log = drain_binary(&s, &names, &["--fetch-max-bytes=16384"]).await;
    assert!(log.contains("no checkpoint yet"), "a first start: {log}");
    let (want, bad) = expected(&names, 46, 0..n, 0.05);
    assert_outputs_exact(&s, &names, &want, bad).await;

    emitter::run(names.emitter(&s, 46, 2 * n, 0.05, true), std::future::pending()).await.unwrap();
    let lost = format!("--checkpoint-topic={}lost", names.prefix);
    let log = drain_binary(&s, &names, &["--fetch-max-bytes=16384", &lost]).await;
    assert!(log.contains("no checkpoint: the sink topics hold this partition's outputs"), "{log}");
    let (want, bad) = expected(&names, 46, 0..2 * n, 0.05);
    assert_outputs_exact(&s, &names, &want, bad).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_without_coordinates_resumes_from_headers_after_a_crash() {
    // The original job.sql writes only Flink's four columns: the source of each output is in its etl.src header,
    // and a crash between produce and commit still writes nothing twice.
    let s = servers();
    let names = Names::new("seedjob");
    let n: u64 = 4_000;
    emitter::run(names.emitter(&s, 44, n, 0.02, false), std::future::pending()).await.unwrap();
    let job = std::env::temp_dir().join(format!("{}job.sql", names.prefix));
    std::fs::write(&job, include_str!("../../job/tests/data/seed-job.sql")).unwrap();
    let job_flag = format!("--job={}", job.display());
    let args = names.transformer_args(&s, &[&job_flag, "--fetch-max-bytes=16384", "--crash-before-commit=3"]);
    let (code, log) = run_binary(&args);
    assert_ne!(code, 0, "it aborted: {log}");
    assert!(log.contains("--crash-before-commit: aborting"), "{log}");

    let again = InProcess::start(names.transformer(&s, &[&job_flag]));
    // The job's properties.group.id names the positions: --status reads them through the job too.
    everything_committed(&s, &names, n, &[&job_flag]).await;
    assert!(again.metrics.records_skipped.load(Relaxed) > 0, "the crashed round was found through the headers");
    again.stop().await;

    let (coords, values) = output_coordinates(&s, &[names.output(), names.dead()]).await;
    assert_eq!(duplicates(&coords), 0, "no source record written twice");
    let client = kafka(&s).await;
    let mut inputs = HashSet::new();
    for topic in names.raw() {
        for p in runtime::kafka::partitions(&client, &topic).await.unwrap() {
            let pc = runtime::kafka::partition_client(&client, &topic, p).await.unwrap();
            let (low, high) = transformer::source::bounds(&pc).await.unwrap();
            inputs.extend((low..high).map(|o| (topic.clone(), p, o)));
        }
    }
    assert_eq!(coords.into_iter().collect::<HashSet<_>>(), inputs, "every source record written once");
    // The rows are Flink's: the four columns in order, nothing of ours in the value.
    let rows: Vec<&str> = values
        .iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .filter(|v| v.starts_with("{\"event_type\":"))
        .collect();
    assert!(rows.len() > 3_000, "{} rows", rows.len());
    for row in &rows {
        let v: serde_json::Value = serde_json::from_str(row).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 4, "{row}");
        let at = |k: &str| row.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} in {row}"));
        assert!(at("event_type") < at("event_timestamp") && at("event_timestamp") < at("user_id"), "{row}");
        assert!(at("user_id") < at("details"), "{row}");
    }
    std::fs::remove_file(&job).unwrap();
}

#[tokio::test]
async fn a_misspelt_input_topic_is_refused_and_not_created() {
    // The input topics must exist: a typo is refused with the topics that are there, and never created on the
    // user's cluster (the outputs are; `--init` creates the inputs too).
    let s = servers();
    let names = Names::new("typo");
    names.init_topics(&s).await;
    let typo = format!("{}orderz", names.prefix);
    let (code, log) = run_binary(&names.transformer_args(&s, &[&format!("--input-topics={typo}"), "--drain"]));
    assert_ne!(code, 0, "{log}");
    assert!(log.contains(&format!("the input topic {typo} does not exist")), "{log}");
    assert!(log.contains(&names.raw()[2]), "the topics that exist are named: {log}");
    let missing = runtime::kafka::partitions(&kafka(&s).await, &typo).await;
    assert!(missing.is_err(), "the misspelt topic was not created: {missing:?}");
}
