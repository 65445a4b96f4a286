//! The emitter: fake events into the three raw topics at a set rate.
//!
//! # Layout
//! - [`config`]: flags and environment variables (the original demo's names where it had them).
//! - [`generate`]: seeded, index-addressable fake events (and deliberately malformed ones).
//! - [`metrics`]: counters for `/metrics`, and `/healthz`.
//! - [`progress`]: committed progress and exact resume after a crash.
//! - [`run`]: the send loop — rate control, batching per partition, acknowledgements, progress, shutdown.

pub mod config;
pub mod generate;
pub mod metrics;
pub mod progress;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use rskafka::client::partition::{Compression, OffsetAt, PartitionClient};
use rskafka::record::Record;
use runtime::kafka::tp_key;
use tracing::{info, warn};

pub use config::Config;
use progress::Progress;

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Seed of the stream (the given one, or the random one chosen).
    pub seed: u64,
    /// Index of the first event sent.
    pub first_index: u64,
    /// Events sent (and acknowledged, unless acks=0).
    pub sent: u64,
    /// Of those, malformed on purpose.
    pub malformed: u64,
}

/// Why the emitter stopped (or did not start).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Flags that cannot work together ([`Config::validate`]); `main` exits 2.
    #[error("{0}")]
    Config(String),
    /// The TLS or SASL flags ([`runtime::security`]); `main` exits 2.
    #[error(transparent)]
    Security(#[from] runtime::security::SecurityError),
    /// The HTTP endpoints cannot listen.
    #[error("cannot listen on {addr}: {source} (set --http-addr / EMITTER_HTTP_ADDR, or off)")]
    Listen {
        /// `--http-addr`.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting, creating topics, the progress log, the partitions' bounds (boxed: it is large).
    #[error(transparent)]
    Kafka(Box<runtime::kafka::KafkaError>),
    /// One Kafka request.
    #[error("Kafka: {0}")]
    Request(Box<rskafka::client::error::Error>),
    /// `--resume` found progress it cannot use.
    #[error("{0}")]
    Resume(String),
    /// Writing `--list-ids` to standard output.
    #[error("writing the list: {0}")]
    Output(#[from] std::io::Error),
}

impl From<runtime::kafka::KafkaError> for Error {
    fn from(e: runtime::kafka::KafkaError) -> Self {
        Error::Kafka(Box::new(e))
    }
}

impl From<rskafka::client::error::Error> for Error {
    fn from(e: rskafka::client::error::Error) -> Self {
        Error::Request(Box::new(e))
    }
}

/// Sends events until `stop` completes or `--total` is reached. The batch in flight is finished first.
pub async fn run(cfg: Config, stop: impl Future<Output = ()> + Send + 'static) -> Result<Summary, Error> {
    cfg.validate()?;
    let seed = cfg.seed.unwrap_or_else(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64);
    if cfg.list_ids {
        return list_ids(&cfg, seed);
    }
    let stop = runtime::shutdown::flag(stop);
    let metrics = std::sync::Arc::new(metrics::Metrics::default());
    metrics.target_rate.store(cfg.messages_per_second, std::sync::atomic::Ordering::Relaxed);
    if cfg.http_addr != "off" {
        let (m, mut done) = (std::sync::Arc::clone(&metrics), stop.clone());
        runtime::http::serve(&cfg.http_addr, move |path| m.handle(path, Duration::from_secs(10)), async move {
            let _ = done.wait_for(|v| *v).await;
        })
        .await
        .map_err(|source| Error::Listen { addr: cfg.http_addr.clone(), source })?;
    }
    let request_timeout = Duration::from_secs(cfg.request_timeout_secs.max(1));
    let options =
        SendOptions { wait: cfg.wait_for_acks(), compression: cfg.compression.into(), deadline: request_timeout };
    let security = cfg.security.resolve()?;
    let connect = runtime::kafka::connect(
        &cfg.brokers,
        &security,
        Duration::from_secs(cfg.connect_timeout_secs),
        request_timeout,
    );
    let mut stopped = stop.clone();
    let client = tokio::select! {
        client = connect => client?,
        _ = stopped.wait_for(|v| *v) => {
            info!("stopped before the broker answered: nothing sent");
            return Ok(Summary { seed, first_index: 0, sent: 0, malformed: 0 });
        }
    };
    let topics = cfg.topics();
    let wanted: Vec<(&str, i32)> = topics.iter().map(|t| (t.as_str(), cfg.topic_partitions)).collect();
    runtime::kafka::ensure_topics(&client, &wanted).await?;
    // Raw records are produced through a client that never retries by itself: after a lost acknowledgement,
    // `send` first looks at what landed, and re-sends only the rest (rskafka has no idempotent producer).
    let producer = runtime::kafka::connect_without_retries(&cfg.brokers, &security).await?;
    let mut parts: Vec<Vec<Arc<PartitionClient>>> = Vec::new();
    for topic in &topics {
        let mut clients = Vec::new();
        for p in runtime::kafka::partitions(&client, topic).await? {
            clients.push(Arc::new(runtime::kafka::partition_client(&producer, topic, p).await?));
        }
        parts.push(clients);
    }
    runtime::kafka::ensure_topics(&client, &[(cfg.progress_topic.as_str(), 1)]).await?;
    let log = runtime::kafka::KeyedLog::new(
        runtime::kafka::partition_client(&client, &cfg.progress_topic, 0).await?,
        format!("{}{seed}", cfg.topic_prefix),
    );
    let generator = cfg.generator(seed);
    let (first_index, missing, mut marks) =
        if cfg.resume { resume(&cfg, &log, &parts, &generator).await? } else { (0, Vec::new(), ends(&parts).await?) };
    info!(seed, first_index, resent = missing.len(), rate = cfg.messages_per_second, total = cfg.total, "emitting");

    let started = Instant::now();
    let mut next = first_index;
    let (mut sent, mut malformed) = (0u64, 0u64);
    let mut last_progress = Instant::now();
    if !missing.is_empty() {
        let (batches, bad, _) = build(&generator, &parts, missing.iter().copied());
        malformed += bad;
        let Some(sent_marks) =
            send(&parts, batches, SendOptions { wait: true, ..options }, &metrics, &stop, &marks).await
        else {
            warn!("stopped while re-sending: the batch was not acknowledged (run with --resume to send it)");
            return Ok(Summary { seed, first_index, sent: 0, malformed: 0 });
        };
        marks.extend(sent_marks);
        info!(records = missing.len(), "re-sent the records a crash had cut from the last batch");
    }
    let mut last_stats = (Instant::now(), 0u64);
    loop {
        if *stop.borrow() || (cfg.total > 0 && next >= cfg.total) {
            break;
        }
        let due = if cfg.messages_per_second == 0 {
            cfg.batch_size
        } else {
            let target = (started.elapsed().as_secs_f64() * cfg.messages_per_second as f64) as u64;
            target.saturating_sub(sent).min(cfg.batch_size)
        };
        let due = if cfg.total > 0 { due.min(cfg.total - next) } else { due };
        if due == 0 {
            metrics.ok_now();
            tokio::time::sleep(cfg.linger()).await;
            continue;
        }

        let malformed_before = malformed;
        let (batches, bad, bytes) = build(&generator, &parts, next..next + due);
        malformed += bad;
        let n_batches = batches.len() as u64;
        let Some(sent_marks) = send(&parts, batches, options, &metrics, &stop, &marks).await else {
            warn!(next_index = next, "stopped while the broker was unreachable: the batch in flight was not acknowledged (--resume sends it)");
            break;
        };
        marks.extend(sent_marks);
        next += due;
        sent += due;
        if cfg.wait_for_acks() && last_progress.elapsed() >= Duration::from_secs(1) {
            log.append(&Progress { next_index: next, marks: marks.clone() }).await?;
            last_progress = Instant::now();
        }
        {
            use std::sync::atomic::Ordering::Relaxed;
            metrics.sent.fetch_add(due, Relaxed);
            metrics.malformed.fetch_add(malformed - malformed_before, Relaxed);
            metrics.bytes.fetch_add(bytes, Relaxed);
            metrics.batches.fetch_add(n_batches, Relaxed);
            metrics.ok_now();
        }

        let every = Duration::from_secs(cfg.stats_interval_secs.max(1));
        if last_stats.0.elapsed() >= every {
            let rate = (sent - last_stats.1) as f64 / last_stats.0.elapsed().as_secs_f64();
            metrics.actual_rate.store(rate.round() as u64, std::sync::atomic::Ordering::Relaxed);
            info!(
                sent,
                next_index = next,
                actual_rate_per_s = rate.round(),
                target_rate_per_s = cfg.messages_per_second,
                "progress"
            );
            last_stats = (Instant::now(), sent);
        }
    }
    if cfg.wait_for_acks() {
        log.append(&Progress { next_index: next, marks: marks.clone() }).await?;
    }
    let secs = started.elapsed().as_secs_f64();
    info!(sent, malformed, next_index = next, actual_rate_per_s = (sent as f64 / secs.max(1e-9)).round(), "done");
    Ok(Summary { seed, first_index, sent, malformed })
}

/// `--list-ids`: prints `index topic event_id|malformed` for each event of `[0, total)`.
fn list_ids(cfg: &Config, seed: u64) -> Result<Summary, Error> {
    use std::io::Write;
    let generator = cfg.generator(seed);
    let topics = cfg.topics();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut malformed = 0;
    for i in 0..cfg.total {
        let e = generator.event(i);
        let topic = &topics[e.topic];
        if e.malformed {
            malformed += 1;
            writeln!(out, "{i} {topic} malformed")?;
        } else {
            writeln!(out, "{i} {topic} {}", e.event_id(&topics))?;
        }
    }
    out.flush()?;
    Ok(Summary { seed, first_index: 0, sent: 0, malformed })
}

/// Produces every batch concurrently. With `wait`, retries (with backoff, logging each attempt) until all are
/// How [`send`] produces: whether to wait for acknowledgements (and retry), the codec, and the deadline of a
/// produce with no answer.
#[derive(Debug, Clone, Copy)]
struct SendOptions {
    wait: bool,
    compression: Compression,
    deadline: Duration,
}

/// acknowledged; a retried batch may land twice in the raw topic, which the stable event ids absorb downstream.
async fn send(
    parts: &[Vec<Arc<PartitionClient>>],
    batches: BTreeMap<(usize, usize), Vec<Record>>,
    options: SendOptions,
    metrics: &metrics::Metrics,
    stop: &tokio::sync::watch::Receiver<bool>,
    ends: &BTreeMap<String, i64>,
) -> Option<BTreeMap<String, i64>> {
    let SendOptions { wait, compression, deadline } = options;
    let jobs = batches.into_iter().map(|((t, p), records)| (Arc::clone(&parts[t][p]), records)).collect::<Vec<_>>();
    if !wait {
        for (client, records) in jobs {
            tokio::spawn(async move {
                if let Err(e) = runtime::kafka::produce_in_requests(&client, records, compression).await {
                    warn!(topic = client.topic(), partition = client.partition(), error = %e, "produce failed (acks=0: not retried)");
                }
            });
        }
        return Some(BTreeMap::new());
    }
    // Only the partitions whose produce failed are retried: re-sending an acknowledged one would write it twice.
    let (mut pending, mut marks, mut attempt) = (jobs, BTreeMap::new(), 0u32);
    let mut backoff = runtime::retry::Backoff::default();
    loop {
        attempt += 1;
        let results = futures::future::join_all(pending.iter().map(|(client, records)| async move {
            // A broker that accepts connections but does not answer (frozen, overloaded) would hang the send.
            match tokio::time::timeout(
                deadline,
                runtime::kafka::produce_in_requests(client, records.clone(), compression),
            )
            .await
            {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {} s (--request-timeout-secs)", deadline.as_secs())),
            }
        }))
        .await;
        let mut failed = Vec::new();
        let mut last_error = None;
        for ((client, records), result) in pending.into_iter().zip(results) {
            match result {
                Ok(offsets) => {
                    if let Some(last) = offsets.last() {
                        marks.insert(tp_key(client.topic(), client.partition()), last + 1);
                    }
                }
                Err(e) => {
                    last_error = Some(e);
                    failed.push((client, records));
                }
            }
        }
        let Some(e) = last_error else { return Some(marks) };
        metrics.produce_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        warn!(attempt, partitions = failed.len(), error = %e, "produce failed (is the broker up?), retrying those partitions with backoff (1 s, doubling up to 5 s)");
        if !backoff.wait(&mut stop.clone()).await {
            return None;
        }
        // A failed produce may have landed all the same (its acknowledgement was lost): keep only what is not there.
        pending = Vec::with_capacity(failed.len());
        for (client, records) in failed {
            let from = ends.get(&tp_key(client.topic(), client.partition())).copied();
            match not_landed(&client, from, records).await {
                Ok((rest, end)) => {
                    if rest.is_empty() {
                        marks.insert(tp_key(client.topic(), client.partition()), end);
                    } else {
                        pending.push((client, rest));
                    }
                }
                Err((records, e)) => {
                    warn!(topic = client.topic(), partition = client.partition(), error = %e, "cannot read back what landed yet");
                    pending.push((client, records));
                }
            }
        }
        if pending.is_empty() {
            return Some(marks);
        }
    }
}

/// Of `records` (one failed produce to `client`'s partition), those not found in the partition past `from` (its end
/// before the produce), matched by content with multiplicity; and the partition's end. Without `from` nothing can be
/// matched and every record is returned.
async fn not_landed(
    client: &PartitionClient,
    from: Option<i64>,
    records: Vec<Record>,
) -> Result<(Vec<Record>, i64), (Vec<Record>, Error)> {
    let (low, high) = match runtime::kafka::bounds(client).await {
        Ok(b) => b,
        Err(e) => return Err((records, e.into())),
    };
    let Some(from) = from else { return Ok((records, high)) };
    let mut landed: HashMap<Vec<u8>, u32> = HashMap::new();
    let scan = runtime::kafka::scan(client, from.max(low), high, |batch| {
        for r in batch {
            *landed.entry(r.record.value.unwrap_or_default()).or_default() += 1;
        }
    })
    .await;
    if let Err(e) = scan {
        return Err((records, e.into()));
    }
    let rest = records
        .into_iter()
        .filter(|r| !progress::take_one(&mut landed, r.value.as_deref().unwrap_or_default()))
        .collect();
    Ok((rest, high))
}

/// The records of events `indexes`, grouped by (topic, partition); also how many are malformed and their bytes.
type Batches = BTreeMap<(usize, usize), Vec<Record>>;
fn build(
    generator: &generate::Generator,
    parts: &[Vec<Arc<PartitionClient>>],
    indexes: impl Iterator<Item = u64>,
) -> (Batches, u64, u64) {
    let (mut batches, mut malformed, mut bytes) = (Batches::new(), 0, 0);
    let now = chrono::Utc::now();
    for i in indexes {
        let e = generator.event(i);
        malformed += u64::from(e.malformed);
        bytes += e.value.len() as u64;
        let p = (e.partition % parts[e.topic].len() as u64) as usize;
        batches.entry((e.topic, p)).or_default().push(Record {
            key: None,
            value: Some(e.value),
            headers: BTreeMap::new(),
            timestamp: now,
        });
    }
    (batches, malformed, bytes)
}

/// The end offset (high watermark) of every raw partition.
async fn ends(parts: &[Vec<Arc<PartitionClient>>]) -> Result<BTreeMap<String, i64>, Error> {
    let mut out = BTreeMap::new();
    for client in parts.iter().flatten() {
        out.insert(tp_key(client.topic(), client.partition()), client.get_offset(OffsetAt::Latest).await?);
    }
    Ok(out)
}

/// `--resume`: the last progress record, then what was written after it (see [`progress`]). Returns the index to
/// continue at, the indexes to re-send first, and the current ends of the raw partitions.
async fn resume(
    cfg: &Config,
    log: &runtime::kafka::KeyedLog,
    parts: &[Vec<Arc<PartitionClient>>],
    generator: &generate::Generator,
) -> Result<(u64, Vec<u64>, BTreeMap<String, i64>), Error> {
    let recorded: Progress = log
        .load()
        .await
        .map_err(|e| match e {
            e @ runtime::kafka::KafkaError::BadCheckpoint { .. } => Error::Resume(format!(
                "{e}. The way out: resume from the progress topic of another name (--progress-topic), or run \
                 without --resume (the stream starts again at its first event; ClickHouse de-duplicates on event_id)"
            )),
            e => e.into(),
        })?
        .unwrap_or_default();
    let topics = cfg.topics();
    let mut tail_ids: HashMap<String, u32> = HashMap::new();
    for (t, clients) in parts.iter().enumerate() {
        for client in clients {
            let (low, high) = runtime::kafka::bounds(client).await?;
            let mark = recorded.marks.get(&tp_key(client.topic(), client.partition())).copied();
            let from = match mark {
                // The topic was recreated (or truncated) since: whatever it holds now was written after the record.
                Some(m) if m > high => {
                    warn!(
                        topic = client.topic(),
                        partition = client.partition(),
                        mark = m,
                        high_watermark = high,
                        "the recorded progress mark is past the partition's end (the topic was recreated?): \
                         reading its tail from the log start"
                    );
                    low
                }
                Some(m) => m.max(low),
                None => low,
            };
            for r in runtime::kafka::read_range(client, from, high).await? {
                *tail_ids
                    .entry(contract::id::event_id(&topics[t], r.record.value.as_deref().unwrap_or_default()))
                    .or_default() += 1;
            }
        }
    }
    let tail = tail_ids.values().map(|&n| u64::from(n)).sum::<u64>();
    let (next, missing) = if cfg.start_time.is_some() {
        let mut window = tail + cfg.batch_size;
        if cfg.total > 0 {
            window = window.min(cfg.total.saturating_sub(recorded.next_index));
        }
        let p = progress::plan(recorded.next_index, &tail_ids, window, |i| generator.event(i).event_id(&topics));
        (p.next, p.missing)
    } else {
        // Stamped with the clock, a stream cannot be regenerated: count what the tails hold as sent.
        warn!("--resume without --start-time: records cut from the last batch cannot be identified; continuing after them");
        (recorded.next_index + tail, Vec::new())
    };
    info!(recorded = recorded.next_index, written_after = tail, next, missing = missing.len(), "resuming");
    Ok((next, missing, ends(parts).await?))
}
