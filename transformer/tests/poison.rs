//! Poison input through the real broker: each kind ends in dead letters with its reason, the transformer goes
//! on, and records in = records out + dead letters, exactly. And the optional dead-letter cap stops it.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use common::*;
use contract::processed::{DeadLetter, ProcessedEvent};
use rskafka::record::Record;

const LIMIT: Duration = Duration::from_secs(120);

fn record(value: Option<Vec<u8>>) -> Record {
    Record { key: None, value, headers: BTreeMap::new(), timestamp: chrono::Utc::now() }
}

async fn produce(s: &Servers, topic: &str, values: Vec<Option<Vec<u8>>>) {
    let client = rskafka::client::ClientBuilder::new(vec![s.brokers.clone()]).build().await.unwrap();
    let pc = runtime::kafka::partition_client(&client, topic, 0).await.unwrap();
    for v in values {
        // One request each: a 10 MB record must not be refused for its neighbours.
        pc.produce(vec![record(v)], rskafka::client::partition::Compression::NoCompression).await.unwrap();
    }
}

fn valid(i: u32) -> Vec<u8> {
    format!(r#"{{"order_id":"o{i}","user_id":"u{i}","amount":{i}.5,"timestamp":"2026-01-01 00:00:0{i}","ip_address":"10.0.0.{i}"}}"#).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_poison_is_dead_lettered_and_the_transformer_goes_on() {
    let s = servers();
    let names = Names::new("poison");
    // Kafka's default max.message.bytes (1 MB) would refuse the 10 MB record at the broker; this topic allows it.
    let orders = names.raw()[2].clone();
    let nisshi = std::env::var("TEST_NISSHI_BIN").expect("TEST_NISSHI_BIN is not set: run scripts/test.sh");
    let created = std::process::Command::new(nisshi)
        .args(["topic", "create", "--broker", &format!("tcp://{}", s.brokers), "--partitions", "3"])
        .args(["--config", "max.message.bytes=20971520", "--silent", &orders])
        .status()
        .unwrap();
    assert!(created.success());
    names.init_topics(&s).await; // the other input topics (the transformer no longer creates them)
    let transformer = InProcess::start(names.transformer(&s, &[]));
    eventually(LIMIT, "start", || async {
        (transformer.metrics.recoveries.load(Relaxed) > 0).then_some(()).ok_or_else(|| "starting".to_string())
    })
    .await;

    let ts = r#""timestamp":"2026-01-01 00:00:00""#;
    let poison: Vec<(Option<Vec<u8>>, &str)> = vec![
        (Some(b"{\"user_id\": \"u\", ".to_vec()), "invalid_json"),
        (Some(b"{\"user_id\":\"\xff\xfe\",\"timestamp\":\"2026-01-01 00:00:00\"}".to_vec()), "invalid_utf8"),
        (Some(format!(r#"{{"user_id":"u",{ts},"pad":"{}"}}"#, "x".repeat(10 << 20)).into_bytes()), "too_large"),
        // Under --max-record-bytes (450 KB), but an array where the url belongs: Flink's STRING coercion writes its
        // JSON text, escaped again, and twice (url and details): 1.5 MB, over what the output topic takes.
        (Some(format!(r#"{{"user_id":"u",{ts},"url":[{}""]}}"#, r#""","#.repeat(150_000)).into_bytes()), "too_large"),
        (Some(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()), "not_an_object"),
        (Some(format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000)).into_bytes()), "missing_field"),
        (Some(format!(r#"{{"user_id":"u",{ts},"duration_seconds":true}}"#).into_bytes()), "wrong_type"),
        (Some(format!(r#"{{"user_id":"u",{ts},"amount":"cheap"}}"#).into_bytes()), "wrong_type"),
        (Some(format!(r#"{{{ts}}}"#).into_bytes()), "missing_field"),
        (Some(br#"{"user_id":"u"}"#.to_vec()), "missing_field"),
        (Some(br#"{"user_id":"u","timestamp":"1960-01-01 00:00:00"}"#.to_vec()), "timestamp_out_of_range"),
        (Some(br#"{"user_id":"u","timestamp":"2999-01-01 00:00:00"}"#.to_vec()), "timestamp_out_of_range"),
        (Some(br#"{"user_id":"u","timestamp":"next tuesday"}"#.to_vec()), "bad_timestamp"),
        (Some(Vec::new()), "empty_record"),
        (None, "empty_record"),
    ];
    // Valid records around and between the poison: they must all come through.
    let mut values = vec![Some(valid(1))];
    for (v, _) in &poison {
        values.push(v.clone());
    }
    values.push(Some(valid(2)));
    values.push(Some(valid(3)));
    // A valid event with a 190 KB url: its unified record (the url twice) is 380 KB, which was once over a fixed
    // output cap. Its raw record fits --max-record-bytes, so it is written.
    let long_url = format!("https://a.example/{}", "p".repeat(190_000));
    values.push(Some(format!(r#"{{"user_id":"u4",{ts},"url":"{long_url}"}}"#).into_bytes()));
    produce(&s, &orders, values).await;

    let total = poison.len() as u64 + 4;
    eventually(LIMIT, "every record handled", || async {
        let n = transformer.metrics.records_in.load(Relaxed);
        (n == total).then_some(()).ok_or(format!("{n}/{total}"))
    })
    .await;
    let m = &transformer.metrics;
    assert_eq!(m.records_out.load(Relaxed), 4);
    assert_eq!(m.dead_letters_total(), poison.len() as u64);
    assert_eq!(m.records_out.load(Relaxed) + m.dead_letters_total(), m.records_in.load(Relaxed));

    let letters: Vec<DeadLetter> = read_topic(&s, &names.dead()).await;
    let by_offset: HashMap<i64, &DeadLetter> = letters.iter().map(|d| (d.source_offset, d)).collect();
    assert_eq!(by_offset.len(), poison.len());
    for (i, (value, reason)) in poison.iter().enumerate() {
        let d = by_offset[&(i as i64 + 1)];
        assert_eq!(
            (d.reason.as_str(), d.source_topic.as_str(), d.source_partition),
            (*reason, orders.as_str(), 0),
            "{}",
            d.error
        );
        assert_eq!(d.raw_size as usize, value.as_ref().map_or(0, Vec::len));
        assert!(d.raw.len() <= 65_536);
    }
    let out: Vec<ProcessedEvent> = read_topic(&s, &names.output()).await;
    let mut users: Vec<_> = out.iter().map(|e| e.user_id.as_str()).collect();
    users.sort();
    assert_eq!(users, ["u1", "u2", "u3", "u4"]);
    let long = out.iter().find(|e| e.user_id == "u4").unwrap();
    assert_eq!((long.url.as_deref(), long.details.as_str()), (Some(long_url.as_str()), long_url.as_str()));
    transformer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_cap_stops_the_transformer_after_committing() {
    let s = servers();
    let names = Names::new("cap");
    // Off by default: the same input is fine without the flag (checked by the poison test); here it is on.
    let cfg = names.transformer(&s, &["--max-dead-letter-ratio=0.5", "--dead-letter-window=20"]);
    let mut client_cfg = cfg.clone();
    client_cfg.init = true;
    transformer::run(client_cfg, std::future::pending()).await.unwrap();
    let mut values: Vec<Option<Vec<u8>>> = (0..30).map(|_| Some(b"garbage".to_vec())).collect();
    values.insert(0, Some(valid(1)));
    produce(&s, &names.raw()[2], values).await;

    let err = tokio::time::timeout(LIMIT, transformer::run(cfg, std::future::pending()))
        .await
        .expect("it stops by itself")
        .unwrap_err();
    assert!(format!("{err:#}").contains("--max-dead-letter-ratio"), "{err:#}");
    // What it handled before stopping is committed and in the topics.
    let letters: Vec<DeadLetter> = read_topic(&s, &names.dead()).await;
    assert!(letters.len() >= 20, "{}", letters.len());
    assert!(letters.iter().all(|d| d.reason == "invalid_json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_batch_stops_only_its_partition_and_says_where() {
    let s = servers();
    let names = Names::new("unreadable");
    names.init_topics(&s).await;
    let [clicks, _, orders] = names.raw();
    // orders/0: two records, then a record we cannot decode (offset 2: a header key that is not UTF-8), then
    // one more record behind it.
    produce(&s, &orders, vec![Some(valid(1)), Some(valid(2))]).await;
    produce_raw_batch(&s, &orders, 0, &batch_with_binary_header_key(&valid(9))).await;
    produce(&s, &orders, vec![Some(valid(3))]).await;
    // Other partitions: they must go on.
    produce(&s, &clicks, vec![Some(valid(4)), Some(valid(5))]).await;
    let client = rskafka::client::ClientBuilder::new(vec![s.brokers.clone()]).build().await.unwrap();
    let orders1 = runtime::kafka::partition_client(&client, &orders, 1).await.unwrap();
    orders1
        .produce(vec![record(Some(valid(6)))], rskafka::client::partition::Compression::NoCompression)
        .await
        .unwrap();

    let transformer = InProcess::start(names.transformer(&s, &[]));
    let addr = eventually(LIMIT, "listening", || async {
        transformer.metrics.http_addr.lock().unwrap().ok_or_else(|| "not yet".to_string())
    })
    .await;
    eventually(LIMIT, "the readable records written, the stop reported", || async {
        let out = transformer.metrics.records_out.load(Relaxed);
        let (code, body) = http_get(addr, "/healthz").await;
        (out == 5 && code == 503 && body.contains(&format!("{orders}/0 stopped at offset 2")))
            .then_some(())
            .ok_or(format!("{out}/5 written; /healthz {code} {body}; {}", http_get(addr, "/status.json").await.1))
    })
    .await;
    let (_, metrics) = http_get(addr, "/metrics").await;
    assert!(metrics.contains(&format!("transformer_partition_unreadable{{topic=\"{orders}\",partition=\"0\"}} 1")));
    assert!(metrics.contains(&format!("transformer_partition_unreadable{{topic=\"{orders}\",partition=\"1\"}} 0")));
    let (_, status) = http_get(addr, "/status.json").await;
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let stopped: Vec<_> = status["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["unreadable"].is_null())
        .map(|p| {
            (
                p["topic"].as_str().unwrap().to_string(),
                p["partition"].as_i64().unwrap(),
                p["committed"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(stopped, [(orders.clone(), 0, 2)], "stopped where the bad batch is, after the two records before it");
    transformer.stop().await;

    // --drain says what it could not read, with a non-zero result, instead of "drained".
    let run = transformer::run(names.transformer(&s, &["--drain"]), std::future::pending());
    let err = tokio::time::timeout(LIMIT, run).await.expect("--drain ends").unwrap_err();
    assert!(format!("{err:#}").contains(&format!("not drained: {orders}/0 at offset 2")), "{err:#}");
    let out: Vec<ProcessedEvent> = read_topic(&s, &names.output()).await;
    let mut users: Vec<_> = out.iter().map(|e| e.user_id.as_str()).collect();
    users.sort();
    assert_eq!(users, ["u1", "u2", "u4", "u5", "u6"], "everything readable once, nothing behind the bad batch");

    // The way out the message names: move that one partition past the batch, and the rest of it comes through.
    let key = format!("{orders}/0");
    let (code, text) = run_binary(
        &[
            names.transformer_args(&s, &[]),
            vec!["offsets".into(), "reset".into(), "--partition".into(), key.clone(), "--to-offset".into(), "3".into()],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("position {key} next=3")), "{text}");
    let run = transformer::run(names.transformer(&s, &["--drain"]), std::future::pending());
    tokio::time::timeout(LIMIT, run).await.expect("--drain ends").expect("drained now");
    let out: Vec<ProcessedEvent> = read_topic(&s, &names.output()).await;
    let mut users: Vec<_> = out.iter().map(|e| e.user_id.as_str()).collect();
    users.sort();
    assert_eq!(users, ["u1", "u2", "u3", "u4", "u5", "u6"]);
}

#[tokio::test]
async fn the_output_topics_it_creates_take_batches_of_output_max_message_bytes() {
    // --output-max-message-bytes sizes the transformer's produce batches; the output and dead-letter topics it
    // creates are created with it as their max.message.bytes, so the broker takes those batches even where its
    // default (Kafka's 1 MiB) is smaller. A topic it creates for itself (the checkpoints) keeps the default.
    let s = servers();
    let names = Names::new("maxmsg");
    let (code, out) = run_binary(&names.transformer_args(&s, &["--init", "--output-max-message-bytes=3000000"]));
    assert_eq!(code, 0, "--init failed: {out}");
    let client = kafka(&s).await;
    let big = || {
        vec![Record {
            key: None,
            value: Some(vec![b'x'; 2 << 20]),
            headers: BTreeMap::new(),
            timestamp: chrono::Utc::now(),
        }]
    };
    for topic in [names.output(), names.dead()] {
        let pc = runtime::kafka::partition_client(&client, &topic, 0).await.unwrap();
        let produced = pc.produce(big(), rskafka::client::partition::Compression::NoCompression).await;
        assert!(produced.is_ok(), "a 2 MiB batch to {topic}: {produced:?}");
    }
    let pc = runtime::kafka::partition_client(&client, &names.checkpoints(), 0).await.unwrap();
    let refused = pc.produce(big(), rskafka::client::partition::Compression::NoCompression).await;
    assert!(format!("{refused:?}").contains("MessageTooLarge"), "the broker's default holds elsewhere: {refused:?}");
}
