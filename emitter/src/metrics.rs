//! The emitter's counters, served as Prometheus text on `/metrics`, and its health on `/healthz`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use runtime::http::{Response, PROMETHEUS};

/// Updated by the send loop.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events sent and acknowledged.
    pub sent: AtomicU64,
    /// Of those, malformed on purpose.
    pub malformed: AtomicU64,
    /// Bytes of record values sent.
    pub bytes: AtomicU64,
    /// Produce batches acknowledged.
    pub batches: AtomicU64,
    /// Failed produce attempts (each is retried).
    pub produce_errors: AtomicU64,
    /// Target rate, events per second (0: as fast as possible).
    pub target_rate: AtomicU64,
    /// Rate over the last stats interval, events per second.
    pub actual_rate: AtomicU64,
    /// When a batch was last acknowledged (or the loop last found nothing due), epoch ms; 0 before.
    pub last_ok_ms: AtomicI64,
}

impl Metrics {
    /// Marks the loop as healthy now.
    pub fn ok_now(&self) {
        self.last_ok_ms.store(chrono::Utc::now().timestamp_millis(), Relaxed);
    }

    /// Answers `/metrics` and `/healthz`.
    pub fn handle(&self, path: &str, max_age: Duration) -> Response {
        match path {
            "/metrics" => Response::ok(PROMETHEUS, self.render()),
            "/healthz" => {
                let last = self.last_ok_ms.load(Relaxed);
                let age = chrono::Utc::now().timestamp_millis() - last;
                if last == 0 {
                    Response::text(503, "starting: not connected to Kafka yet\n")
                } else if age > max_age.as_millis() as i64 {
                    Response::text(503, format!("no batch acknowledged for {:.1} s: is Kafka up?\n", age as f64 / 1e3))
                } else {
                    Response::text(200, "ok\n")
                }
            }
            _ => Response::text(404, "not found: try /metrics or /healthz\n"),
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (name, kind, help, v) in [
            ("emitter_events_sent_total", "counter", "Events sent and acknowledged.", self.sent.load(Relaxed)),
            ("emitter_malformed_events_total", "counter", "Events malformed on purpose.", self.malformed.load(Relaxed)),
            ("emitter_bytes_sent_total", "counter", "Bytes of record values sent.", self.bytes.load(Relaxed)),
            ("emitter_batches_total", "counter", "Produce batches acknowledged.", self.batches.load(Relaxed)),
            (
                "emitter_produce_errors_total",
                "counter",
                "Failed produce attempts (retried).",
                self.produce_errors.load(Relaxed),
            ),
            (
                "emitter_target_rate_events_per_second",
                "gauge",
                "Target rate (0: unlimited).",
                self.target_rate.load(Relaxed),
            ),
            (
                "emitter_actual_rate_events_per_second",
                "gauge",
                "Rate over the last stats interval.",
                self.actual_rate.load(Relaxed),
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        s
    }
}
