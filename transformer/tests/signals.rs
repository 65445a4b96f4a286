//! SIGTERM while the broker is unreachable: the process stops at once with exit 0, and it logs one line per
//! connection attempt (not the Kafka client's own retries, ~10 a second). Needs no server: the broker address
//! points at a closed port.

use std::io::Read as _;
use std::time::{Duration, Instant};

#[test]
fn sigterm_stops_it_while_the_broker_is_unreachable() {
    let log = std::env::temp_dir().join(format!("transformer-signals-{}.log", std::process::id()));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_transformer"))
        .args(["--brokers=127.0.0.1:1", "--connect-timeout-secs=0", "--http-addr=off"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let read = || {
        let mut s = String::new();
        std::fs::File::open(&log).unwrap().read_to_string(&mut s).unwrap();
        s
    };
    let start = Instant::now();
    while !read().contains("attempt=2") {
        assert!(start.elapsed() < Duration::from_secs(30), "no second attempt logged:\n{}", read());
        assert!(child.try_wait().unwrap().is_none(), "it gave up although --connect-timeout-secs=0:\n{}", read());
        std::thread::sleep(Duration::from_millis(50));
    }
    let term = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let asked = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(asked.elapsed() < Duration::from_secs(5), "still running 5 s after SIGTERM:\n{}", read());
        std::thread::sleep(Duration::from_millis(20));
    };
    let said = read();
    let _ = std::fs::remove_file(&log);
    assert!(status.success(), "exit {status:?}:\n{said}");
    assert!(said.contains("stopped before"), "{said}");
    let lines = said.lines().count();
    let attempts = said.lines().filter(|l| l.contains("not reachable")).count();
    assert_eq!(lines, attempts + 1, "one line per attempt and the stop line, nothing else:\n{said}");
}
