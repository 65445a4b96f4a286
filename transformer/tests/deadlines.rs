//! Deadlines that fire: a broker that accepts connections but does not answer (SIGSTOP) turns into a failed round
//! within --request-timeout-secs, /healthz says why, and once the broker answers again everything arrives exactly
//! once. The broker is the test's own, so freezing it disturbs no other test.

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use common::*;
use contract::processed::ProcessedEvent;

const LIMIT: Duration = Duration::from_secs(120);

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_broker_fails_the_round_within_the_request_timeout() {
    let dir = temp_dir("frozen");
    let broker = Broker::start(&dir, &[]);
    let s = Servers { brokers: broker.brokers(), clickhouse: clickhouse::Client::default() };
    let names = Names::new("frozen");
    emitter::run(names.emitter(&s, 5, 400, 0.0, false), std::future::pending()).await.unwrap();
    let transformer = InProcess::start(names.transformer(&s, &["--request-timeout-secs=2", "--health-max-age-secs=3"]));
    let addr = eventually(LIMIT, "listening", || async {
        transformer.metrics.http_addr.lock().unwrap().ok_or_else(|| "not yet".to_string())
    })
    .await;
    eventually(LIMIT, "the first 400 written", || async {
        let n = transformer.metrics.records_out.load(Relaxed);
        (n == 400).then_some(()).ok_or(format!("{n}/400"))
    })
    .await;

    signal(broker.child.id(), "-STOP");
    let frozen = Instant::now();
    let errors_before = transformer.metrics.round_errors.load(Relaxed);
    eventually(Duration::from_secs(30), "a failed round", || async {
        let n = transformer.metrics.round_errors.load(Relaxed);
        (n > errors_before).then_some(()).ok_or(format!("{n} round errors"))
    })
    .await;
    let took = frozen.elapsed();
    // 2 s of request timeout plus the fetch's own wait (100 ms) and scheduling on a busy 2-core machine.
    assert!(took < Duration::from_secs(6), "the round failed {took:?} after the broker froze");
    let (code, body) = eventually(Duration::from_secs(30), "/healthz says why", || async {
        let (code, body) = http_get(addr, "/healthz").await;
        (code == 503 && body.contains("--request-timeout-secs")).then_some((code, body.clone())).ok_or(body)
    })
    .await;
    println!("froze the broker: round failed after {took:?}; /healthz {code}: {body}");

    signal(broker.child.id(), "-CONT");
    emitter::run(names.emitter(&s, 5, 800, 0.0, true), std::future::pending()).await.unwrap();
    eventually(LIMIT, "everything written", || async {
        let n = transformer.metrics.records_out.load(Relaxed);
        (n >= 800).then_some(()).ok_or(format!("{n}/800"))
    })
    .await;
    transformer.stop().await;
    let out: Vec<ProcessedEvent> = read_topic(&s, &names.output()).await;
    let ids: HashSet<_> = out.iter().map(|e| e.event_id.clone()).collect();
    let (want, _) = expected(&names, 5, 0..800, 0.0);
    assert_eq!(ids, want, "nothing lost");
    assert_eq!(out.len(), ids.len(), "nothing twice");
    broker.stop();
}
