//! The Kafka sink: each of the job's sinks to its topic (the default job's `processed_events`), dead letters to
//! `dead_letters`, each partition's batch produced concurrently, and the acknowledged end of every written partition
//! kept as the output mark of the next checkpoint. After a crash, [`crate::recovery`] scans the outputs from those
//! marks for what was already written: every output record names its source record, in its value (the unified
//! record's `source_*` fields) or, for a sink whose rows do not carry them (the original job's four columns), in
//! the header [`SOURCE_HEADER`].

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use contract::processed::DeadLetter;
use futures::future::try_join_all;
use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::client::Client;
use rskafka::record::Record;
use tracing::warn;

use super::{Collect, Recovered, Sink};
use crate::checkpoint::Checkpoint;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::limits::{output_bound, raw_bound, FRAMING};
use job::{MapError, Row};

use crate::recovery::{self, From, SOURCE_HEADER};
use crate::source::Source;
use crate::source::{tp_key, Input};

/// The partitions of one output topic.
#[derive(Debug, Clone)]
pub struct Topic {
    /// One client per partition, indexed by partition id.
    pub partitions: Vec<Arc<PartitionClient>>,
    compression: Compression,
}

impl Topic {
    /// Opens every partition of `topic`.
    pub async fn open(client: &Client, topic: &str, compression: Compression) -> Result<Self> {
        let ids = runtime::kafka::partitions(client, topic).await?;
        let mut partitions = Vec::with_capacity(ids.len());
        for (i, id) in ids.into_iter().enumerate() {
            if id != i as i32 {
                return Err(Error::Fatal(format!("topic {topic} has a gap in its partition ids at {i}")));
            }
            partitions.push(Arc::new(runtime::kafka::partition_client(client, topic, id).await?));
        }
        if partitions.is_empty() {
            return Err(Error::Fatal(format!("topic {topic} has no partitions")));
        }
        Ok(Self { partitions, compression })
    }

    /// Produces each non-empty batch to its partition and waits for every acknowledgement. Returns, per written
    /// partition (`topic/partition`), the offset after its last record.
    pub async fn produce(
        &self,
        batches: Vec<Vec<Record>>,
    ) -> Result<BTreeMap<String, i64>, rskafka::client::error::Error> {
        let jobs = batches.into_iter().enumerate().filter(|(_, b)| !b.is_empty()).map(|(i, batch)| {
            let client = Arc::clone(&self.partitions[i]);
            let compression = self.compression;
            async move {
                let offsets = runtime::kafka::produce_in_requests(&client, batch, compression).await?;
                let end = offsets.last().map_or(0, |o| o + 1);
                Ok::<_, rskafka::client::error::Error>((tp_key(client.topic(), client.partition()), end))
            }
        });
        Ok(try_join_all(jobs).await?.into_iter().collect())
    }
}

/// Where records from `source_partition` go among `partitions` output partitions. Fixed, so the records of one
/// source partition stay in order in one output partition.
pub fn route(source_partition: i32, partitions: usize) -> usize {
    source_partition.unsigned_abs() as usize % partitions
}

/// The output topics, and where our writes to each partition ended.
pub struct KafkaSink {
    /// One per sink of the job, in its order.
    outputs: Vec<Topic>,
    /// Per sink: its records carry their source in [`SOURCE_HEADER`].
    headers: Vec<bool>,
    dead: Topic,
    /// Larger unified records are dead-lettered ([`Config::max_output_bytes`]).
    max_output_bytes: usize,
    /// Where the last recovery scan started, per output partition: the marks while its finds are still ahead.
    pinned_marks: BTreeMap<String, i64>,
    /// Per output partition: its end after our last acknowledged write (or where the recovery scan ended).
    ends: BTreeMap<String, i64>,
    /// `--crash-mid-write` and the writes so far (failpoints).
    #[cfg(feature = "failpoints")]
    crash_mid_write: (Option<u64>, u64),
}

impl KafkaSink {
    /// Opens both output topics through a client that never retries on its own: a lost acknowledgement fails the
    /// round, and recovery looks at what landed before anything is written again
    /// ([`runtime::kafka::connect_without_retries`]).
    pub async fn connect(cfg: &Config, security: &runtime::security::Security) -> Result<Self> {
        let producer = runtime::kafka::connect_without_retries(&cfg.brokers, security).await?;
        let compression = cfg.compression.into();
        let mut outputs = Vec::new();
        for topic in cfg.output_topics() {
            outputs.push(Topic::open(&producer, &topic, compression).await?);
        }
        let headers = cfg.plan().sinks.iter().map(|s| !s.coords_in_value).collect();
        let dead = Topic::open(&producer, &cfg.dead_letter_topic, compression).await?;
        let max_output_bytes = cfg.max_output_bytes();
        let bound = output_bound(cfg.max_record_bytes);
        if bound > max_output_bytes {
            warn!(
                max_record_bytes = cfg.max_record_bytes,
                output_bound = bound,
                output_max_message_bytes = cfg.output_max_message_bytes,
                "a raw record that fits --max-record-bytes may give a unified record of up to {bound} bytes, over \
                 what the output topic takes; such records are dead-lettered as too_large. Raise max.message.bytes \
                 of {} and {} to {} and pass --output-max-message-bytes {}, or lower --max-record-bytes to {}",
                cfg.output_topics().join(" and "),
                cfg.dead_letter_topic,
                bound + FRAMING,
                bound + FRAMING,
                raw_bound(cfg.output_max_message_bytes),
            );
        }
        Ok(Self {
            outputs,
            headers,
            dead,
            max_output_bytes,
            pinned_marks: BTreeMap::new(),
            ends: BTreeMap::new(),
            #[cfg(feature = "failpoints")]
            crash_mid_write: (cfg.crash_mid_write, 0),
        })
    }
}

/// A round for Kafka: records per sink and output partition, and per dead-letter partition.
#[derive(Debug)]
pub struct KafkaRound {
    /// Per sink of the job: one vector of records per partition of its topic.
    pub out: Vec<Vec<Vec<Record>>>,
    /// Dead letters, one vector per dead-letter partition.
    pub dead: Vec<Vec<Record>>,
    /// Per sink: put the source in [`SOURCE_HEADER`].
    headers: Vec<bool>,
    max_output_bytes: usize,
    /// The largest row so far, to size the next one's buffer.
    size_hint: usize,
    now: DateTime<Utc>,
}

impl KafkaRound {
    /// An empty round for the sinks' `(partitions, source in a header)` and `dead_letter_partitions`,
    /// dead-lettering rows over `max_output_bytes`, every record stamped `now` (Kafka retention goes by record time;
    /// the event's own time is in the payload).
    pub fn new(
        sinks: &[(usize, bool)],
        dead_letter_partitions: usize,
        max_output_bytes: usize,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            out: sinks.iter().map(|(n, _)| vec![Vec::new(); *n]).collect(),
            dead: vec![Vec::new(); dead_letter_partitions],
            headers: sinks.iter().map(|(_, h)| *h).collect(),
            max_output_bytes,
            size_hint: 256,
            now,
        }
    }
}

impl Collect for KafkaRound {
    fn row(&mut self, sink: usize, row: Row<'_>, src: Source<'_>) -> Result<u64, MapError> {
        let mut json = Vec::with_capacity(self.size_hint);
        row.write_json(&mut json);
        // The broker would refuse a record over the topic's limit forever and stall the partition.
        if json.len() > self.max_output_bytes {
            return Err(MapError::OutputTooLarge { size: json.len(), max: self.max_output_bytes });
        }
        self.size_hint = self.size_hint.max(json.len() + 16);
        let size = json.len() as u64;
        let mut headers = BTreeMap::new();
        if self.headers[sink] {
            headers.insert(
                SOURCE_HEADER.to_owned(),
                format!("{}/{}/{}", src.topic, src.partition, src.offset).into_bytes(),
            );
        }
        let partitions = &mut self.out[sink];
        let n = partitions.len();
        partitions[route(src.partition, n)].push(Record {
            // No key, as in the original job's sink: the event id is in the value, and a key would cost an
            // allocation and a second copy of it per record.
            key: None,
            value: Some(json),
            headers,
            timestamp: self.now,
        });
        Ok(size)
    }

    fn dead_letter(&mut self, letter: &DeadLetter) {
        let n = self.dead.len();
        self.dead[route(letter.source_partition, n)].push(Record {
            key: Some(format!("{}/{}/{}", letter.source_topic, letter.source_partition, letter.source_offset).into()),
            value: Some(serde_json::to_vec(letter).expect("a dead letter always serialises")),
            headers: BTreeMap::new(),
            timestamp: self.now,
        });
    }
}

impl Sink for KafkaSink {
    type Round = KafkaRound;

    async fn open(cfg: &Config, security: &runtime::security::Security) -> Result<Self> {
        Self::connect(cfg, security).await
    }

    fn name(&self) -> &'static str {
        "Kafka"
    }

    fn round(&self, now: DateTime<Utc>) -> KafkaRound {
        let sinks: Vec<(usize, bool)> =
            self.outputs.iter().zip(&self.headers).map(|(t, h)| (t.partitions.len(), *h)).collect();
        KafkaRound::new(&sinks, self.dead.partitions.len(), self.max_output_bytes, now)
    }

    async fn write(&mut self, round: KafkaRound) -> Result<()> {
        #[cfg(feature = "failpoints")]
        let round = {
            self.crash_mid_write.1 += 1;
            if self.crash_mid_write.0 == Some(self.crash_mid_write.1) {
                let first = round.out.into_iter().next().unwrap_or_default();
                self.outputs[0].produce(first).await?;
                tracing::error!("--crash-mid-write: aborting with the first sink's records written, not the others'");
                std::process::abort();
            }
            round
        };
        let outputs = try_join_all(self.outputs.iter().zip(round.out).map(|(topic, batches)| topic.produce(batches)));
        let (out_marks, dead_marks) = tokio::try_join!(outputs, self.dead.produce(round.dead))?;
        for marks in out_marks {
            self.ends.extend(marks);
        }
        self.ends.extend(dead_marks);
        Ok(())
    }

    async fn recover(&mut self, committed: Option<&Checkpoint>, inputs: &[Input]) -> Result<Recovered> {
        // Output i is the job's sink i; the dead letters come after them.
        let outputs: Vec<(usize, Arc<PartitionClient>)> = self
            .outputs
            .iter()
            .chain([&self.dead])
            .enumerate()
            .flat_map(|(i, t)| t.partitions.iter().map(move |p| (i, Arc::clone(p))))
            .collect();
        let from = |key: &str| match committed {
            None => From::End,
            Some(cp) => cp.output_marks.get(key).map_or(From::Start, |&m| From::Mark(m)),
        };
        let none = Default::default();
        let input_marks = committed.map_or(&none, |cp| &cp.input_marks);
        let found = recovery::scan_outputs(&outputs, from, inputs, input_marks).await?;
        self.pinned_marks = found.starts;
        self.ends = found.ends;
        Ok(Recovered { skips: found.skips, scanned: found.scanned })
    }

    fn marks(&self, skips_ahead: bool) -> BTreeMap<String, i64> {
        if skips_ahead {
            self.pinned_marks.clone()
        } else {
            self.ends.clone()
        }
    }
}
