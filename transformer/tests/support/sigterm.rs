//! Shared by the emitter's and the transformer's `tests/signals.rs` (included with `#[path]`; a folder under tests/
//! is not a test target of its own).

use std::io::Read as _;
use std::time::{Duration, Instant};

/// Starts `bin` against a closed port, waits for its second connection attempt, sends SIGTERM and checks that it
/// exits 0 within 5 s, having logged one line per attempt and its stop line, nothing else.
pub fn sigterm_stops_it_while_the_broker_is_unreachable(bin: &str) {
    let name = std::path::Path::new(bin).file_name().unwrap().to_string_lossy().into_owned();
    let log = std::env::temp_dir().join(format!("{name}-signals-{}.log", std::process::id()));
    let mut child = std::process::Command::new(bin)
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
