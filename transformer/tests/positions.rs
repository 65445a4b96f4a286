//! Input positions the broker no longer has, and the operator's tools for checkpoints, against the real broker:
//! a recreated topic, a checkpoint past the end, records deleted by retention, a checkpoint record that does not
//! decode, and `transformer offsets show|reset`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use contract::processed::ProcessedEvent;
use transformer::checkpoint::{Checkpoint, CheckpointStore};

const LIMIT: Duration = Duration::from_secs(120);

/// Creates the pipeline's topics (`transformer --init`).
fn init(s: &Servers, names: &Names) {
    let (code, out) = run_binary(&names.transformer_args(s, &["--init"]));
    assert_eq!(code, 0, "--init failed: {out}");
}

fn orders_topic(names: &Names) -> String {
    format!("{}orders", names.prefix)
}

/// Appends `cp` to the checkpoint topic under the default key of a single instance.
async fn write_checkpoint(s: &Servers, names: &Names, cp: &Checkpoint) {
    let client = kafka(s).await;
    let pc = runtime::kafka::partition_client(&client, &names.checkpoints(), 0).await.unwrap();
    CheckpointStore::new(pc, "transformer/0-of-1".into()).commit(cp).await.unwrap();
}

/// The user ids of the unified records that came from `topic`.
async fn users_from(s: &Servers, names: &Names, topic: &str) -> Vec<String> {
    let out: Vec<ProcessedEvent> = read_topic(s, &names.output()).await;
    out.into_iter().filter(|e| e.source_topic == topic).map(|e| e.user_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_input_topic_is_read_from_its_start_out_loud() {
    let s = servers();
    let names = Names::new("recreate");
    init(&s, &names);
    let topic = orders_topic(&names);
    produce(&s, &topic, 0, &orders("old", 300)).await;

    let port = free_port();
    let mut t = Binary::spawn(
        &names.transformer_args(&s, &["--fetch-max-wait-ms=20", &format!("--http-addr=127.0.0.1:{port}")]),
    );
    eventually(LIMIT, "the old records", || async {
        let n = users_from(&s, &names, &topic).await.len();
        (n == 300).then_some(()).ok_or(format!("{n}/300"))
    })
    .await;

    // The usual fix after a bad deploy: delete the topic, create it again, and producers go on.
    let client = kafka(&s).await;
    let controller = client.controller_client().unwrap();
    controller.delete_topic(&topic, 10_000).await.unwrap();
    controller.create_topic(&topic, 3, 1, 10_000).await.unwrap();
    produce(&s, &topic, 0, &orders("new", 150)).await;

    eventually(LIMIT, "the new topic's records", || async {
        let users = users_from(&s, &names, &topic).await;
        let new = users.iter().filter(|u| u.starts_with("new-")).count();
        (new >= 150).then_some(()).ok_or(format!("{new}/150 new records ({} in all)", users.len()))
    })
    .await;
    let users = users_from(&s, &names, &topic).await;
    assert_eq!(users.len(), 450, "each old and each new record exactly once");

    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (code, body) = http_get(addr, "/healthz").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.starts_with("degraded:") && body.contains("past the end"), "{body}");
    let (_, metrics) = http_get(addr, "/metrics").await;
    let line = format!("transformer_offset_resets_total{{topic=\"{topic}\",partition=\"0\",kind=\"past_end\"}} 1");
    assert!(metrics.contains(&line), "no {line} in\n{metrics}");
    promtool_check(&metrics);
    let (_, status) = http_get(addr, "/status.json").await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["health"]["degraded"], true);
    assert_eq!(status["position_events"][0]["kind"], "past_end");
    assert_eq!(status["position_events"][0]["to"], 0);
    let log = t.logged();
    assert!(
        log.contains("ERROR") && log.contains("past the end") && log.contains("resuming at the log start"),
        "{log}"
    );
    t.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_past_the_end_is_caught_at_start() {
    let s = servers();
    let names = Names::new("pastend");
    init(&s, &names);
    let topic = orders_topic(&names);
    produce(&s, &topic, 1, &orders("p", 100)).await;
    let key = format!("{topic}/1");
    write_checkpoint(
        &s,
        &names,
        &Checkpoint { next_offsets: BTreeMap::from([(key.clone(), 5_000)]), ..Default::default() },
    )
    .await;

    // Kafka's view before anything runs.
    let (code, status) = run_binary(&names.transformer_args(&s, &["--status"]));
    assert_eq!(code, 0, "{status}");
    assert!(
        status.contains("partition=1 high_watermark=100 committed=5000 lag=100 log_start=0 state=past_end"),
        "{status}"
    );
    let (_, show) = run_binary(&names.transformer_args(&s, &["offsets", "show"]));
    assert!(
        show.contains(&format!("position {key} committed=5000 log_start=0 high_watermark=100 lag=100 state=past_end")),
        "{show}"
    );

    // An operator who wants to decide by hand.
    let mut strict = Binary::spawn(&names.transformer_args(&s, &["--on-offset-out-of-range=fail"]));
    let status = strict.exit(LIMIT).await;
    assert_eq!(status.code(), Some(1));
    let log = strict.logged();
    assert!(log.contains(&key) && log.contains("past the end") && log.contains("offsets reset"), "{log}");
    assert_eq!(topic_len(&s, &names.output()).await, 0, "nothing written");

    // The default: resume at the log start.
    drain_binary(&s, &names, &[]).await;
    let users = users_from(&s, &names, &topic).await;
    assert_eq!(users.len(), 100, "every record of the partition, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_by_retention_are_counted_and_named() {
    let s = servers();
    let names = Names::new("retention");
    init(&s, &names);
    let topic = orders_topic(&names);
    produce(&s, &topic, 2, &orders("r", 100)).await;
    let client = kafka(&s).await;
    let pc = runtime::kafka::partition_client(&client, &topic, 2).await.unwrap();
    pc.delete_records(60, 10_000).await.expect("the broker deletes records (DeleteRecords)");
    assert_eq!(transformer::source::bounds(&pc).await.unwrap(), (60, 100));
    let key = format!("{topic}/2");
    write_checkpoint(
        &s,
        &names,
        &Checkpoint { next_offsets: BTreeMap::from([(key.clone(), 20)]), ..Default::default() },
    )
    .await;

    let log = drain_binary(&s, &names, &[]).await;
    assert!(log.contains("retention deleted offsets 20..60 (40 records)") && log.contains("ERROR"), "{log}");
    let mut users = users_from(&s, &names, &topic).await;
    users.sort_by_key(|u| u[2..].parse::<u32>().unwrap());
    assert_eq!(users, (60..100).map(|i| format!("r-{i}")).collect::<Vec<_>>(), "what retention left, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_checkpoint_record_has_a_documented_way_out() {
    let s = servers();
    let names = Names::new("badcp");
    init(&s, &names);
    let topic = orders_topic(&names);
    produce(&s, &topic, 0, &orders("a", 50)).await;
    drain_binary(&s, &names, &[]).await;

    // Something writes a record under our key that is not a checkpoint.
    let client = kafka(&s).await;
    let pc = runtime::kafka::partition_client(&client, &names.checkpoints(), 0).await.unwrap();
    let good = transformer::source::bounds(&pc).await.unwrap().1 - 1;
    let bad = pc
        .produce(
            vec![rskafka::record::Record {
                key: Some(b"transformer/0-of-1".to_vec()),
                value: Some(b"{\"garbage\": true}".to_vec()),
                headers: Default::default(),
                timestamp: chrono::Utc::now(),
            }],
            rskafka::client::partition::Compression::NoCompression,
        )
        .await
        .unwrap()[0];

    let mut stuck = Binary::spawn(&names.transformer_args(&s, &[]));
    assert_eq!(stuck.exit(LIMIT).await.code(), Some(1));
    let log = stuck.logged();
    assert!(log.contains(&format!("record at offset {bad} of topic {}", names.checkpoints())), "{log}");
    assert!(log.contains("transformer offsets reset --to"), "{log}");

    let (code, show) = run_binary(&names.transformer_args(&s, &["offsets", "show"]));
    assert_eq!(code, 0, "{show}");
    assert!(show.contains(&format!("offset={bad}")) && show.contains("INVALID"), "{show}");
    assert!(show.contains(&format!("earlier offset={good} valid")), "{show}");

    let (code, dry) =
        run_binary(&names.transformer_args(&s, &["offsets", "reset", "--to", &good.to_string(), "--dry-run"]));
    assert_eq!(code, 0, "{dry}");
    assert!(dry.contains(&format!("position {topic}/0 next=50")) && dry.contains("dry run"), "{dry}");
    let (code, reset) = run_binary(&names.transformer_args(&s, &["offsets", "reset", "--to", &good.to_string()]));
    assert_eq!(code, 0, "{reset}");

    produce(&s, &topic, 0, &orders("b", 50)).await;
    drain_binary(&s, &names, &[]).await;
    let users = users_from(&s, &names, &topic).await;
    assert_eq!(users.len(), 100, "resumed exactly at the good checkpoint: nothing twice, nothing lost");

    // By time: a time after the newest record is the end (Kafka answers -1 there), one before the first is 0.
    let (_, later) =
        run_binary(&names.transformer_args(&s, &["offsets", "reset", "--to", "2999-01-01T00:00:00Z", "--dry-run"]));
    assert!(later.contains(&format!("position {topic}/0 next=100")), "{later}");
    let (_, earlier) =
        run_binary(&names.transformer_args(&s, &["offsets", "reset", "--to", "2000-01-01T00:00:00Z", "--dry-run"]));
    assert!(earlier.contains(&format!("position {topic}/0 next=0")), "{earlier}");

    // A replay, asked for: everything again.
    let (code, out) = run_binary(&names.transformer_args(&s, &["offsets", "reset", "--to", "earliest"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("position {topic}/0 next=0")), "{out}");
    drain_binary(&s, &names, &[]).await;
    assert_eq!(users_from(&s, &names, &topic).await.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_instance_count_takes_over_the_group_positions() {
    let s = servers();
    let names = Names::new("rescale");
    init(&s, &names);
    let topic = orders_topic(&names);
    for p in 0..3 {
        produce(&s, &topic, p, &orders(&format!("x{p}"), 40)).await;
    }
    drain_binary(&s, &names, &[]).await;
    assert_eq!(topic_len(&s, &names.output()).await, 120);

    for p in 0..3 {
        produce(&s, &topic, p, &orders(&format!("y{p}"), 10)).await;
    }
    for i in 0..2 {
        let mut half =
            Binary::spawn(&names.transformer_args(&s, &["--drain", "--instances=2", &format!("--instance={i}")]));
        assert!(half.exit(LIMIT).await.success(), "{}", half.logged());
        assert!(half.logged().contains("no checkpoint under our key: taking the positions"), "{}", half.logged());
    }
    let users = users_from(&s, &names, &topic).await;
    assert_eq!(users.len(), 150, "the new records once, the old ones not again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_latest_or_a_time_for_partitions_without_a_position() {
    let s = servers();
    // latest: what is there at the first start is never read; what comes after is.
    let names = Names::new("start_latest");
    init(&s, &names);
    emitter::run(names.emitter(&s, 8, 300, 0.0, false), std::future::pending()).await.unwrap();
    let (code, out) = run_binary(&names.transformer_args(&s, &["--drain", "--start-at=latest"]));
    assert_eq!(code, 0, "{out}");
    assert_eq!(topic_len(&s, &names.output()).await, 0, "nothing before the start is read");
    emitter::run(names.emitter(&s, 8, 500, 0.0, true), std::future::pending()).await.unwrap();
    let (code, out) = run_binary(&names.transformer_args(&s, &["--drain", "--start-at=latest"]));
    assert_eq!(code, 0, "{out}");
    let got: Vec<ProcessedEvent> = read_topic(&s, &names.output()).await;
    let ids: std::collections::HashSet<_> = got.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids, expected(&names, 8, 300..500, 0.0).0, "exactly what came after the first start");

    // A time: the first record produced at or after it.
    let names = Names::new("start_time");
    init(&s, &names);
    emitter::run(names.emitter(&s, 8, 300, 0.0, false), std::future::pending()).await.unwrap();
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // The records' own Kafka timestamps are their produce times: wait until the clock has moved past `at`.
    eventually(LIMIT, "a later millisecond", || async {
        (chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true) > at)
            .then_some(())
            .ok_or(String::new())
    })
    .await;
    emitter::run(names.emitter(&s, 8, 450, 0.0, true), std::future::pending()).await.unwrap();
    let (code, out) = run_binary(&names.transformer_args(&s, &["--drain", &format!("--start-at={at}")]));
    assert_eq!(code, 0, "{out}");
    let got: Vec<ProcessedEvent> = read_topic(&s, &names.output()).await;
    let ids: std::collections::HashSet<_> = got.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(ids, expected(&names, 8, 300..450, 0.0).0, "exactly what was produced after {at}");
}

/// A deleted input topic stays deleted: the metadata lookups the transformer makes for it while it is gone (every
/// failed round refreshes them) never ask the broker to create it again. nisshi, like Apache Kafka by default,
/// creates a topic that a metadata request names unless the request says not to; before the vendored rskafka's
/// `no-auto-create` patch the first refresh brought the topic back, empty and with the broker's default partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_input_topic_is_not_created_again() {
    let s = servers();
    let names = Names::new("gone");
    init(&s, &names);
    let topic = orders_topic(&names);
    produce(&s, &topic, 0, &orders("old", 50)).await;
    let port = free_port();
    let mut t = Binary::spawn(&names.transformer_args(
        &s,
        &["--fetch-max-wait-ms=20", "--request-timeout-secs=2", &format!("--http-addr=127.0.0.1:{port}")],
    ));
    eventually(LIMIT, "the records", || async {
        let n = users_from(&s, &names, &topic).await.len();
        (n == 50).then_some(()).ok_or(format!("{n}/50"))
    })
    .await;

    let client = kafka(&s).await;
    client.controller_client().unwrap().delete_topic(&topic, 10_000).await.unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let counter = |metrics: &str, name: &str| -> u64 {
        metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0)
    };
    let (_, before) = http_get(addr, "/metrics").await;
    let recoveries_before = counter(&before, "transformer_recoveries_total");
    // A round fails on the missing topic, then each recovery attempt (with backoff) looks the topic up again.
    eventually(LIMIT, "a failed round and recoveries retried on the deleted topic", || async {
        let (_, metrics) = http_get(addr, "/metrics").await;
        let (errors, recoveries) = (
            counter(&metrics, "transformer_round_errors_total"),
            counter(&metrics, "transformer_recoveries_total") - recoveries_before,
        );
        let back = runtime::kafka::topic_names(&client).await.unwrap().contains(&topic);
        (errors >= 1 && recoveries >= 2)
            .then_some(())
            .ok_or(format!("{errors} failed rounds, {recoveries} recoveries; the topic exists again: {back}"))
    })
    .await;
    let there = runtime::kafka::topic_names(&client).await.unwrap();
    assert!(!there.contains(&topic), "{topic} was created again: {there:?}");
    t.kill();
}
