//! Counters the pipeline updates and two ways to read them: a periodic throughput log line, and
//! [`Metrics::render`] in Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::map::MapError;

/// Per input partition: committed position and what the broker has.
#[derive(Debug, Clone, Copy, Default)]
pub struct PartitionGauges {
    /// First offset not yet committed.
    pub next_offset: i64,
    /// High watermark at the last fetch.
    pub high_watermark: i64,
}

/// Pipeline counters. Cheap to update from the hot loop (relaxed atomics; the partition map is touched once a round).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Raw records fetched and handled (mapped, dead-lettered or skipped).
    pub records_in: AtomicU64,
    /// Bytes of raw values fetched.
    pub bytes_in: AtomicU64,
    /// Unified records written and acknowledged.
    pub records_out: AtomicU64,
    /// Records skipped at recovery because their output was already written before a crash.
    pub records_skipped: AtomicU64,
    /// Dead letters written, per reason (index into [`MapError::REASONS`]).
    pub dead_letters: [AtomicU64; MapError::REASONS.len()],
    /// Rounds that ended in a commit.
    pub commits: AtomicU64,
    /// Rounds that failed and were retried from the last commit.
    pub round_errors: AtomicU64,
    /// Recoveries run (the first start included).
    pub recoveries: AtomicU64,
    /// Per input partition (`topic/partition`).
    pub partitions: Mutex<BTreeMap<String, PartitionGauges>>,
}

impl Metrics {
    /// Counts one dead letter of `reason`.
    pub fn dead_letter(&self, reason: &str) {
        if let Some(i) = MapError::REASONS.iter().position(|r| *r == reason) {
            self.dead_letters[i].fetch_add(1, Relaxed);
        }
    }

    /// All dead letters, any reason.
    pub fn dead_letters_total(&self) -> u64 {
        self.dead_letters.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Sum of lag over the input partitions.
    pub fn total_lag(&self) -> i64 {
        let parts = self.partitions.lock().expect("metrics lock poisoned");
        parts.values().map(|g| (g.high_watermark - g.next_offset).max(0)).sum()
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter("transformer_records_in_total", "Raw records read and handled.", self.records_in.load(Relaxed));
        counter("transformer_bytes_in_total", "Bytes of raw record values read.", self.bytes_in.load(Relaxed));
        counter(
            "transformer_records_out_total",
            "Unified records written and acknowledged.",
            self.records_out.load(Relaxed),
        );
        counter(
            "transformer_records_skipped_total",
            "Records not written again at recovery because they were already in the output.",
            self.records_skipped.load(Relaxed),
        );
        counter("transformer_commits_total", "Offset checkpoints committed.", self.commits.load(Relaxed));
        counter(
            "transformer_round_errors_total",
            "Rounds that failed and were retried from the last commit.",
            self.round_errors.load(Relaxed),
        );
        counter(
            "transformer_recoveries_total",
            "Recoveries from the last checkpoint, the first start included.",
            self.recoveries.load(Relaxed),
        );
        let _ = writeln!(s, "# HELP transformer_dead_letters_total Records sent to the dead-letter topic.");
        let _ = writeln!(s, "# TYPE transformer_dead_letters_total counter");
        for (reason, c) in MapError::REASONS.iter().zip(&self.dead_letters) {
            let _ = writeln!(s, "transformer_dead_letters_total{{reason=\"{reason}\"}} {}", c.load(Relaxed));
        }
        let parts = self.partitions.lock().expect("metrics lock poisoned");
        for (name, help, f) in [
            (
                "transformer_committed_offset",
                "Next offset to read, as committed.",
                (|g: &PartitionGauges| g.next_offset) as fn(&PartitionGauges) -> i64,
            ),
            ("transformer_high_watermark", "High watermark of the input partition at the last fetch.", |g| {
                g.high_watermark
            }),
            ("transformer_lag", "Records in the input partition not yet committed.", |g| {
                (g.high_watermark - g.next_offset).max(0)
            }),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (key, g) in parts.iter() {
                let (topic, partition) = key.rsplit_once('/').unwrap_or((key, ""));
                let _ = writeln!(s, "{name}{{topic=\"{topic}\",partition=\"{partition}\"}} {}", f(g));
            }
        }
        s
    }
}
