//! Where a round's output goes: the seam between the loop (`pipeline/`) and its sinks.
//!
//! A sink does three things, and the loop needs nothing else from it:
//! - collect a round's mapped records in the form it writes them ([`Sink::round`], [`Collect`]);
//! - write a round and return only once everything is acknowledged ([`Sink::write`]);
//! - after a crash, find what it already holds past the committed positions, so nothing is written twice
//!   ([`Sink::recover`]).
//!
//! Implementations: [`job_sink::JobSink`] (each of the job's sinks to its Kafka topic or its ClickHouse table, dead
//! letters to their topic: the default job's `processed_events` is the original's architecture),
//! [`clickhouse::ClickHouseSink`] (`--sink clickhouse`: the default job straight into `events_processed` and
//! `dead_letters`), and an in-memory one for unit tests.

pub mod clickhouse;
pub mod job_sink;
pub mod kafka;
pub mod lost_checkpoints;
#[cfg(test)]
pub mod memory;
pub mod rowbinary;
pub mod tables;

use std::collections::BTreeMap;
use std::future::Future;

use contract::processed::DeadLetter;
use runtime::security::Security;

use job::{MapError, Row};

use crate::checkpoint::Checkpoint;
use crate::config::Config;
use crate::error::Result;
use crate::ranges::Written;
use crate::source::{Input, Source};

pub use runtime::kafka::MAX_REQUEST_BYTES;

/// A round's output, collected in the form its sink writes.
pub trait Collect {
    /// Adds `row` for the job's sink number `sink`, mapped from the record at `src`; returns its size as written,
    /// or why the sink cannot take it (then the row becomes a dead letter instead).
    fn row(&mut self, sink: usize, row: Row<'_>, src: Source<'_>) -> Result<u64, MapError>;
    /// Adds a dead letter.
    fn dead_letter(&mut self, letter: &DeadLetter);
}

/// What a sink found it already holds after the last commit.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Per input index: per output (the job's sinks by index, then the dead letters), offsets past the committed
    /// position already written there, not to write again.
    pub skips: Vec<Written>,
    /// Output records (or rows) looked at to find them.
    pub scanned: u64,
}

/// An output of the pipeline. See the module documentation.
pub trait Sink: Send + Sized + 'static {
    /// A round's output being collected.
    type Round: Collect + Send;

    /// Connects and checks what the sink needs (topics, tables). Errors say what to do.
    fn open(cfg: &Config, security: &Security) -> impl Future<Output = Result<Self>> + Send;

    /// What it writes to, for logs and messages: `Kafka` or `ClickHouse`.
    fn name(&self) -> &'static str;

    /// An empty round, stamped `now` (record timestamps, `failed_at`, `inserted_at`).
    fn round(&self, now: chrono::DateTime<chrono::Utc>) -> Self::Round;

    /// Writes `round`; returns once every part of it is acknowledged. An error may leave part of it written:
    /// the loop then recovers ([`Sink::recover`]) before writing anything again.
    fn write(&mut self, round: Self::Round) -> impl Future<Output = Result<()>> + Send;

    /// Finds what this sink already holds for `inputs` at or past their positions (`next_offset`, just set from
    /// `committed`). `committed` is `None` when there is no checkpoint yet: a transformer commits one before its
    /// first write, so nothing of ours can be there.
    fn recover(
        &mut self,
        committed: Option<&Checkpoint>,
        inputs: &[Input],
    ) -> impl Future<Output = Result<Recovered>> + Send;

    /// With no checkpoint at all (lost ones), the checkpoint the sink's outputs say the last round would have
    /// committed for `inputs`, to recover from as if it had been ([`lost_checkpoints`]); `None` when they
    /// say nothing, and for sinks that find their positions otherwise.
    fn lost_checkpoint(&mut self, inputs: &[Input]) -> impl Future<Output = Result<Option<Checkpoint>>> + Send {
        let _ = inputs;
        async { Ok(None) }
    }

    /// The output marks to keep in the next checkpoint. `skips_ahead`: records that recovery found are still
    /// ahead of the positions (a crash now must find them again).
    fn marks(&self, skips_ahead: bool) -> BTreeMap<String, i64>;

    /// Marks strictly after everything written so far and at or before anything written from now on; the ends
    /// of our writes are such marks from then on. A position moved back (a recreated topic) is committed with
    /// these, so the old topic's records, with the same coordinates, fall before them. Kafka: the end offsets
    /// (already strict); ClickHouse: a second past the last `inserted_at`, which later rows are stamped with at least.
    fn barrier(&mut self) -> BTreeMap<String, i64> {
        self.marks(false)
    }
}
