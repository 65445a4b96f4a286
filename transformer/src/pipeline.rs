//! The loop: fetch from every owned input partition → map ([`prepare`]) → produce outputs and dead letters → wait
//! for acks → commit a checkpoint → advance. Offsets move only after the commit, so a crash anywhere replays at
//! most the round in flight; [`Pipeline::recover`] then scans what that round already wrote and skips it.
//!
//! Why one round at a time: overlapping the next round's fetch and mapping with this round's produce was tried and
//! measured no faster (BENCHMARKS.md): the transformer is CPU-bound on one thread, and a second thread that maps
//! contends with it for the allocator's lock.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rskafka::client::partition::OffsetAt;
use rskafka::client::Client;
use serde::Deserialize;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::batch::{prepare, Batch, Layout};
use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::sink::Sink;
use crate::source::{self, assign, bounds, read_range, tp_key, Input};

/// The source coordinates every output record carries (both unified records and dead letters).
#[derive(Deserialize)]
struct Coordinates {
    source_topic: String,
    source_partition: i32,
    source_offset: i64,
}

/// A running transformer instance.
pub struct Pipeline {
    cfg: Config,
    /// The inputs and outputs as the mapping sees them.
    layout: Layout,
    inputs: Vec<Input>,
    output: Sink,
    dead: Sink,
    store: CheckpointStore,
    /// The last committed checkpoint (what a restart would resume from).
    checkpoint: Checkpoint,
    /// `(input index, offset)` already written before the last crash: not written again.
    skip: HashSet<(usize, i64)>,
    metrics: Arc<Metrics>,
    /// Recent rounds as (records in, dead letters), oldest first, covering about `--dead-letter-window` records.
    recent: VecDeque<(u64, u64)>,
}

impl Pipeline {
    /// Connects, creates topics if asked, opens the owned partitions and recovers from the last checkpoint.
    /// Returns `None` with `--init`, once the topics exist.
    pub async fn start(cfg: Config, metrics: Arc<Metrics>) -> anyhow::Result<Option<Self>> {
        let client = schema::kafka::connect(&cfg.brokers, cfg.connect_timeout(), cfg.request_timeout()).await?;
        if cfg.create_topics {
            let mut topics: Vec<(&str, i32)> =
                cfg.input_topics.iter().map(|t| (t.as_str(), cfg.topic_partitions)).collect();
            topics.push((&cfg.output_topic, cfg.topic_partitions));
            topics.push((&cfg.dead_letter_topic, cfg.topic_partitions));
            topics.push((&cfg.checkpoint_topic, 1));
            schema::kafka::ensure_topics(&client, &topics).await?;
        }
        if cfg.init {
            info!("topics ready (--init): exiting");
            return Ok(None);
        }
        let inputs = open_inputs(&client, &cfg).await?;
        let compression = cfg.compression.into();
        let output = Sink::open(&client, &cfg.output_topic, compression).await?;
        let dead = Sink::open(&client, &cfg.dead_letter_topic, compression).await?;
        let store = CheckpointStore::new(
            schema::kafka::partition_client(&client, &cfg.checkpoint_topic, 0).await?,
            cfg.checkpoint_key(),
        );
        let layout = Layout {
            inputs: inputs.iter().map(Input::id).collect(),
            output_partitions: output.partitions.len(),
            dead_letter_partitions: dead.partitions.len(),
            max_record_bytes: cfg.max_record_bytes,
            dead_letter_max_raw: cfg.dead_letter_max_raw,
        };
        let mut p = Self {
            cfg,
            layout,
            inputs,
            output,
            dead,
            store,
            checkpoint: Checkpoint::default(),
            skip: HashSet::new(),
            metrics,
            recent: VecDeque::new(),
        };
        p.recover().await?;
        Ok(Some(p))
    }

    /// Runs rounds until `stop` turns true; the round in flight finishes and commits first.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let stats_every = Duration::from_secs(self.cfg.stats_interval_secs);
        let mut last_stats = (Instant::now(), 0u64);
        while !*stop.borrow() {
            let result = self.round().await;
            if result.is_ok() {
                self.metrics.last_ok_ms.store(chrono::Utc::now().timestamp_millis(), Relaxed);
            }
            if let Err(e) = result {
                self.metrics.round_errors.fetch_add(1, Relaxed);
                self.metrics.error(format!("round failed: {e:#}"));
                error!(error = %format!("{e:#}"), "round failed; retrying from the last commit");
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => return Ok(()),
                    }
                    match self.recover().await {
                        Ok(()) => break,
                        Err(e) => {
                            self.metrics.error(format!("recovery failed: {e:#}"));
                            warn!(error = %format!("{e:#}"), "recovery failed; retrying in 1 s")
                        }
                    }
                }
            }
            if let Some(share) = self.dead_letter_share_over_cap() {
                anyhow::bail!(
                    "{:.1}% of the last {} records were dead letters, over --max-dead-letter-ratio {}: stopped \
                     (everything so far is committed; look at the dead_letters topic, fix the input, restart)",
                    share * 100.0,
                    self.recent.iter().map(|r| r.0).sum::<u64>(),
                    self.cfg.max_dead_letter_ratio
                );
            }
            if self.cfg.drain && self.inputs.iter().all(|i| i.next_offset >= i.high_watermark) && self.skip.is_empty() {
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
        info!("stopped after committing the last round");
        Ok(())
    }

    /// Loads the newest checkpoint, sets every input to its committed offset (a partition the checkpoint does not
    /// know starts at its earliest record), and scans both outputs past the checkpoint's marks for records this
    /// instance wrote after its last commit, so they are skipped rather than written twice.
    pub async fn recover(&mut self) -> anyhow::Result<()> {
        self.metrics.recoveries.fetch_add(1, Relaxed);
        let cp = self.store.load().await?.unwrap_or_default();
        for input in &mut self.inputs {
            input.next_offset = match cp.next_offsets.get(&input.key()) {
                Some(&o) => o,
                None => input.client.get_offset(OffsetAt::Earliest).await?,
            };
        }
        self.skip.clear();
        let mut marks = BTreeMap::new();
        for client in self.output.partitions.iter().chain(&self.dead.partitions) {
            let key = tp_key(client.topic(), client.partition());
            let (low, high) = bounds(client).await?;
            let from = cp.output_marks.get(&key).copied().unwrap_or(low).max(low);
            for r in read_range(client, from, high).await? {
                let Some(value) = r.record.value.as_deref() else {
                    continue;
                };
                let Ok(c) = serde_json::from_slice::<Coordinates>(value) else {
                    continue;
                };
                let owned = self
                    .inputs
                    .iter()
                    .position(|i| i.client.partition() == c.source_partition && i.client.topic() == c.source_topic);
                if let Some(idx) = owned {
                    if c.source_offset >= self.inputs[idx].next_offset {
                        self.skip.insert((idx, c.source_offset));
                    }
                }
            }
            marks.insert(key, high);
        }
        self.checkpoint = Checkpoint {
            next_offsets: self.inputs.iter().map(|i| (i.key(), i.next_offset)).collect(),
            output_marks: marks,
        };
        self.publish_gauges();
        info!(
            inputs = self.inputs.len(),
            already_written = self.skip.len(),
            positions = ?self.checkpoint.next_offsets,
            "recovered from the last checkpoint"
        );
        Ok(())
    }

    /// One round. Nothing fetched: nothing to commit.
    async fn round(&mut self) -> anyhow::Result<()> {
        let (max_bytes, max_wait) = (self.cfg.fetch_max_bytes, self.cfg.fetch_max_wait_ms);
        let fetched = join_all(self.inputs.iter_mut().map(|i| source::fetch(i, max_bytes, max_wait))).await;
        let fetched = fetched.into_iter().collect::<Result<Vec<_>, _>>()?;
        let mut batch = prepare(&self.layout, fetched, &mut self.skip, chrono::Utc::now());
        if batch.is_empty() {
            self.publish_gauges(); // the high watermarks moved
            return Ok(());
        }

        let produce_started = Instant::now();
        let (out, letters) = (std::mem::take(&mut batch.out), std::mem::take(&mut batch.dead));
        let (out_marks, dead_marks) = tokio::try_join!(self.output.produce(out), self.dead.produce(letters))?;
        self.metrics.produce_latency.observe(produce_started.elapsed());
        if self.cfg.crash_before_commit == Some(self.metrics.commits.load(Relaxed)) {
            error!("--crash-before-commit: aborting between produce and commit");
            std::process::abort();
        }
        let mut cp = self.checkpoint.clone();
        cp.output_marks.extend(out_marks);
        cp.output_marks.extend(dead_marks);
        for (input, n) in self.inputs.iter().zip(&batch.next) {
            if let Some(n) = n {
                cp.next_offsets.insert(input.key(), *n);
            }
        }
        let commit_started = Instant::now();
        self.store.commit(&cp).await?;
        self.metrics.commit_latency.observe(commit_started.elapsed());
        self.committed(batch, cp);
        Ok(())
    }

    /// Books a committed round: only now do the offsets move; counters count.
    fn committed(&mut self, batch: Batch, cp: Checkpoint) {
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

/// Opens the input partitions this instance owns.
async fn open_inputs(client: &Client, cfg: &Config) -> anyhow::Result<Vec<Input>> {
    let mut all = Vec::new();
    for topic in &cfg.input_topics {
        for p in schema::kafka::partitions(client, topic).await? {
            all.push((topic.clone(), p));
        }
    }
    let mine = assign(&all, cfg.instance, cfg.instances);
    let mut inputs = Vec::with_capacity(mine.len());
    for (topic, p) in mine {
        let client = Arc::new(schema::kafka::partition_client(client, &topic, p).await?);
        inputs.push(Input { client, next_offset: 0, high_watermark: 0 });
    }
    info!(
        instance = cfg.instance,
        instances = cfg.instances,
        partitions = inputs.len(),
        of = all.len(),
        "assigned input partitions"
    );
    Ok(inputs)
}
