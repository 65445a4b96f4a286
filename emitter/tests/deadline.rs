//! The emitter against a broker that accepts connections but does not answer (SIGSTOP): each produce gives up after
//! --request-timeout-secs, counts as a failed produce and is retried, instead of hanging; after SIGCONT it goes on.
//! The broker is the test's own (in memory), so freezing it disturbs no other test.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `probe` every 200 ms until it returns `Some`, or panics after `limit` naming `what`.
fn eventually<T>(limit: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The value of the metric line starting with `name` on the emitter's /metrics, if it answers.
fn metric(port: u16, name: &str) -> Option<f64> {
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut body = String::new();
    conn.read_to_string(&mut body).ok()?;
    body.lines().find(|l| l.starts_with(name))?.split_whitespace().last()?.parse().ok()
}

#[test]
fn a_frozen_broker_fails_each_produce_within_the_request_timeout() {
    let nisshi = std::env::var("TEST_NISSHI_BIN").expect("TEST_NISSHI_BIN is not set: run scripts/test.sh");
    let kafka = free_port();
    let url = format!("tcp://127.0.0.1:{kafka}");
    let mut broker = Command::new(nisshi)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://nisshi/",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(60), "the broker to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", kafka)).ok()
    });
    let http = free_port();
    let mut emitter = Command::new(env!("CARGO_BIN_EXE_emitter"))
        .args([
            "--brokers",
            &format!("127.0.0.1:{kafka}"),
            "--messages-per-second",
            "200",
            "--request-timeout-secs",
            "2",
        ])
        .args(["--http-addr", &format!("127.0.0.1:{http}"), "--connect-timeout-secs", "20"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(60), "events sent", || {
        metric(http, "emitter_events_sent_total").filter(|n| *n > 0.0)
    });

    let kill =
        |sig: &str, pid: u32| assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
    kill("-STOP", broker.id());
    let frozen = Instant::now();
    eventually(Duration::from_secs(30), "a failed produce", || {
        metric(http, "emitter_produce_errors_total").filter(|n| *n > 0.0)
    });
    let took = frozen.elapsed();
    assert!(took < Duration::from_secs(8), "the first produce failed {took:?} after the broker froze");
    kill("-CONT", broker.id());
    let sent = metric(http, "emitter_events_sent_total").unwrap();
    eventually(Duration::from_secs(60), "sending again", || {
        metric(http, "emitter_events_sent_total").filter(|n| *n > sent + 100.0)
    });
    kill("-TERM", emitter.id());
    let _ = emitter.wait();
    let mut log = String::new();
    emitter.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("no answer within 2 s (--request-timeout-secs)"), "{log}");
    let _ = broker.kill();
    let _ = broker.wait();
}
