//! Counters the pipeline updates and the ways to read them: a periodic throughput log line, [`Metrics::render`]
//! in Prometheus text format, the health verdict, and a short history for the status page.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

pub use runtime::telemetry::Histogram;
use runtime::telemetry::{Exposition, Health, Kind};

use job::MapError;

/// Per input partition: committed position and what the broker has.
#[derive(Debug, Clone, Default)]
pub struct PartitionGauges {
    /// First offset not yet committed.
    pub next_offset: i64,
    /// High watermark at the last fetch.
    pub high_watermark: i64,
    /// Records handled from this partition since start.
    pub records: u64,
    /// Why the partition is stopped, when a record batch in it cannot be read.
    pub unreadable: Option<String>,
}

/// An input position found invalid and what was done about it (see [`crate::source::PositionProblem`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PositionEvent {
    /// When, epoch ms.
    pub t: i64,
    /// Input topic.
    pub topic: String,
    /// Input partition.
    pub partition: i32,
    /// `past_end` or `before_log_start`.
    pub kind: &'static str,
    /// The position that was no longer valid.
    pub from: i64,
    /// Where reading resumed.
    pub to: i64,
    /// Records lost to retention (0 for a recreated topic).
    pub lost: u64,
    /// The whole story, in words.
    pub message: String,
}

/// `(topic, partition, kind)` of [`PositionEvent`]s, the labels of their counters.
pub type PositionKey = (String, i32, &'static str);

/// How long /healthz says "degraded" after an input position was found invalid.
pub const DEGRADED_FOR: Duration = Duration::from_secs(600);

/// One point of the status page's chart.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    /// Epoch milliseconds.
    pub t: i64,
    /// Records handled per input topic, cumulative.
    pub topics: BTreeMap<String, u64>,
    /// Unified records written, cumulative.
    pub out: u64,
    /// Dead letters, cumulative.
    pub dead: u64,
}

/// How many samples the history keeps (2 s apart: 5 minutes).
pub const HISTORY: usize = 150;

/// Pipeline counters. Cheap to update from the hot loop (relaxed atomics; the partition map is touched once a round).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Raw records fetched and handled (mapped, dead-lettered or skipped).
    pub records_in: AtomicU64,
    /// Bytes of raw values fetched.
    pub bytes_in: AtomicU64,
    /// Unified records written and acknowledged.
    pub records_out: AtomicU64,
    /// Bytes of unified records written and acknowledged.
    pub bytes_out: AtomicU64,
    /// Records skipped at recovery because their output was already written before a crash.
    pub records_skipped: AtomicU64,
    /// Rows dropped for a NULL in a NOT NULL column (the job's `table.exec.sink.not-null-enforcer` = DROP).
    pub records_dropped: AtomicU64,
    /// Dead letters written, per reason (index into [`MapError::REASONS`]).
    pub dead_letters: [AtomicU64; MapError::REASONS.len()],
    /// Rounds that ended in a commit.
    pub commits: AtomicU64,
    /// Rounds that failed and were retried from the last commit.
    pub round_errors: AtomicU64,
    /// Recoveries run (the first start included).
    pub recoveries: AtomicU64,
    /// Per input partition, by (topic, partition).
    pub partitions: Mutex<BTreeMap<(String, i32), PartitionGauges>>,
    /// Time to produce a round's outputs until every acknowledgement arrived.
    pub produce_latency: Histogram,
    /// Time to append and acknowledge a checkpoint.
    pub commit_latency: Histogram,
    /// When the last round (with or without records) succeeded, epoch ms; 0 before the first.
    pub last_ok_ms: AtomicI64,
    /// When the process started, epoch ms.
    pub started_ms: AtomicI64,
    /// The most recent errors, newest last, with their time (epoch ms).
    pub errors: Mutex<VecDeque<(i64, String)>>,
    /// Recent samples for the status page's chart.
    pub history: Mutex<VecDeque<Sample>>,
    /// Input positions found invalid (recreated topics, retention), newest last; the last 20 are kept.
    pub position_events: Mutex<VecDeque<PositionEvent>>,
    /// Per (topic, partition, kind): how often a position was found invalid and moved, and records lost.
    pub position_counts: Mutex<BTreeMap<PositionKey, (u64, u64)>>,
    /// Where the HTTP endpoints listen, once they do.
    pub http_addr: Mutex<Option<std::net::SocketAddr>>,
    /// With `--assignment group`: this member's place in the group.
    pub group: Mutex<Option<GroupInfo>>,
    /// Generations joined (the first join included).
    pub group_rebalances: AtomicU64,
    /// Records written in a round whose commit the group refused (we had been replaced): the partitions' new
    /// owners may write them again.
    pub group_fenced_records: AtomicU64,
}

/// A member's place in its consumer group, for /healthz, the status page and /metrics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupInfo {
    /// The group.
    pub group: String,
    /// Our member id.
    pub member_id: String,
    /// The generation joined.
    pub generation: i32,
    /// Whether we lead it (deal the partitions).
    pub leader: bool,
    /// Members in the generation (known to the leader only; 0 for the others).
    pub members: usize,
    /// Our partitions, as `topic/partition`.
    pub assignment: Vec<String>,
}

impl Metrics {
    /// Counts one dead letter of `reason`.
    pub fn dead_letter(&self, reason: &str) {
        if let Some(i) = MapError::REASONS.iter().position(|r| *r == reason) {
            self.dead_letters[i].fetch_add(1, Relaxed);
        }
    }

    /// Remembers an error for the status page and the health reason (the last 10 are kept).
    pub fn error(&self, message: String) {
        let mut errors = self.errors.lock().expect("metrics lock poisoned");
        errors.push_back((chrono::Utc::now().timestamp_millis(), message));
        while errors.len() > 10 {
            errors.pop_front();
        }
    }

    /// Books an input position found invalid: kept for /healthz, the status page and the counters.
    pub fn position_event(&self, event: PositionEvent) {
        {
            let mut counts = self.position_counts.lock().expect("metrics lock poisoned");
            let c = counts.entry((event.topic.clone(), event.partition, event.kind)).or_default();
            c.0 += 1;
            c.1 += event.lost;
        }
        let mut events = self.position_events.lock().expect("metrics lock poisoned");
        events.push_back(event);
        while events.len() > 20 {
            events.pop_front();
        }
    }

    /// Health: down while an input partition is stopped at a batch it cannot read, or the last successful round
    /// is older than `max_age`; degraded while an input position found invalid within [`DEGRADED_FOR`] was moved
    /// (working, but look); otherwise ok.
    pub fn health(&self, max_age: Duration) -> Health {
        let stopped: Vec<String> = self
            .partitions
            .lock()
            .expect("metrics lock poisoned")
            .values()
            .filter_map(|g| g.unreadable.clone())
            .collect();
        if !stopped.is_empty() {
            return Health::Down(stopped.join("; "));
        }
        let stale = |age: Duration| {
            let last_error = self.errors.lock().expect("metrics lock poisoned").back().map(|e| e.1.clone());
            format!(
                "no successful round for {:.1} s (a server unreachable or slow?); last error: {}",
                age.as_secs_f64(),
                last_error.as_deref().unwrap_or("none yet")
            )
        };
        let last = self.last_ok_ms.load(Relaxed);
        let health = Health::from_last_success(last, max_age, "starting: not connected to Kafka yet", stale);
        if health != Health::Ok {
            return health;
        }
        let now = chrono::Utc::now().timestamp_millis();
        let events = self.position_events.lock().expect("metrics lock poisoned");
        let recent: Vec<_> =
            events.iter().filter(|e| now - e.t <= DEGRADED_FOR.as_millis() as i64).map(|e| &e.message).collect();
        match recent.last() {
            None => Health::Ok,
            Some(latest) => Health::Degraded(format!(
                "degraded: {} input position(s) found invalid in the last {} min and moved; latest: {latest}",
                recent.len(),
                DEGRADED_FOR.as_secs() / 60,
            )),
        }
    }

    /// Marks input partition `id` as stopped at an unreadable batch (`Some(why)`) or reading again (`None`).
    pub fn set_unreadable(&self, id: (String, i32), why: Option<String>) {
        self.partitions.lock().expect("metrics lock poisoned").entry(id).or_default().unreadable = why;
    }

    /// Appends a sample to the history.
    pub fn sample(&self) {
        let mut topics = BTreeMap::new();
        for ((topic, _), g) in self.partitions.lock().expect("metrics lock poisoned").iter() {
            *topics.entry(topic.clone()).or_insert(0) += g.records;
        }
        let sample = Sample {
            t: chrono::Utc::now().timestamp_millis(),
            topics,
            out: self.records_out.load(Relaxed),
            dead: self.dead_letters_total(),
        };
        let mut h = self.history.lock().expect("metrics lock poisoned");
        h.push_back(sample);
        while h.len() > HISTORY {
            h.pop_front();
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
        let mut e = Exposition::new();
        e.counters(&[
            ("transformer_records_in_total", "Raw records read and handled.", &self.records_in),
            ("transformer_bytes_in_total", "Bytes of raw record values read.", &self.bytes_in),
            ("transformer_records_out_total", "Unified records written and acknowledged.", &self.records_out),
            ("transformer_bytes_out_total", "Bytes of unified records written and acknowledged.", &self.bytes_out),
            (
                "transformer_records_skipped_total",
                "Records not written again at recovery because they were already in the output.",
                &self.records_skipped,
            ),
            (
                "transformer_records_dropped_total",
                "Rows dropped for a NULL in a NOT NULL column (the job's 'table.exec.sink.not-null-enforcer' = 'DROP').",
                &self.records_dropped,
            ),
            ("transformer_commits_total", "Offset checkpoints committed.", &self.commits),
            (
                "transformer_round_errors_total",
                "Rounds that failed and were retried from the last commit.",
                &self.round_errors,
            ),
            (
                "transformer_recoveries_total",
                "Recoveries from the last checkpoint, the first start included.",
                &self.recoveries,
            ),
        ]);
        if let Some(g) = self.group.lock().expect("metrics lock poisoned").as_ref() {
            e.counters(&[
                (
                    "transformer_group_rebalances_total",
                    "Consumer-group generations joined (--assignment group), the first included.",
                    &self.group_rebalances,
                ),
                (
                    "transformer_group_fenced_records_total",
                    "Records written in a round whose commit the group refused (this member had been replaced); \
                     their partitions' new owners may write them again.",
                    &self.group_fenced_records,
                ),
            ]);
            let name = "transformer_group_generation";
            e.family(name, Kind::Gauge, "The consumer-group generation this member joined.").sample(
                name,
                &[("group", &g.group), ("member", &g.member_id)],
                g.generation,
            );
            let name = "transformer_group_assigned_partitions";
            e.family(name, Kind::Gauge, "Input partitions the group assigned this member.").sample(
                name,
                &[("group", &g.group)],
                g.assignment.len(),
            );
        }
        let name = "transformer_dead_letters_total";
        e.family(name, Kind::Counter, "Records sent to the dead-letter topic.");
        for (reason, c) in MapError::REASONS.iter().zip(&self.dead_letters) {
            e.sample(name, &[("reason", reason)], c.load(Relaxed));
        }
        e.histogram(
            "transformer_produce_duration_seconds",
            "Produce of a round's outputs until acknowledged.",
            &self.produce_latency,
        )
        .histogram(
            "transformer_commit_duration_seconds",
            "Append of a checkpoint until acknowledged.",
            &self.commit_latency,
        )
        .gauge(
            "transformer_last_success_timestamp_seconds",
            "When the last round succeeded.",
            self.last_ok_ms.load(Relaxed) as f64 / 1e3,
        )
        .gauge(
            "transformer_start_time_seconds",
            "When the process started (a change means a restart).",
            self.started_ms.load(Relaxed) as f64 / 1e3,
        );
        {
            let counts = self.position_counts.lock().expect("metrics lock poisoned");
            for (name, help, f) in [
                (
                    "transformer_offset_resets_total",
                    "Input positions found invalid and moved to the log start (kind: past_end = topic recreated \
                     or truncated, before_log_start = retention deleted unread records).",
                    (|c: &(u64, u64)| c.0) as fn(&(u64, u64)) -> u64,
                ),
                (
                    "transformer_records_lost_to_retention_total",
                    "Input records deleted by retention before they were read.",
                    |c| c.1,
                ),
            ] {
                e.family(name, Kind::Counter, help);
                for ((topic, partition, kind), c) in counts.iter() {
                    e.sample(name, &[("topic", topic), ("partition", partition), ("kind", kind)], f(c));
                }
            }
        }
        let parts = self.partitions.lock().expect("metrics lock poisoned");
        let name = "transformer_partition_records_total";
        e.family(name, Kind::Counter, "Records handled per input partition.");
        for ((topic, partition), g) in parts.iter() {
            e.sample(name, &[("topic", topic), ("partition", partition)], g.records);
        }
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
            (
                "transformer_partition_unreadable",
                "1 while the input partition is stopped at a record batch that cannot be read (the log and /healthz \
                 say which offset and why), else 0.",
                |g| i64::from(g.unreadable.is_some()),
            ),
        ] {
            e.family(name, Kind::Gauge, help);
            for ((topic, partition), g) in parts.iter() {
                e.sample(name, &[("topic", topic), ("partition", partition)], f(g));
            }
        }
        e.finish()
    }
}
