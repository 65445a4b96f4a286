//! Kafka plumbing both binaries need: connect with a deadline (one log line per failed attempt), create topics that
//! are missing, list a topic's partitions, read a partition's offset range, and keep checkpoints in a topic
//! ([`KeyedLog`]). rskafka retries forever by default; here every request gets a
//! deadline so a dead broker surfaces as an error the caller can act on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::{
    error::{Error as RsError, ProtocolError},
    partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling},
    Client, ClientBuilder,
};
use rskafka::record::{Record, RecordAndOffset};
use rskafka::BackoffConfig;
use tracing::{info, warn};

use crate::security::Security;

/// Compression of produced batches: every codec Kafka has, all in pure Rust (rskafka is patched for lz4 and zstd;
/// see vendor/README.md). Reading takes any of them, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompressionArg {
    /// No compression (default; fastest on a local broker).
    None,
    /// gzip (flate2's pure-Rust backend).
    Gzip,
    /// Snappy (the snap crate), as librdkafka writes it.
    Snappy,
    /// LZ4 frames (lz4_flex).
    Lz4,
    /// Zstandard (ruzstd; about zstd level 1).
    Zstd,
}

impl From<CompressionArg> for rskafka::client::partition::Compression {
    fn from(c: CompressionArg) -> Self {
        match c {
            CompressionArg::None => Self::NoCompression,
            CompressionArg::Gzip => Self::Gzip,
            CompressionArg::Snappy => Self::Snappy,
            CompressionArg::Lz4 => Self::Lz4,
            CompressionArg::Zstd => Self::Zstd,
        }
    }
}

/// Errors talking to the broker, with what the user should do about them.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// No broker answered before the deadline.
    #[error(
        "cannot reach the Kafka broker at {brokers} after {waited:?}: {source}. Is it running? \
             (scripts/up.sh starts one; --brokers / KAFKA_BROKERS says where it is)"
    )]
    Unreachable {
        /// The bootstrap list tried.
        brokers: String,
        /// How long we tried.
        waited: Duration,
        /// The last error.
        source: RsError,
    },
    /// The broker answered but refused us: its certificate is not trusted, or authentication failed. Retrying
    /// cannot help, so this comes at once.
    #[error("Kafka at {brokers} refused the connection: {what}. {source}")]
    Refused {
        /// The bootstrap list tried.
        brokers: String,
        /// What to change.
        what: String,
        /// The error.
        source: RsError,
    },
    /// A request about one topic failed.
    #[error("Kafka request for topic {topic}: {source}")]
    Topic {
        /// The topic concerned.
        topic: String,
        /// The underlying error.
        source: RsError,
    },
    /// A checkpoint record is not what its reader expects.
    #[error("record at offset {offset} of topic {topic} is not a valid checkpoint: {message}")]
    BadCheckpoint {
        /// The checkpoint topic.
        topic: String,
        /// Offset of the bad record.
        offset: i64,
        /// What is wrong.
        message: String,
    },
    /// A topic the caller needs does not exist.
    #[error("topic {0} does not exist (create it: the emitter and transformer do so with --create-topics)")]
    MissingTopic(String),
}

/// Checks a bootstrap list: each entry `host:port` with a port in 1..=65535. The message says what was wrong.
pub fn check_brokers(brokers: &[String]) -> Result<(), String> {
    if brokers.is_empty() || brokers.iter().all(|b| b.trim().is_empty()) {
        return Err("--brokers is empty: give host:port[,host:port...]".into());
    }
    for b in brokers {
        let Some((host, port)) = b.trim().rsplit_once(':') else {
            return Err(format!("--brokers {b:?} has no port: write host:port, e.g. {b}:9092"));
        };
        if host.is_empty() {
            return Err(format!("--brokers {b:?} has no host: write host:port"));
        }
        if !matches!(port.parse::<u16>(), Ok(1..)) {
            return Err(format!("--brokers {b:?}: the port must be a number in 1..65535"));
        }
    }
    Ok(())
}

/// Backoff for single requests: retry quickly, give up after `deadline`.
pub fn backoff(deadline: Duration) -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(deadline),
    }
}

/// Connects to the broker, retrying at the shared pace ([`crate::retry::Backoff`]: 1, 2, 4, 5, 5, ... s) and logging
/// each failed attempt, for at most `wait`
/// (`Duration::ZERO`: try forever). Each request of the returned client gives up after `request_deadline`. A broker
/// that refuses us (an untrusted certificate, failed authentication) is an error at once: waiting cannot fix it.
pub async fn connect(
    brokers: &[String],
    security: &Security,
    wait: Duration,
    request_deadline: Duration,
) -> Result<Client, KafkaError> {
    let started = Instant::now();
    let mut attempt = 0u32;
    let mut pace = crate::retry::Backoff::default();
    loop {
        attempt += 1;
        let built = builder(brokers, security)
            .backoff_config(backoff(request_deadline.min(Duration::from_secs(3))))
            .build()
            .await;
        match built {
            Ok(_) => break,
            Err(source) => {
                if let Some(what) = refusal(&source, security) {
                    return Err(KafkaError::Refused { brokers: brokers.join(","), what, source });
                }
                let waited = started.elapsed();
                if !wait.is_zero() && waited >= wait {
                    return Err(KafkaError::Unreachable { brokers: brokers.join(","), waited, source });
                }
                // Not past the deadline: the last attempt is made when `wait` is up.
                let delay = if wait.is_zero() { pace.next_delay() } else { pace.next_delay().min(wait - waited) };
                warn!(attempt, brokers = %brokers.join(","), error = %source, retry_in_s = delay.as_secs(), "Kafka broker not reachable; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
    // Connected: build the long-lived client with the full request deadline.
    let client =
        builder(brokers, security).backoff_config(backoff(request_deadline)).build().await.map_err(|source| {
            KafkaError::Unreachable { brokers: brokers.join(","), waited: started.elapsed(), source }
        })?;
    info!(brokers = %brokers.join(","), tls = security.tls.is_some(), sasl = security.sasl.is_some(), "connected to Kafka");
    Ok(client)
}

/// A client whose requests rskafka never retries by itself, for producing outputs. rskafka has no idempotent
/// producer: when a produce reaches the broker but its acknowledgement is lost (the broker restarts), its own retry
/// writes the batch a second time (measured: 299 records twice in a chaos run with a broker restart). With this
/// client a lost acknowledgement fails the round instead, and the caller checks what landed before writing again.
pub async fn connect_without_retries(brokers: &[String], security: &Security) -> Result<Client, KafkaError> {
    let no_retry = BackoffConfig { deadline: Some(Duration::ZERO), ..backoff(Duration::ZERO) };
    let started = Instant::now();
    builder(brokers, security).backoff_config(no_retry).build().await.map_err(|source| KafkaError::Unreachable {
        brokers: brokers.join(","),
        waited: started.elapsed(),
        source,
    })
}

/// A client builder for `brokers` with `security` (TLS, SASL) applied.
fn builder(brokers: &[String], security: &Security) -> ClientBuilder {
    let mut b = ClientBuilder::new(brokers.to_vec()).client_id("etl-rs");
    if let Some(tls) = &security.tls {
        b = b.tls_config(Arc::clone(tls));
    }
    if let Some(sasl) = &security.sasl {
        b = b.sasl_config(sasl.clone());
    }
    b
}

/// What to change when `e` says the broker refused us rather than could not be reached: an untrusted certificate
/// or failed SASL authentication. `None` for anything else.
fn refusal(e: &RsError, security: &Security) -> Option<String> {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    let lower = text.to_lowercase();
    if lower.contains("sasl") {
        return Some(format!(
            "SASL authentication failed ({}): check --sasl-username, --sasl-password / --sasl-password-file and \
             --sasl-mechanism",
            text.rsplit(": ").next().unwrap_or(&text)
        ));
    }
    if security.tls.is_some() && lower.contains("received fatal alert") {
        // The broker ended the handshake: it wants a client certificate (mutual TLS) and had none, or one it does
        // not trust (UnknownCA, BadCertificate, CertificateRequired).
        return Some(format!(
            "the broker refused the TLS handshake ({}): it requires a client certificate it trusts: check \
             --ssl-certificate-location and --ssl-key-location (SSL_CERTIFICATE_LOCATION, SSL_KEY_LOCATION)",
            text.rsplit(": ").next().unwrap_or(&text)
        ));
    }
    if security.tls.is_some() && (lower.contains("certificate") || lower.contains("unknownissuer")) {
        return Some(
            "the broker's TLS certificate is not trusted: give the CA that signed it with --ssl-ca-location \
             (SSL_CA_LOCATION)"
                .into(),
        );
    }
    None
}

/// Most records in one produce request.
const MAX_RECORDS_PER_REQUEST: usize = 2_000;

/// Most bytes (keys + values) in one produce request. Kafka's default `max.message.bytes` is 1 MiB per batch and
/// the broker refuses a larger one outright, so requests stay well below it.
pub const MAX_REQUEST_BYTES: usize = 768 * 1024;

/// How many records from the front of `batch` go into one request: at most [`MAX_RECORDS_PER_REQUEST`] and
/// [`MAX_REQUEST_BYTES`], and always at least one.
fn request_len(batch: &[Record]) -> usize {
    let mut bytes = 0;
    for (i, r) in batch.iter().take(MAX_RECORDS_PER_REQUEST).enumerate() {
        bytes += r.approximate_size() + 64; // + per-record framing
        if bytes > MAX_REQUEST_BYTES {
            return i.max(1);
        }
    }
    batch.len().min(MAX_RECORDS_PER_REQUEST)
}

/// Produces `records` to one partition in as many requests as [`request_len`] says, one after another (so their
/// order holds), and returns the offset of every record. A batch larger than the broker takes would be refused for
/// good; this keeps every request under Kafka's default limit, whatever the caller's batch size.
pub async fn produce_in_requests(
    client: &PartitionClient,
    mut records: Vec<Record>,
    compression: Compression,
) -> Result<Vec<i64>, RsError> {
    let mut offsets = Vec::with_capacity(records.len());
    while !records.is_empty() {
        let rest = records.split_off(request_len(&records));
        offsets.extend(client.produce(records, compression).await?);
        records = rest;
    }
    Ok(offsets)
}

/// Creates each `(topic, partitions)` that does not exist yet. Existing topics are left as they are.
pub async fn ensure_topics(client: &Client, topics: &[(&str, i32)]) -> Result<(), KafkaError> {
    let topics: Vec<NewTopic> = topics.iter().map(|&(t, p)| (t, p, &[][..])).collect();
    ensure_topics_configured(client, &topics).await
}

/// A topic to create: its name, partitions, and topic configurations as name/value pairs.
pub type NewTopic<'a> = (&'a str, i32, &'a [(&'a str, &'a str)]);

/// As [`ensure_topics`], each topic created with its topic configurations (`max.message.bytes`, …). A topic that
/// exists is left as it is: its configuration is the cluster operator's.
pub async fn ensure_topics_configured(client: &Client, topics: &[NewTopic<'_>]) -> Result<(), KafkaError> {
    let existing = client.list_topics().await.map_err(|source| KafkaError::Topic { topic: "*".into(), source })?;
    let controller = client.controller_client().map_err(|source| KafkaError::Topic { topic: "*".into(), source })?;
    for &(topic, partitions, configs) in topics {
        if existing.iter().any(|t| t.name == topic) {
            continue;
        }
        match controller.create_topic_with_configs(topic, partitions, 1, configs, 10_000).await {
            Ok(()) => info!(topic, partitions, configs = ?configs, "created topic"),
            Err(RsError::ServerError { protocol_error: ProtocolError::TopicAlreadyExists, .. }) => {}
            Err(source) => return Err(KafkaError::Topic { topic: topic.into(), source }),
        }
    }
    Ok(())
}

/// The names of every topic on the cluster.
pub async fn topic_names(client: &Client) -> Result<Vec<String>, KafkaError> {
    let topics = client.list_topics().await.map_err(|source| KafkaError::Topic { topic: "*".into(), source })?;
    Ok(topics.into_iter().map(|t| t.name).collect())
}

/// The partition ids of `topic`, sorted.
pub async fn partitions(client: &Client, topic: &str) -> Result<Vec<i32>, KafkaError> {
    let topics = client.list_topics().await.map_err(|source| KafkaError::Topic { topic: topic.into(), source })?;
    let mut ids = topics
        .into_iter()
        .find(|t| t.name == topic)
        .map(|t| t.partitions.into_iter().collect::<Vec<_>>())
        .ok_or_else(|| KafkaError::MissingTopic(topic.into()))?;
    ids.sort_unstable();
    Ok(ids)
}

/// Every partition of `topics`, as (topic, partition), in the order of `topics` and then by partition.
pub async fn topic_partitions(client: &Client, topics: &[String]) -> Result<Vec<(String, i32)>, KafkaError> {
    let mut all = Vec::new();
    for topic in topics {
        for p in partitions(client, topic).await? {
            all.push((topic.clone(), p));
        }
    }
    Ok(all)
}

/// A client for one partition (fails if the topic does not exist).
pub async fn partition_client(client: &Client, topic: &str, partition: i32) -> Result<PartitionClient, KafkaError> {
    client
        .partition_client(topic, partition, UnknownTopicHandling::Error)
        .await
        .map_err(|source| KafkaError::Topic { topic: topic.into(), source })
}

/// `topic/partition`: how checkpoints (the transformer's offsets, the emitter's progress) name a partition.
pub fn tp_key(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// Most bytes one fetch of [`scan`] asks for: what a scan holds in memory at a time.
pub const SCAN_FETCH_BYTES: i32 = 1024 * 1024;

/// Calls `each` with the records of `client` with offsets in `[start, end)`, one fetch (at most
/// [`SCAN_FETCH_BYTES`], plus one batch) at a time, lowest offsets first. Memory stays bounded by one fetch, however
/// long the range. Stops early, without error, when the broker returns nothing (the range ends past the log).
pub async fn scan(
    client: &PartitionClient,
    start: i64,
    end: i64,
    mut each: impl FnMut(Vec<RecordAndOffset>),
) -> Result<(), RsError> {
    let mut next = start;
    while next < end {
        let (mut records, _hw) = client.fetch_records(next, 1..SCAN_FETCH_BYTES, 100).await?;
        let Some(last) = records.last().map(|r| r.offset) else {
            break;
        };
        records.retain(|r| r.offset >= next && r.offset < end);
        next = last + 1;
        each(records);
    }
    Ok(())
}

/// All records of `client` with offsets in `[start, end)`, in one vector: for short ranges (see [`scan`]).
pub async fn read_range(client: &PartitionClient, start: i64, end: i64) -> Result<Vec<RecordAndOffset>, RsError> {
    let mut out = Vec::new();
    scan(client, start, end, |records| out.extend(records)).await?;
    Ok(out)
}

/// Earliest and latest (high watermark) offsets of a partition.
pub async fn bounds(client: &PartitionClient) -> Result<(i64, i64), KafkaError> {
    let err = |source| KafkaError::Topic { topic: client.topic().into(), source };
    let low = client.get_offset(OffsetAt::Earliest).await.map_err(err)?;
    let high = client.get_offset(OffsetAt::Latest).await.map_err(err)?;
    Ok((low, high))
}

/// A partition used as a log of checkpoints: each owner appends JSON records under its key, and the newest record
/// with a key is that owner's state. The transformer keeps its offsets this way, the emitter its progress
/// (rskafka has no consumer-group offset API).
#[derive(Debug)]
pub struct KeyedLog {
    client: PartitionClient,
    key: String,
}

impl KeyedLog {
    /// The checkpoints of `key` on `client` (one partition of a checkpoint topic).
    pub fn new(client: PartitionClient, key: String) -> Self {
        Self { client, key }
    }

    /// The newest record with our key, decoded, if any. A record with our key that does not decode is an error
    /// naming its offset (the caller says what to do about it).
    pub async fn load<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, KafkaError> {
        let topic = self.client.topic().to_string();
        let mut found = None;
        self.scan_back(|offset, key, value| {
            if key != self.key.as_bytes() {
                return std::ops::ControlFlow::Continue(());
            }
            found = Some(serde_json::from_slice(value).map_err(|e| KafkaError::BadCheckpoint {
                topic: topic.clone(),
                offset,
                message: e.to_string(),
            }));
            std::ops::ControlFlow::Break(())
        })
        .await?;
        found.transpose()
    }

    /// Visits the log's records newest first, as `(offset, key, value)`, until `visit` breaks or the log's start is
    /// reached. Reads back from the end in growing windows (at most 8,192 records in memory), so the cost is
    /// proportional to how far back the wanted records are, not to the topic's length.
    pub async fn scan_back(
        &self,
        mut visit: impl FnMut(i64, &[u8], &[u8]) -> std::ops::ControlFlow<()>,
    ) -> Result<(), KafkaError> {
        let topic = self.client.topic().to_string();
        let (low, high) = bounds(&self.client).await?;
        let mut end = high;
        let mut window = 256i64;
        while end > low {
            let start = (end - window).max(low);
            let records = read_range(&self.client, start, end)
                .await
                .map_err(|source| KafkaError::Topic { topic: topic.clone(), source })?;
            for r in records.iter().rev() {
                let key = r.record.key.as_deref().unwrap_or_default();
                let value = r.record.value.as_deref().unwrap_or_default();
                if visit(r.offset, key, value).is_break() {
                    return Ok(());
                }
            }
            end = start;
            window = (window * 2).min(8_192);
        }
        Ok(())
    }

    /// The key this log appends under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The partition the log lives on.
    pub fn client(&self) -> &PartitionClient {
        &self.client
    }

    /// Appends `value` under our key and waits for the broker's acknowledgement.
    pub async fn append<T: serde::Serialize>(&self, value: &T) -> Result<(), KafkaError> {
        let record = rskafka::record::Record {
            key: Some(self.key.as_bytes().to_vec()),
            value: Some(serde_json::to_vec(value).expect("checkpoints are plain data")),
            headers: Default::default(),
            timestamp: chrono::Utc::now(),
        };
        self.client
            .produce(vec![record], rskafka::client::partition::Compression::NoCompression)
            .await
            .map_err(|source| KafkaError::Topic { topic: self.client.topic().into(), source })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(size: usize) -> Record {
        Record { key: None, value: Some(vec![b'x'; size]), headers: Default::default(), timestamp: chrono::Utc::now() }
    }

    #[test]
    fn requests_are_bounded_by_count_and_bytes() {
        assert_eq!(request_len(&vec![rec(10); 5_000]), MAX_RECORDS_PER_REQUEST);
        let n = request_len(&vec![rec(1_000); 2_000]);
        assert!(n < 2_000 && n * 1_064 <= MAX_REQUEST_BYTES && (n + 1) * 1_064 > MAX_REQUEST_BYTES, "{n}");
        assert_eq!(request_len(&[rec(5 << 20), rec(1)]), 1, "an oversized record still goes, alone");
        assert_eq!(request_len(&[rec(1), rec(5 << 20)]), 1);
    }

    #[test]
    fn broker_lists_are_checked() {
        let list = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        assert_eq!(check_brokers(&list("127.0.0.1:9092,kafka:19092")), Ok(()));
        assert!(check_brokers(&list("kafka")).unwrap_err().contains("no port"));
        assert!(check_brokers(&list(":9092")).unwrap_err().contains("no host"));
        assert!(check_brokers(&list("kafka:0")).unwrap_err().contains("1..65535"));
        assert!(check_brokers(&list("kafka:http")).unwrap_err().contains("1..65535"));
        assert!(check_brokers(&list("")).unwrap_err().contains("empty"));
    }
}
