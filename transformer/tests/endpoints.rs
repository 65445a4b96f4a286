//! The HTTP endpoints of a running transformer (and the emitter's metrics): Prometheus text that promtool accepts,
//! /healthz, /status.json and the status page.

mod common;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use common::*;

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_status_of_a_running_transformer() {
    let s = servers();
    let names = Names::new("http");
    let n = 600;
    names.init_topics(&s).await; // the input topics must exist before a transformer starts
    let transformer = InProcess::start(names.transformer(&s, &[]));
    emitter::run(names.emitter(&s, 4, n, 0.05, false), std::future::pending()).await.unwrap();
    eventually(LIMIT, "all handled", || async {
        let got = transformer.metrics.records_in.load(Relaxed);
        (got == n).then_some(()).ok_or(format!("{got}/{n}"))
    })
    .await;
    let addr = transformer.metrics.http_addr.lock().unwrap().expect("listening");

    let (code, metrics) = http_get(addr, "/metrics").await;
    assert_eq!(code, 200);
    promtool_check(&metrics);
    assert!(metrics.contains(&format!("transformer_records_in_total {n}")), "{metrics}");
    assert!(metrics.contains("transformer_lag{topic="), "{metrics}");
    assert!(metrics.contains("transformer_produce_duration_seconds_bucket{le=\"+Inf\"}"), "{metrics}");
    assert!(metrics.contains("transformer_dead_letters_total{reason=\"invalid_json\"}"), "{metrics}");

    let (code, body) = http_get(addr, "/healthz").await;
    assert_eq!((code, body.as_str()), (200, "ok\n"));

    // The sampler takes a point every 2 s: wait for two, so rates can be computed.
    let status = eventually(LIMIT, "two history samples", || async {
        let (_, body) = http_get(addr, "/status.json").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        (v["history"].as_array().unwrap().len() >= 2).then_some(v.clone()).ok_or(body)
    })
    .await;
    assert_eq!(status["totals"]["records_in"], n);
    assert_eq!(status["health"]["ok"], true);
    assert_eq!(status["partitions"].as_array().unwrap().len(), 9);

    let (code, page) = http_get(addr, "/").await;
    assert_eq!(code, 200);
    assert!(
        page.contains("<canvas")
            && page.contains("status.json")
            && !page.contains("http://")
            && !page.contains("https://")
    );
    assert_eq!(http_get(addr, "/nope").await.0, 404);
    transformer.stop().await;
}

#[test]
fn emitter_metrics_pass_promtool() {
    let m = emitter::metrics::Metrics::default();
    m.sent.store(12, Relaxed);
    m.target_rate.store(100, Relaxed);
    promtool_check(&m.render());
}

#[test]
fn transformer_metrics_of_a_fresh_process_pass_promtool() {
    promtool_check(&transformer::metrics::Metrics::default().render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emitters_rate_gauge_shows_its_actual_rate() {
    let s = servers();
    let names = Names::new("rate");
    let port = free_port();
    let cfg = <emitter::Config as clap::Parser>::parse_from([
        "emitter".to_string(),
        format!("--brokers={}", s.brokers),
        format!("--topic-prefix={}", names.prefix),
        "--seed=3".into(),
        "--messages-per-second=400".into(),
        "--total=4000".into(),
        "--stats-interval-secs=1".into(),
        format!("--http-addr=127.0.0.1:{port}"),
    ]);
    let run = tokio::spawn(emitter::run(cfg, std::future::pending()));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let rate = eventually(LIMIT, "a rate in /metrics", || async {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return Err("not listening yet".to_string());
        }
        let (_, text) = http_get(addr, "/metrics").await;
        let v: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("emitter_actual_rate_events_per_second "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        (v > 0).then_some(v).ok_or(format!("{v}"))
    })
    .await;
    assert!((200..=600).contains(&rate), "actual rate {rate}/s at a target of 400/s");
    run.abort();
}
