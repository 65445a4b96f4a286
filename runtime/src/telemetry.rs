//! Telemetry both binaries serve the same way: the Prometheus text format ([`Exposition`], [`Histogram`]) and the
//! `/healthz` verdict ([`Health`]). One renderer, so HELP and TYPE lines, label escaping and the histogram layout
//! are written once; each binary only says which metrics it has.
//!
//! Why our own and not the prometheus-client crate: the two binaries keep their counters as plain atomics the hot
//! loops bump, and render them on a scrape; a registry would add a second home for each value. This is the ~100
//! lines of the text format (<https://prometheus.io/docs/instrumenting/exposition_formats/>) the binaries need, and
//! every render is checked with `promtool check metrics` in the endpoint tests.

use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::http::{Response, PROMETHEUS};

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets with the process).
    Counter,
    /// Any value.
    Gauge,
    /// Observations in cumulative buckets ([`Histogram`]).
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A page of Prometheus text, written family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// An empty page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the family `name`: its HELP and TYPE lines. Its samples follow ([`Exposition::sample`]).
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let _ = writeln!(self.text, "# HELP {name} {}\n# TYPE {name} {}", help.replace('\n', " "), kind.name());
        self
    }

    /// One sample: `name{label="value",...} value`, label values escaped as the format requires.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &dyn Display)], value: impl Display) -> &mut Self {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape(&v.to_string()));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
        self
    }

    /// A counter family with one sample and no labels.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) -> &mut Self {
        self.family(name, Kind::Counter, help).sample(name, &[], value)
    }

    /// [`Exposition::counter`] for each `(name, help, counter)`, read as it is now.
    pub fn counters(&mut self, list: &[(&str, &str, &AtomicU64)]) -> &mut Self {
        for (name, help, value) in list {
            self.counter(name, help, value.load(Relaxed));
        }
        self
    }

    /// A gauge family with one sample and no labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: impl Display) -> &mut Self {
        self.family(name, Kind::Gauge, help).sample(name, &[], value)
    }

    /// A histogram family: its buckets, `_sum` and `_count`.
    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) -> &mut Self {
        self.family(name, Kind::Histogram, help);
        let bucket = format!("{name}_bucket");
        for (bound, c) in BUCKETS.iter().zip(&h.counts) {
            self.sample(&bucket, &[("le", bound)], c.load(Relaxed));
        }
        let n = h.count.load(Relaxed);
        self.sample(&bucket, &[("le", &"+Inf")], n);
        self.sample(&format!("{name}_sum"), &[], h.sum_micros.load(Relaxed) as f64 / 1e6);
        self.sample(&format!("{name}_count"), &[], n)
    }

    /// The page.
    pub fn finish(self) -> String {
        self.text
    }
}

/// A label value as the text format writes it: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// Upper bounds of the [`Histogram`] buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// A Prometheus histogram of durations, cheap to update from a hot loop (relaxed atomics).
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, c) in BUCKETS.iter().zip(&self.counts) {
            if secs <= *bound {
                c.fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }
}

/// What `/healthz` says: 200 while working (perhaps degraded: working, but look), 503 with the reason otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Working.
    Ok,
    /// Working, but something needs a look (the reason says what).
    Degraded(String),
    /// Not working (the reason says why, and what to check).
    Down(String),
}

impl Health {
    /// The verdict from the time of the last success (`last_ok_ms`, epoch ms; 0 if none yet): [`Health::Ok`] while
    /// it is at most `max_age` old; otherwise down, saying `starting` before the first success, or what `stale`
    /// makes of the time since the last one.
    pub fn from_last_success(
        last_ok_ms: i64,
        max_age: Duration,
        starting: &str,
        stale: impl FnOnce(Duration) -> String,
    ) -> Self {
        if last_ok_ms == 0 {
            return Health::Down(starting.to_string());
        }
        let age = Duration::from_millis((chrono::Utc::now().timestamp_millis() - last_ok_ms).max(0) as u64);
        if age <= max_age {
            Health::Ok
        } else {
            Health::Down(stale(age))
        }
    }

    /// Whether it is working (degraded or not): /healthz answers 200.
    pub fn is_up(&self) -> bool {
        !matches!(self, Health::Down(_))
    }

    /// Why it is degraded or down; `None` when all is well.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Health::Ok => None,
            Health::Degraded(r) | Health::Down(r) => Some(r),
        }
    }

    /// The `/healthz` answer: `ok` or the reason on the first line, then `details` (each line ending in `\n`).
    pub fn response(&self, details: &str) -> Response {
        let status = if self.is_up() { 200 } else { 503 };
        Response::text(status, format!("{}\n{details}", self.reason().unwrap_or("ok")))
    }
}

/// `/metrics` with `page` (a render), the content type Prometheus expects.
pub fn metrics_response(page: String) -> Response {
    Response::ok(PROMETHEUS, page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_samples_and_histograms_in_the_text_format() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(20));
        let mut e = Exposition::new();
        e.counter("a_total", "Things.", 3);
        e.family("b", Kind::Gauge, "Per topic.").sample("b", &[("topic", &"t\"1"), ("partition", &0)], -2);
        e.histogram("c_seconds", "Durations.", &h);
        let page = e.finish();
        assert!(page.starts_with("# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n"), "{page}");
        assert!(page.contains("# TYPE b gauge\nb{topic=\"t\\\"1\",partition=\"0\"} -2\n"), "{page}");
        assert!(page.contains("c_seconds_bucket{le=\"0.001\"} 0\n"), "{page}");
        assert!(page.contains("c_seconds_bucket{le=\"0.005\"} 1\n"), "{page}");
        assert!(page.contains("c_seconds_bucket{le=\"10\"} 1\nc_seconds_bucket{le=\"+Inf\"} 2\n"), "{page}");
        assert!(page.contains("c_seconds_sum 20.003\nc_seconds_count 2\n"), "{page}");
    }

    #[test]
    fn health_follows_the_last_success() {
        let stale = |age: Duration| format!("nothing for {} s", age.as_secs());
        let now = chrono::Utc::now().timestamp_millis();
        let second = Duration::from_secs(1);
        assert_eq!(Health::from_last_success(0, second, "starting", stale), Health::Down("starting".into()));
        assert_eq!(Health::from_last_success(now, Duration::from_secs(60), "starting", stale), Health::Ok);
        let old = Health::from_last_success(now - 5_000, second, "starting", stale);
        assert!(matches!(&old, Health::Down(r) if r.starts_with("nothing for ")), "{old:?}");
        let r = old.response("details\n");
        assert_eq!((r.status, r.body.as_str()), (503, "nothing for 5 s\ndetails\n"));
        let r = Health::Degraded("look".into()).response("");
        assert_eq!((r.status, r.body.as_str()), (200, "look\n"));
        assert_eq!(Health::Ok.response("").body, "ok\n");
    }
}
