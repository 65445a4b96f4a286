//! The Kafka sink: unified records to `processed_events`, dead letters to `dead_letters`, each partition's batch
//! produced concurrently, and the acknowledged end of every written partition kept as the output mark of the next
//! checkpoint. After a crash, [`crate::recovery`] scans the outputs from those marks for what was already written.

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
use crate::batch::{output_bound, raw_bound, route, FRAMING};
use crate::checkpoint::Checkpoint;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::map::{MapError, Mapped};
use crate::recovery::{self, From};
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

/// Both output topics, and where our writes to each partition ended.
pub struct KafkaSink {
    output: Topic,
    dead: Topic,
    /// Larger unified records are dead-lettered ([`Config::max_output_bytes`]).
    max_output_bytes: usize,
    /// Where the last recovery scan started, per output partition: the marks while its finds are still ahead.
    pinned_marks: BTreeMap<String, i64>,
    /// Per output partition: its end after our last acknowledged write (or where the recovery scan ended).
    ends: BTreeMap<String, i64>,
}

impl KafkaSink {
    /// Opens both output topics through a client that never retries on its own: a lost acknowledgement fails the
    /// round, and recovery looks at what landed before anything is written again
    /// ([`runtime::kafka::connect_without_retries`]).
    pub async fn connect(cfg: &Config, security: &runtime::security::Security) -> Result<Self> {
        let producer = runtime::kafka::connect_without_retries(&cfg.brokers, security).await?;
        let compression = cfg.compression.into();
        let output = Topic::open(&producer, &cfg.output_topic, compression).await?;
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
                cfg.output_topic,
                cfg.dead_letter_topic,
                bound + FRAMING,
                bound + FRAMING,
                raw_bound(cfg.output_max_message_bytes),
            );
        }
        Ok(Self { output, dead, max_output_bytes, pinned_marks: BTreeMap::new(), ends: BTreeMap::new() })
    }
}

/// A round for Kafka: records per output partition and per dead-letter partition.
#[derive(Debug)]
pub struct KafkaRound {
    /// Unified records, one vector per output partition.
    pub out: Vec<Vec<Record>>,
    /// Dead letters, one vector per dead-letter partition.
    pub dead: Vec<Vec<Record>>,
    max_output_bytes: usize,
    now: DateTime<Utc>,
}

impl KafkaRound {
    /// An empty round for `output_partitions` and `dead_letter_partitions`, dead-lettering unified records over
    /// `max_output_bytes`, every record stamped `now` (Kafka retention goes by record time; the event's own time is
    /// in the payload).
    pub fn new(
        output_partitions: usize,
        dead_letter_partitions: usize,
        max_output_bytes: usize,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            out: vec![Vec::new(); output_partitions],
            dead: vec![Vec::new(); dead_letter_partitions],
            max_output_bytes,
            now,
        }
    }
}

impl Collect for KafkaRound {
    fn event(&mut self, m: &Mapped<'_>) -> Result<u64, MapError> {
        let mut json = Vec::with_capacity(m.json_size_hint());
        m.write_json(&mut json);
        // The broker would refuse a record over the topic's limit forever and stall the partition.
        if json.len() > self.max_output_bytes {
            return Err(MapError::OutputTooLarge { size: json.len(), max: self.max_output_bytes });
        }
        let size = json.len() as u64;
        let n = self.out.len();
        self.out[route(m.src.partition, n)].push(Record {
            // No key, as in the original job's sink: the event id is in the value, and a key would cost an
            // allocation and a second copy of it per record.
            key: None,
            value: Some(json),
            headers: BTreeMap::new(),
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
        KafkaRound::new(self.output.partitions.len(), self.dead.partitions.len(), self.max_output_bytes, now)
    }

    async fn write(&mut self, round: KafkaRound) -> Result<()> {
        let (out_marks, dead_marks) = tokio::try_join!(self.output.produce(round.out), self.dead.produce(round.dead))?;
        self.ends.extend(out_marks);
        self.ends.extend(dead_marks);
        Ok(())
    }

    async fn recover(&mut self, committed: Option<&Checkpoint>, inputs: &[Input]) -> Result<Recovered> {
        let outputs: Vec<_> = self.output.partitions.iter().chain(&self.dead.partitions).cloned().collect();
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
