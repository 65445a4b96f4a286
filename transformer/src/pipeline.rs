//! The loop: fetch from every owned input partition → map ([`prepare`]) → produce outputs and dead letters → wait
//! for acks → commit a checkpoint → advance. Offsets move only after the commit, so a crash anywhere replays at
//! most the round in flight; [`Pipeline::recover`] then scans what that round already wrote and skips it.
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
//! Why one round at a time: overlapping the next round's fetch and mapping with this round's produce was tried and
//! measured no faster (BENCHMARKS.md): the transformer is CPU-bound on one thread, and a second thread that maps
//! contends with it for the allocator's lock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rskafka::client::Client;
use rskafka::record::RecordAndOffset;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::batch::{prepare, Batch, Layout};
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, OffsetStore};
use crate::config::{Assignment, Config, OnOffsetOutOfRange};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, PositionEvent};
use crate::positions::Positions;
use crate::ranges::OffsetRanges;
use crate::sink::Sink;
use crate::source::{self, open_inputs, open_partitions, Fetched, Input, PositionProblem};

/// A running transformer instance, writing to the sink `S`, committing its positions to the store `O`.
pub struct Pipeline<S, O = Positions> {
    cfg: Config,
    /// The Kafka client the inputs are opened with (again after a group rebalance).
    client: Arc<Client>,
    /// The inputs as the mapping sees them.
    layout: Layout,
    inputs: Vec<Input>,
    sink: S,
    store: O,
    /// The last committed checkpoint (what a restart would resume from).
    checkpoint: Checkpoint,
    /// Per input index: offsets already written before the last crash, not written again.
    skips: Vec<OffsetRanges>,
    /// Per input index: an invalid position found and not yet moved (see [`Pipeline::apply_pending`]).
    pending: Vec<Option<PositionProblem>>,
    /// Per input index: stopped at a record batch that cannot be read (see [`Unreadable`]).
    unreadable: Vec<Option<Unreadable>>,
    /// Rounds run, for taking partitions in turn when a round's budget cuts records off.
    rounds: usize,
    /// Per input partition: the last invalid position reported, and its kind (see [`Pipeline::found_invalid`]).
    reported: BTreeMap<(String, i32), (i64, &'static str)>,
    metrics: Arc<Metrics>,
    /// Recent rounds as (records in, dead letters), oldest first, covering about `--dead-letter-window` records.
    recent: VecDeque<(u64, u64)>,
}

impl<S: Sink> Pipeline<S, Positions> {
    /// Connects, creates topics if asked, opens the owned partitions and recovers from the last checkpoint.
    /// Returns `None` with `--init`, once the topics exist.
    pub async fn start(cfg: Config, metrics: Arc<Metrics>) -> Result<Option<Self>> {
        // The TLS and SASL settings, read once for both clients.
        let security = cfg.security()?;
        let client =
            runtime::kafka::connect(&cfg.brokers, &security, cfg.connect_timeout(), cfg.request_timeout()).await?;
        if cfg.create_topics {
            let outputs = cfg.output_topics();
            let mut topics: Vec<(&str, i32)> =
                cfg.input_topics.iter().map(|t| (t.as_str(), cfg.topic_partitions)).collect();
            if cfg.sink == crate::config::SinkKind::Kafka {
                topics.extend(outputs.iter().map(|t| (t.as_str(), cfg.topic_partitions)));
                topics.push((&cfg.dead_letter_topic, cfg.topic_partitions));
            }
            topics.push((&cfg.checkpoint_topic, 1));
            runtime::kafka::ensure_topics(&client, &topics).await?;
        }
        if cfg.init {
            info!("topics ready (--init): exiting");
            return Ok(None);
        }
        let client = Arc::new(client);
        let sink = S::open(&cfg, &security).await?;
        let log = runtime::kafka::partition_client(&client, &cfg.checkpoint_topic, 0).await?;
        let (store, inputs) = match cfg.assignment() {
            Assignment::Static => {
                (Positions::Topic(CheckpointStore::new(log, cfg.checkpoint_key())), open_inputs(&client, &cfg).await?)
            }
            Assignment::Group => {
                let log = CheckpointStore::new(log, format!("{}/group", cfg.group));
                // The partitions come with the first join, below.
                let group =
                    crate::group::GroupStore::new(&cfg, &security, Arc::clone(&client), log, Arc::clone(&metrics));
                (Positions::Group(Box::new(group)), Vec::new())
            }
        };
        let layout = Layout::new(
            cfg.plan(),
            inputs.iter().map(Input::id).collect(),
            cfg.given.contains("input_topics"),
            cfg.max_record_bytes,
            cfg.dead_letter_max_raw,
        );
        info!(sink = sink.name(), "writing to {}", sink.name());
        let mut p = Self {
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
            rounds: 0,
            reported: BTreeMap::new(),
            metrics,
            recent: VecDeque::new(),
        };
        // Join the group (if any) and recover. A server that fails meanwhile (a broker restarting while a group
        // settles, which takes seconds) is retried like a connect, for --connect-timeout-secs; what retrying cannot
        // fix (a checkpoint that does not decode, a ClickHouse table of another shape) stops the start at once.
        let (started, wait) = (Instant::now(), p.cfg.connect_timeout());
        let mut backoff = runtime::retry::Backoff::default();
        loop {
            let Err(e) = p.resync().await else { break };
            let bad = matches!(&e, Error::Store(s) if matches!(**s, CheckpointError::Bad { .. }));
            if bad || e.stops() || (!wait.is_zero() && started.elapsed() >= wait) {
                return Err(e);
            }
            p.metrics.error(format!("starting: {e:#}"));
            warn!(error = %format!("{e:#}"), "starting: recovery failed; retrying with backoff");
            tokio::time::sleep(backoff.next_delay()).await;
        }
        Ok(Some(p))
    }
}

impl<S: Sink, O: OffsetStore> Pipeline<S, O> {
    /// Runs rounds until `stop` turns true; the round in flight finishes and commits first.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> Result<()> {
        let stats_every = Duration::from_secs(self.cfg.stats_interval_secs);
        let mut last_stats = (Instant::now(), 0u64);
        // Failed rounds and recoveries are retried 1 s later, then 2, 4, 5, 5, ... s while the server stays away.
        let mut backoff = runtime::retry::Backoff::default();
        while !*stop.borrow() {
            let result = match self.follow_rebalance().await {
                Ok(_) => self.round().await,
                Err(e) => Err(e),
            };
            if result.is_ok() {
                self.metrics.last_ok_ms.store(chrono::Utc::now().timestamp_millis(), Relaxed);
                backoff.reset();
            }
            if let Err(e) = result {
                if e.stops() {
                    return Err(e);
                }
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
                && self.skips.iter().all(OffsetRanges::is_empty)
                && self.pending.iter().all(Option::is_none)
            {
                let m = &self.metrics;
                info!(
                    records_in = m.records_in.load(Relaxed),
                    records_out = m.records_out.load(Relaxed),
                    bytes_in = m.bytes_in.load(Relaxed),
                    bytes_out = m.bytes_out.load(Relaxed),
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

    /// Recovers: through a rebalance when the group has one due (it recovers the partitions it deals), otherwise
    /// the partitions we have.
    async fn resync(&mut self) -> Result<()> {
        if !self.follow_rebalance().await? {
            self.recover().await?;
        }
        Ok(())
    }

    /// When the consumer group rebalances: takes part, opens the partitions now ours and recovers them (what
    /// their previous owner wrote after its last commit is found and skipped). `true` when it did.
    async fn follow_rebalance(&mut self) -> Result<bool> {
        if !self.store.rebalance_due() {
            return Ok(false);
        }
        let Some(parts) = self.store.rebalance().await? else { return Ok(false) };
        self.inputs = open_partitions(&self.client, &parts).await?;
        self.layout.set_inputs(self.inputs.iter().map(Input::id).collect());
        self.pending.clear();
        self.unreadable.clear();
        self.skips.clear();
        let owned: std::collections::BTreeSet<_> = self.layout.inputs.iter().cloned().collect();
        self.metrics.partitions.lock().expect("metrics lock poisoned").retain(|k, _| owned.contains(k));
        self.recover().await?;
        Ok(true)
    }

    /// Loads the newest checkpoint (or, with none of ours, the group's positions under other keys), sets every
    /// input to its committed position (a partition the checkpoint does not know starts at its log start), checks
    /// each position against the broker, and scans both outputs from the checkpoint's marks for records this
    /// instance wrote after its last commit, so they are skipped rather than written twice.
    pub async fn recover(&mut self) -> Result<()> {
        let started = Instant::now();
        self.metrics.recoveries.fetch_add(1, Relaxed);
        let keys: Vec<String> = self.inputs.iter().map(Input::key).collect();
        let (cp, ours) = match self.store.load().await? {
            Some(cp) => (Some(cp), true),
            None => match self.store.adopt(&self.cfg.group, &keys).await? {
                Some(a) => {
                    info!(
                        from_keys = ?a.keys,
                        partitions = a.next_offsets.len(),
                        "no checkpoint under our key: taking the positions this group committed under other keys \
                         (--instances changed?) and scanning from their marks"
                    );
                    (
                        Some(Checkpoint {
                            next_offsets: a.next_offsets,
                            output_marks: a.output_marks,
                            ..Default::default()
                        }),
                        false,
                    )
                }
                None => {
                    info!(
                        key = OffsetStore::key(&self.store),
                        start_at = ?self.cfg.start_at,
                        "no checkpoint yet: every partition starts where --start-at says, and no output is scanned \
                         (a transformer commits a checkpoint before its first write, so nothing of ours is there)"
                    );
                    (None, false)
                }
            },
        };
        let committed = cp.clone().unwrap_or_default();
        for input in &mut self.inputs {
            input.next_offset = match committed.next_offsets.get(&input.key()) {
                Some(&o) => o,
                None => source::offset_at(&input.client, self.cfg.start_at).await?,
            };
        }
        self.pending = vec![None; self.inputs.len()];
        self.unreadable.resize(self.inputs.len(), None);
        self.skips = vec![OffsetRanges::default(); self.inputs.len()];
        for idx in 0..self.inputs.len() {
            if let Some(problem) = source::check_position(&mut self.inputs[idx]).await? {
                self.found_invalid(idx, problem)?;
            } else if let Some(&position) = committed.gone.get(&self.inputs[idx].key()) {
                let (log_start, _) = runtime::kafka::bounds(&self.inputs[idx].client).await?;
                self.inputs[idx].next_offset = position;
                self.found_invalid(idx, PositionProblem::Gone { position, log_start })?;
            }
        }
        let found = self.sink.recover(cp.as_ref(), &self.inputs).await?;
        let scanned = found.scanned;
        self.skips = found.skips;
        for idx in 0..self.inputs.len() {
            self.forget_skips(idx);
            // A store that commits every position before the first write (a group) has written nothing of a
            // partition it holds no position for: what the scan found there belongs to a deleted topic of the same
            // name (deleting a topic deletes the group's offsets with it).
            if self.store.commits_at_recovery() && !committed.next_offsets.contains_key(&self.inputs[idx].key()) {
                self.skips[idx].clear();
            }
        }
        // Positions moved back, or (a group) partitions that may have just come here: committed behind a barrier,
        // with their marks first (see commit_moves).
        let behind_barrier = !self.apply_pending().is_empty() || self.store.commits_at_recovery();
        if behind_barrier {
            self.sink.barrier();
        }
        self.checkpoint = self.checkpoint_at(self.inputs.iter().map(|i| (i.key(), i.next_offset)).collect());
        if !ours || behind_barrier {
            if behind_barrier {
                // Nothing is written yet: these marks lie past every record of a deleted topic of the same name.
                self.store.marks_first(&self.checkpoint).await?;
            }
            self.store.commit(&self.checkpoint).await?;
            debug!("committed the recovered positions before any write");
        }
        self.publish_gauges();
        info!(
            inputs = self.inputs.len(),
            scanned,
            already_written = self.skips.iter().map(OffsetRanges::len).sum::<u64>(),
            skip_ranges = self.skips.iter().map(OffsetRanges::range_count).sum::<usize>(),
            positions = ?self.checkpoint.next_offsets,
            peak_rss_kb = peak_rss_kb(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "recovered from the last checkpoint"
        );
        Ok(())
    }

    /// An input position found invalid: stop (`--on-offset-out-of-range fail`, an [`Error::Fatal`]), or say so out
    /// loud and remember it for [`Pipeline::apply_pending`].
    fn found_invalid(&mut self, idx: usize, problem: PositionProblem) -> Result<()> {
        let (topic, partition) = self.inputs[idx].id();
        if self.cfg.on_offset_out_of_range == OnOffsetOutOfRange::Fail {
            return Err(Error::Fatal(format!(
                "input {topic}/{partition}: {problem}. Stopped (--on-offset-out-of-range fail): move on with \
                 `transformer offsets reset --to earliest` (or another position), or run with \
                 --on-offset-out-of-range earliest"
            )));
        }
        let (from, to, lost) = (self.inputs[idx].next_offset, problem.resume_at(), problem.lost());
        // The same position found invalid again before the move was committed (a failed round's recovery checks
        // every position anew) is one event, not two.
        if self.reported.insert((topic.clone(), partition), (from, problem.kind())) == Some((from, problem.kind())) {
            self.pending[idx] = Some(problem);
            self.forget_skips(idx);
            return Ok(());
        }
        let message = format!("{topic}/{partition}: {problem}; resuming at the log start, offset {to}");
        error!(topic, partition, kind = problem.kind(), from, to, lost, "{message}");
        self.metrics.error(message.clone());
        self.metrics.position_event(PositionEvent {
            t: chrono::Utc::now().timestamp_millis(),
            topic,
            partition,
            kind: problem.kind(),
            from,
            to,
            lost,
            message,
        });
        self.pending[idx] = Some(problem);
        self.forget_skips(idx);
        Ok(())
    }

    /// Drops what recovery found for an input whose position is invalid: in a recreated topic the same offsets
    /// name other records; after retention, the records below the log start are gone.
    fn forget_skips(&mut self, idx: usize) {
        match (self.pending[idx], self.skips.get_mut(idx)) {
            (Some(PositionProblem::PastEnd { .. } | PositionProblem::Gone { .. }), Some(s)) => {
                s.clear();
            }
            (Some(p @ PositionProblem::BeforeLogStart { .. }), Some(s)) => {
                s.remove_below(p.resume_at());
            }
            _ => {}
        }
    }

    /// Moves the inputs with an invalid position to their log start; returns their indexes. A recreated topic's
    /// move waits until no other input has records ahead that recovery found: until then the committed marks
    /// stay where the recovery scan started, and a scan from there would take the old topic's records for the
    /// new one's. Meanwhile that input is not read (its position is past the end anyway).
    fn apply_pending(&mut self) -> Vec<usize> {
        let mut moved = Vec::new();
        for idx in 0..self.inputs.len() {
            let Some(problem) = self.pending[idx] else { continue };
            let others_clear = self.skips.iter().enumerate().all(|(j, s)| j == idx || s.is_empty());
            if matches!(problem, PositionProblem::PastEnd { .. } | PositionProblem::Gone { .. }) && !others_clear {
                continue;
            }
            self.inputs[idx].next_offset = problem.resume_at();
            self.pending[idx] = None;
            moved.push(idx);
        }
        moved
    }

    /// The output marks to commit: where the recovery scan started while records it found are still ahead
    /// (a crash now must find them again), otherwise the ends of our writes.
    fn marks(&self) -> BTreeMap<String, i64> {
        self.sink.marks(!self.skips.iter().all(OffsetRanges::is_empty))
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
                return self.commit_moves(&moved).await;
            }
        }
        if self.inputs.is_empty() {
            // A group member with no partition (more members than partitions): it waits for a rebalance.
            tokio::time::sleep(Duration::from_millis(self.cfg.fetch_max_wait_ms.max(1) as u64)).await;
            return Ok(());
        }
        let (max_bytes, max_wait) = (self.cfg.partition_fetch_bytes(self.inputs.len()), self.cfg.fetch_max_wait_ms);
        let mut fetched = Vec::with_capacity(self.inputs.len());
        let now = Instant::now();
        let drain = self.cfg.drain;
        let fetches = self.inputs.iter_mut().zip(&self.pending).zip(&self.unreadable).map(
            |((input, pending), unreadable)| async move {
                if pending.is_some() || unreadable.as_ref().is_some_and(|u| now < u.retry_at) {
                    return None; // waits for apply_pending, or for the next try of an unreadable batch
                }
                if drain && input.next_offset >= input.high_watermark {
                    // Drained: a fetch would only wait --fetch-max-wait-ms for nothing, and hold the round that
                    // long while other partitions still have a backlog.
                    return None;
                }
                Some(match source::fetch(input, max_bytes, max_wait).await {
                    // Read up to the bad batch: the first batch alone may still be fine.
                    Err(e) if source::is_unreadable(&e) => source::fetch_one_batch(input, max_wait).await,
                    other => other,
                })
            },
        );
        let deadline = self.cfg.request_timeout() + Duration::from_millis(max_wait.max(0) as u64);
        for (idx, f) in within(deadline, "Kafka", "the fetch", join_all(fetches)).await?.into_iter().enumerate() {
            match f {
                None => fetched.push(Vec::new()),
                Some(Ok(Fetched::Records(records))) => {
                    self.readable_again(idx);
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
        self.rounds += 1;
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
        let produce_started = Instant::now();
        let (name, timeout) = (self.sink.name(), self.cfg.request_timeout());
        within(timeout, name, "the write", self.sink.write(out)).await??;
        self.metrics.produce_latency.observe(produce_started.elapsed());
        #[cfg(feature = "failpoints")]
        if self.cfg.crash_before_commit == Some(self.metrics.commits.load(Relaxed)) {
            error!("--crash-before-commit: aborting between produce and commit");
            std::process::abort();
        }
        #[cfg(feature = "failpoints")]
        if let Some(ms) = self.cfg.delay_before_commit_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let mut cp = self.checkpoint_at(self.checkpoint.next_offsets.clone());
        for (input, n) in self.inputs.iter().zip(&batch.next) {
            if let Some(n) = n {
                cp.next_offsets.insert(input.key(), *n);
            }
        }
        let commit_started = Instant::now();
        match within(self.cfg.request_timeout(), "Kafka", "the checkpoint commit", self.store.commit(&cp)).await? {
            Ok(()) => {}
            Err(e @ (CheckpointError::Fenced(_) | CheckpointError::Replaced(_))) => {
                let written = batch.records_out + batch.reasons.len() as u64;
                self.metrics.group_fenced_records.fetch_add(written, Relaxed);
                warn!(
                    written,
                    error = %e,
                    "fenced: this round was written but its commit refused; the partitions' new owners may write \
                     these records again (rejoining)"
                );
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
        self.metrics.commit_latency.observe(commit_started.elapsed());
        self.committed(batch, cp);
        Ok(())
    }

    /// Commits the positions [`Pipeline::apply_pending`] moved back, in a round of their own (nothing written): behind
    /// a barrier in the outputs ([`Sink::barrier`]), so no later recovery takes the old topic's records, which carry
    /// the same coordinates, for the new one's.
    async fn commit_moves(&mut self, moved: &[usize]) -> Result<()> {
        self.sink.barrier();
        let mut cp = self.checkpoint_at(self.checkpoint.next_offsets.clone());
        for &idx in moved {
            cp.next_offsets.insert(self.inputs[idx].key(), self.inputs[idx].next_offset);
        }
        let timeout = self.cfg.request_timeout();
        within(timeout, "Kafka", "the marks of a move", self.store.marks_first(&cp)).await??;
        within(timeout, "Kafka", "the checkpoint commit", self.store.commit(&cp)).await??;
        self.checkpoint = cp;
        self.publish_gauges();
        Ok(())
    }

    /// Stops input `idx` at its position: the record batch there cannot be read. The other partitions go on; this
    /// one is tried again every [`UNREADABLE_RETRY`], and /healthz, /metrics, the status page and the log say why.
    fn found_unreadable(&mut self, idx: usize, e: &rskafka::client::error::Error) {
        let input = &self.inputs[idx];
        let (topic, partition, offset) = (input.client.topic(), input.client.partition(), input.next_offset);
        let message = format!(
            "partition {topic}/{partition} stopped at offset {offset}: its record batch cannot be read ({e}); the \
             other partitions go on. It is tried again every {} s. To skip it, move the position past the batch: \
             `transformer offsets reset --partition {topic}/{partition} --to-offset N`, then restart",
            UNREADABLE_RETRY.as_secs()
        );
        match &self.unreadable[idx] {
            Some(u) if u.offset == offset => warn!(topic, partition, offset, error = %e, "still cannot be read"),
            _ => {
                error!(topic, partition, offset, error = %e, "partition stopped: a record batch cannot be read; the other partitions go on");
                self.metrics.error(message.clone());
            }
        }
        self.unreadable[idx] = Some(Unreadable { offset, retry_at: Instant::now() + UNREADABLE_RETRY });
        self.metrics.set_unreadable(input.id(), Some(message));
    }

    /// Input `idx` was read: if it had stopped at an unreadable batch, it goes on.
    fn readable_again(&mut self, idx: usize) {
        if let Some(u) = self.unreadable[idx].take() {
            let input = &self.inputs[idx];
            info!(
                topic = input.client.topic(),
                partition = input.client.partition(),
                offset = u.offset,
                "partition readable again; going on"
            );
            self.metrics.set_unreadable(input.id(), None);
        }
    }

    /// The partitions stopped at a batch they cannot read, as `topic/partition at offset N`.
    fn unreadable_partitions(&self) -> Vec<String> {
        self.inputs
            .iter()
            .zip(&self.unreadable)
            .filter_map(|(i, u)| u.as_ref().map(|u| format!("{} at offset {}", i.key(), u.offset)))
            .collect()
    }

    /// Books a committed round: only now do the offsets move; counters count.
    fn committed(&mut self, batch: Batch<()>, cp: Checkpoint) {
        for (input, n) in self.inputs.iter_mut().zip(&batch.next) {
            if let Some(n) = n {
                input.next_offset = *n;
            }
        }
        self.checkpoint = cp;
        let m = &self.metrics;
        m.records_in.fetch_add(batch.records_in, Relaxed);
        m.records_out.fetch_add(batch.records_out, Relaxed);
        m.records_skipped.fetch_add(batch.records_skipped, Relaxed);
        m.records_dropped.fetch_add(batch.records_dropped, Relaxed);
        m.bytes_in.fetch_add(batch.bytes_in, Relaxed);
        m.bytes_out.fetch_add(batch.bytes_out, Relaxed);
        m.commits.fetch_add(1, Relaxed);
        self.recent.push_back((batch.records_in, batch.reasons.len() as u64));
        {
            let mut parts = m.partitions.lock().expect("metrics lock poisoned");
            for (input, n) in self.inputs.iter().zip(&batch.handled) {
                parts.entry(input.id()).or_default().records += n;
            }
        }
        for r in &batch.reasons {
            m.dead_letter(r);
        }
        self.publish_gauges();
        debug!(records = batch.records_in, written = batch.records_out, skipped = batch.records_skipped, "committed");
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

/// Cuts `fetched` (records per input) to about `budget` bytes of values: a broker returns a producer's batch whole
/// however small the fetch size, so a round of large batches could hold far more than its share. Inputs are taken
/// in turn from `round % inputs`, each while the budget lasts (and always at least one record, so a round makes
/// progress); what is cut is fetched again next round, since positions only move past what a round wrote.
fn within_budget(fetched: &mut [Vec<RecordAndOffset>], budget: u64, round: usize) {
    let n = fetched.len();
    let mut used = 0u64;
    for k in 0..n {
        let records = &mut fetched[(round + k) % n];
        let mut keep = 0;
        for r in records.iter() {
            let size = r.record.value.as_ref().map_or(0, |v| v.len() as u64);
            if used > 0 && used + size > budget {
                break;
            }
            used += size;
            keep += 1;
        }
        records.truncate(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(offsets: std::ops::Range<i64>, size: usize) -> Vec<RecordAndOffset> {
        offsets
            .map(|offset| RecordAndOffset {
                record: rskafka::record::Record {
                    key: None,
                    value: Some(vec![b'x'; size]),
                    headers: BTreeMap::new(),
                    timestamp: chrono::Utc::now(),
                },
                offset,
            })
            .collect()
    }

    #[test]
    fn a_round_takes_records_up_to_its_budget_in_turn() {
        let lens = |f: &[Vec<RecordAndOffset>]| f.iter().map(Vec::len).collect::<Vec<_>>();
        let mut f = vec![records(0..10, 100), records(0..10, 100), records(0..10, 100)];
        within_budget(&mut f, 1_500, 0);
        assert_eq!(lens(&f), [10, 5, 0], "the first input whole, the second while the budget lasts");
        let mut f = vec![records(0..10, 100), records(0..10, 100), records(0..10, 100)];
        within_budget(&mut f, 1_500, 1);
        assert_eq!(lens(&f), [0, 10, 5], "the next round starts with the next input");
        let mut f = vec![records(0..2, 5_000), records(0..1, 10)];
        within_budget(&mut f, 1_000, 0);
        assert_eq!(lens(&f), [1, 0], "always at least one record, however large");
        let mut f = vec![records(0..3, 10), records(0..3, 10)];
        within_budget(&mut f, 1 << 20, 5);
        assert_eq!(lens(&f), [3, 3], "under the budget nothing is cut");
    }
}

/// How often a partition stopped at an unreadable batch is tried again (a broker-side fault may clear).
const UNREADABLE_RETRY: Duration = Duration::from_secs(30);

/// Where an input partition stopped: the record batch at `offset` cannot be read.
#[derive(Debug, Clone)]
struct Unreadable {
    /// The position, where the unreadable batch is.
    offset: i64,
    /// When to try it again.
    retry_at: Instant,
}

/// The process's peak resident memory so far (VmHWM), in KiB; 0 where /proc is not there. Logged at the end of
/// recovery, so the memory a recovery scan takes is a measured figure (scripts/bench.sh).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
