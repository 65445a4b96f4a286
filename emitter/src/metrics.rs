//! The emitter's counters, served as Prometheus text on `/metrics`, and its health on `/healthz`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use runtime::http::Response;
use runtime::telemetry::{metrics_response, Exposition, Health};

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
            "/metrics" => metrics_response(self.render()),
            "/healthz" => {
                let stale =
                    |age: Duration| format!("no batch acknowledged for {:.1} s: is Kafka up?", age.as_secs_f64());
                let last = self.last_ok_ms.load(Relaxed);
                Health::from_last_success(last, max_age, "starting: not connected to Kafka yet", stale).response("")
            }
            _ => Response::text(404, "not found: try /metrics or /healthz\n"),
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut e = Exposition::new();
        e.counters(&[
            ("emitter_events_sent_total", "Events sent and acknowledged.", &self.sent),
            ("emitter_malformed_events_total", "Events malformed on purpose.", &self.malformed),
            ("emitter_bytes_sent_total", "Bytes of record values sent.", &self.bytes),
            ("emitter_batches_total", "Produce batches acknowledged.", &self.batches),
            ("emitter_produce_errors_total", "Failed produce attempts (retried).", &self.produce_errors),
        ])
        .gauge("emitter_target_rate_events_per_second", "Target rate (0: unlimited).", self.target_rate.load(Relaxed))
        .gauge(
            "emitter_actual_rate_events_per_second",
            "Rate over the last stats interval.",
            self.actual_rate.load(Relaxed),
        );
        e.finish()
    }
}
