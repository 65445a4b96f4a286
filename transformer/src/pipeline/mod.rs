//! The loop: fetch from every owned input partition → map ([`prepare`]) → produce outputs and dead letters → wait
//! for acks → commit a checkpoint → advance. Offsets move only after the commit, so a crash anywhere replays at
//! most the round in flight; [`Pipeline::recover`] then scans what that round already wrote and skips it.
//!
//! The next round's fetch is on the wire while this round is written and committed (one thread, two requests in
//! flight: [`Pipeline::round`]). What it reads is only read: it is taken as the next round's input if, and only if,
//! the position it was asked at is the input's position once this round is committed; a failed write or commit
//! throws it away, and the recovery starts from the committed positions as before.
//!
//! Three rules keep "nothing lost, nothing doubled" true across any sequence of crashes:
//! - A checkpoint is committed before the first write (at the first start, and whenever positions are taken over
//!   from other keys), so everything this instance ever wrote and did not commit lies past a committed mark.
//!   Hence a start without a checkpoint scans nothing.
//! - While records found by the recovery scan are still ahead (`skips` not empty), every commit keeps the marks
//!   where that scan started ([`Pipeline::marks`]). A second crash before they are passed scans them again. We
//!   chose this over persisting the skipped ranges: the checkpoint format stays as it was, and the cost (rescanning
//!   one window after a kill pair) is bounded by what one round writes.
//! - An input position the broker no longer has is found by comparing it with the log start and high watermark
//!   ([`source::fetch`], [`source::check_position`]), never by trusting an error code, and handled out loud
//!   (`--on-offset-out-of-range`).
//!
//! Why the mapping stays on this thread: mapping the next round on a second thread while this one is produced was
//! tried and measured no faster (BENCHMARKS.md): the transformer is CPU-bound, and a second mapping thread contends
//! with it for the allocator's lock. Overlapping the I/O alone costs no CPU.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{join_all, select, Either};
use rskafka::client::Client;
use tokio::sync::watch;
use tracing::{error, info, warn};

mod budget;
mod commit;
mod discover;
mod gather;
mod invalid;
mod recover;
mod start;
#[cfg(test)]
mod tests;

use crate::batch::{prepare, Layout};
use crate::checkpoint::{Checkpoint, CheckpointError, OffsetStore};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::positions::Positions;
use crate::ranges::Written;
use crate::sink::Sink;
use crate::source::{self, Answer, Fetched, Input, PositionProblem};
use budget::{record_bytes, within_budget, within_count, FetchSize};
use invalid::Unreadable;

/// The next round's fetch: per input index, the answer and the position it asked at (`None`: not fetched ahead).
type Ahead = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Option<(i64, Answer)>>> + Send>>;

/// A running transformer instance, writing to the sink `S`, committing its positions to the store `O`.
pub struct Pipeline<S, O = Positions> {
    cfg: Config,
    /// The Kafka client the inputs are opened with (again after a group rebalance); `None` in the loop's tests,
    /// whose inputs are in memory.
    client: Option<Arc<Client>>,
    /// The inputs as the mapping sees them.
    layout: Layout,
    inputs: Vec<Input>,
    sink: S,
    store: O,
    /// The last committed checkpoint (what a restart would resume from).
    checkpoint: Checkpoint,
    /// Per input index: offsets already written before the last crash, not written again.
    skips: Vec<Written>,
    /// Per input index: an invalid position found and not yet moved (see [`Pipeline::apply_pending`]).
    pending: Vec<Option<PositionProblem>>,
    /// Per input index: stopped at a record batch that cannot be read (see [`Unreadable`]).
    unreadable: Vec<Option<Unreadable>>,
    /// The next round's fetch, sent while the last round was written (see [`Pipeline::round`]), and when it went
    /// out: the next round's flush interval counts from there (a record it brings may have waited since then).
    ahead: Option<(Ahead, Instant)>,
    /// Turns true when the loop is to stop (set by [`Pipeline::run`]): a round gathering records ends then.
    stop: Option<watch::Receiver<bool>>,
    /// Looking for new input partitions now and then (see `discover.rs`); `None`: never.
    discovery: Option<discover::Discovery>,
    /// Input partitions found while running: read from their first record when they have no position.
    new_partitions: std::collections::BTreeSet<String>,
    /// Rounds run, for taking partitions in turn when a round's budget cuts records off.
    rounds: usize,
    /// How much each partition's fetch asks for, learnt from the broker's answers.
    fetch_size: FetchSize,
    /// Per input partition: the last invalid position reported, and its kind (see [`Pipeline::found_invalid`]).
    reported: BTreeMap<(String, i32), (i64, &'static str)>,
    metrics: Arc<Metrics>,
    /// Recent rounds as (records in, dead letters), oldest first, covering about `--dead-letter-window` records.
    recent: VecDeque<(u64, u64)>,
}

impl<S: Sink, O: OffsetStore> Pipeline<S, O> {
    /// A pipeline of these parts, not yet recovered ([`Pipeline::recover`] comes next).
    fn assemble(
        cfg: Config,
        client: Option<Arc<Client>>,
        layout: Layout,
        inputs: Vec<Input>,
        sink: S,
        store: O,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            cfg,
            client,
            layout,
            inputs,
            sink,
            store,
            checkpoint: Checkpoint::default(),
            skips: Vec::new(),
            pending: Vec::new(),
            unreadable: Vec::new(),
            ahead: None,
            stop: None,
            discovery: None,
            new_partitions: Default::default(),
            rounds: 0,
            fetch_size: FetchSize::default(),
            reported: BTreeMap::new(),
            metrics,
            recent: VecDeque::new(),
        }
    }

    /// Runs rounds until `stop` turns true; the round in flight finishes and commits first.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<()> {
        let stats_every = Duration::from_secs(self.cfg.stats_interval_secs);
        let mut last_stats = (Instant::now(), 0u64);
        // Failed rounds and recoveries are retried 1 s later, then 2, 4, 5, 5, ... s while the server stays away.
        let mut backoff = runtime::retry::Backoff::default();
        // Failed rounds and recoveries since the last round that succeeded (`sink.max-retries`).
        let mut failures = 0u32;
        self.stop = Some(stop.clone());
        while !*stop.borrow() {
            if let Err(e) = self.discover().await {
                if e.stops() {
                    return Err(e);
                }
                warn!(error = %format!("{e:#}"), "looking for new input partitions failed; trying again later");
            }
            let result = match self.follow_rebalance().await {
                Ok(_) => self.round().await,
                Err(e) => Err(e),
            };
            if result.is_ok() {
                self.metrics.last_ok_ms.store(chrono::Utc::now().timestamp_millis(), Relaxed);
                backoff.reset();
                failures = 0;
            }
            if let Err(e) = result {
                if e.stops() {
                    return Err(e);
                }
                failures += 1;
                self.over_max_retries(failures, &e)?;
                self.metrics.round_errors.fetch_add(1, Relaxed);
                self.metrics.error(format!("round failed: {e:#}"));
                error!(error = %format!("{e:#}"), "round failed; retrying from the last commit");
                loop {
                    if !backoff.wait(&mut stop).await {
                        self.store.close().await;
                        return Ok(());
                    }
                    match self.resync().await {
                        Ok(()) => break,
                        Err(e) if e.stops() => return Err(e),
                        Err(e) => {
                            failures += 1;
                            self.over_max_retries(failures, &e)?;
                            self.metrics.error(format!("recovery failed: {e:#}"));
                            warn!(error = %format!("{e:#}"), "recovery failed; retrying with backoff")
                        }
                    }
                }
            }
            if let Some(share) = self.dead_letter_share_over_cap() {
                return Err(Error::Fatal(format!(
                    "{:.1}% of the last {} records were dead letters, over --max-dead-letter-ratio {}: stopped \
                     (everything so far is committed; look at the dead_letters topic, fix the input, restart)",
                    share * 100.0,
                    self.recent.iter().map(|r| r.0).sum::<u64>(),
                    self.cfg.max_dead_letter_ratio
                )));
            }
            if self.cfg.drain
                && self.unreadable.iter().any(Option::is_some)
                && self
                    .inputs
                    .iter()
                    .zip(&self.unreadable)
                    .all(|(i, u)| u.is_some() || i.next_offset >= i.high_watermark)
            {
                return Err(Error::Fatal(format!(
                    "--drain: not drained: {} cannot be read (a record batch that does not decode; the log and \
                     /metrics have the error); everything else is drained and committed",
                    self.unreadable_partitions().join(", ")
                )));
            }
            if self.cfg.drain
                && self.inputs.iter().all(|i| i.next_offset >= i.high_watermark)
                && self.skips.iter().all(Written::is_empty)
                && self.pending.iter().all(Option::is_none)
            {
                let m = &self.metrics;
                info!(
                    records_in = m.records_in.load(Relaxed),
                    records_out = m.records_out.load(Relaxed),
                    bytes_in = m.bytes_in.load(Relaxed),
                    bytes_out = m.bytes_out.load(Relaxed),
                    commits = m.commits.load(Relaxed),
                    "drained every input partition (--drain)"
                );
                break;
            }
            if !stats_every.is_zero() && last_stats.0.elapsed() >= stats_every {
                let n = self.metrics.records_in.load(Relaxed);
                let rate = (n - last_stats.1) as f64 / last_stats.0.elapsed().as_secs_f64();
                info!(
                    records_in = n,
                    records_out = self.metrics.records_out.load(Relaxed),
                    dead_letters = self.metrics.dead_letters_total(),
                    lag = self.metrics.total_lag(),
                    rate_per_s = rate.round(),
                    "throughput"
                );
                last_stats = (Instant::now(), n);
            }
        }
        self.store.close().await;
        info!("stopped after committing the last round");
        Ok(())
    }

    /// Stops the loop once `failures` in a row exceed `sink.max-retries` (when the job sets it).
    fn over_max_retries(&mut self, failures: u32, last: &Error) -> Result<()> {
        match self.cfg.max_retries() {
            Some(max) if failures > max => Err(Error::Fatal(format!(
                "{failures} failed rounds in a row, over the job's 'sink.max-retries' = '{max}': stopped (everything \
                 committed so far stays; a restart resumes from it). The last error: {last:#}"
            ))),
            _ => Ok(()),
        }
    }

    /// The output marks to commit: where the recovery scan started while records it found are still ahead
    /// (a crash now must find them again), otherwise the ends of our writes.
    fn marks(&self) -> BTreeMap<String, i64> {
        self.sink.marks(!self.skips.iter().all(Written::is_empty))
    }

    /// A checkpoint of `next_offsets` with the marks as they are now: [`Pipeline::marks`], and per input whether
    /// records found already written are still ahead of it (a group keeps marks per partition).
    fn checkpoint_at(&self, next_offsets: BTreeMap<String, i64>) -> Checkpoint {
        Checkpoint {
            next_offsets,
            output_marks: self.marks(),
            pinned: self.inputs.iter().zip(&self.skips).filter(|(_, s)| !s.is_empty()).map(|(i, _)| i.key()).collect(),
            ends: self.sink.marks(false),
            ..Default::default()
        }
    }

    /// One round. Nothing fetched: nothing to commit.
    async fn round(&mut self) -> Result<()> {
        if self.pending.iter().any(Option::is_some) {
            let moved = self.apply_pending();
            if !moved.is_empty() {
                self.ahead = None;
                return self.commit_moves(&moved).await;
            }
        }
        if self.inputs.is_empty() {
            // A group member with no partition (more members than partitions): it waits for a rebalance.
            tokio::time::sleep(Duration::from_millis(self.cfg.fetch_max_wait_ms.max(1) as u64)).await;
            return Ok(());
        }
        let share = self.cfg.partition_fetch_bytes(self.inputs.len());
        let (max_bytes, max_wait) = (self.fetch_size.ask(share, self.cfg.fetch_max_bytes), self.cfg.fetch_max_wait_ms);
        let mut fetched = Vec::with_capacity(self.inputs.len());
        let now = Instant::now();
        let drain = self.cfg.drain;
        // The answers to the fetch sent during the last round, waited for here if they are still on their way. The
        // round's first fetch went out then, or now: a `sink.flush-interval` counts from there, so that what the
        // last round's write took is not added to the interval.
        let (began, mut ahead) = match self.ahead.take() {
            Some((fetch, sent)) => (sent, fetch.await),
            None => (now, Vec::new()),
        };
        ahead.resize_with(self.inputs.len(), || None);
        // Per input: whether the round may fetch more of it (`sink.flush-interval`).
        let mut open = vec![false; self.inputs.len()];
        let fetches = self.inputs.iter_mut().zip(&self.pending).zip(&self.unreadable).zip(ahead).map(
            |(((input, pending), unreadable), ahead)| async move {
                if pending.is_some() || unreadable.as_ref().is_some_and(|u| now < u.retry_at) {
                    return None; // waits for apply_pending, or for the next try of an unreadable batch
                }
                if drain && input.next_offset >= input.high_watermark {
                    // Drained: a fetch would only wait --fetch-max-wait-ms for nothing, and hold the round that
                    // long while other partitions still have a backlog.
                    return None;
                }
                let answer = match ahead {
                    // Fetched while the last round was written, at the position that round committed.
                    Some((at, answer)) if at == input.next_offset => source::settle(input, answer).await,
                    _ => source::fetch(input, max_bytes, max_wait).await,
                };
                Some(match answer {
                    // Read up to the bad batch: the first batch alone may still be fine.
                    Err(e) if source::is_unreadable(&e) => source::fetch_one_batch(input, max_wait).await,
                    other => other,
                })
            },
        );
        let deadline = self.cfg.request_timeout() + Duration::from_millis(max_wait.max(0) as u64);
        let results = within(deadline, "Kafka", "the fetch", join_all(fetches)).await?;
        let mut answers = Vec::with_capacity(self.inputs.len());
        for (idx, f) in results.into_iter().enumerate() {
            match f {
                None => fetched.push(Vec::new()),
                Some(Ok(Fetched::Records(records))) => {
                    self.readable_again(idx);
                    open[idx] = true;
                    let more = records.last().is_some_and(|r| r.offset + 1 < self.inputs[idx].high_watermark);
                    answers.push((records.iter().map(record_bytes).sum::<u64>(), more));
                    fetched.push(records)
                }
                Some(Ok(Fetched::Invalid(problem))) => {
                    self.found_invalid(idx, problem)?;
                    fetched.push(Vec::new());
                }
                Some(Err(e)) if source::is_unreadable(&e) => {
                    self.found_unreadable(idx, &e);
                    fetched.push(Vec::new());
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
        self.fetch_size.learn(max_bytes, answers);
        self.gather(&mut fetched, open, began).await;
        self.rounds += 1;
        if let Some(max) = self.cfg.cadence().max_records {
            within_count(&mut fetched, max, self.rounds);
        }
        within_budget(&mut fetched, self.cfg.round_raw_bytes(), self.rounds);
        let now = chrono::Utc::now();
        let round = self.sink.round(now);
        let (out, batch) = prepare(&self.layout, fetched, &mut self.skips, round, now.timestamp_millis()).take_out();
        if batch.is_empty() {
            self.publish_gauges(); // the high watermarks moved
            return Ok(());
        }

        // A group member that may have been replaced does not write (see crate::group).
        self.store.may_write().map_err(CheckpointError::Fenced)?;
        // The next round's fetch goes out now, at the positions this round commits, and is answered while this
        // round is written and committed. It owns what it needs (the partition clients): it reads nothing of ours.
        // It asks for a round's share: the records it brings are held beside this round's output, and the memory
        // budget counts them (Config::round_raw_bytes).
        let next_fetches: Vec<_> = self
            .inputs
            .iter()
            .zip(&batch.next)
            .zip(&self.pending)
            .zip(&self.unreadable)
            .map(|(((input, next), pending), unreadable)| {
                let at = next.unwrap_or(input.next_offset);
                let wanted = pending.is_none() && unreadable.is_none() && !(drain && at >= input.high_watermark);
                let client = input.client.clone();
                async move {
                    if !wanted {
                        return None;
                    }
                    // A failed request is sent again by the next round, which then handles its error as ever.
                    source::request(&client, at, max_bytes, max_wait).await.ok().map(|records| (at, Ok(records)))
                }
            })
            .collect();
        // Bounded as this round's fetch was: a broker that does not answer leaves it to the next round to fail.
        let next: Ahead =
            Box::pin(async move { tokio::time::timeout(deadline, join_all(next_fetches)).await.unwrap_or_default() });
        let sent = Instant::now();
        // This round returns once its commit is acknowledged; a fetch still on its way is waited for by the next.
        let (committed, ahead) = match select(Box::pin(self.write_and_commit(out, batch)), next).await {
            Either::Left((committed, next)) => (committed, next),
            Either::Right((answers, write)) => (write.await, Box::pin(std::future::ready(answers)) as Ahead),
        };
        committed?;
        self.ahead = Some((ahead, sent));
        Ok(())
    }

    /// The dead-letter share of the recent window, when the cap is on, the window full, and the share over the cap.
    fn dead_letter_share_over_cap(&mut self) -> Option<f64> {
        let cap = self.cfg.max_dead_letter_ratio;
        let window = self.cfg.dead_letter_window;
        while self.recent.len() > 1 && self.recent.iter().skip(1).map(|r| r.0).sum::<u64>() >= window {
            self.recent.pop_front();
        }
        let (n, dead) = self.recent.iter().fold((0, 0), |(n, d), r| (n + r.0, d + r.1));
        (cap > 0.0 && n >= window && dead as f64 / n as f64 > cap).then(|| dead as f64 / n as f64)
    }

    fn publish_gauges(&self) {
        let mut parts = self.metrics.partitions.lock().expect("metrics lock poisoned");
        for i in &self.inputs {
            let g = parts.entry(i.id()).or_default();
            g.next_offset = i.next_offset;
            g.high_watermark = i.high_watermark.max(i.next_offset);
        }
    }
}

/// `fut`, or an error once `deadline` has passed without an answer. rskafka bounds only its retries, not a request:
/// without this, a broker that accepts connections but does not answer (frozen, overloaded, cut off by a network
/// that drops packets) would hang the round for good. A produce cut off this way may have landed; the recovery that
/// follows every failed round checks what did before anything is written again.
async fn within<T>(
    deadline: Duration,
    server: &'static str,
    what: &'static str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T> {
    tokio::time::timeout(deadline, fut).await.map_err(|_| Error::Timeout { server, what, waited: deadline })
}
