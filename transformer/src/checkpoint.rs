//! The offset store. rskafka has no consumer-group API, so offsets live in a Kafka topic of our own: after every
//! acknowledged round the transformer appends one JSON [`Checkpoint`] keyed by `group/instance-of-n`; at start it
//! reads the newest one with its key, scanning back from the end of the topic.

use std::collections::BTreeMap;

use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::record::Record;
use serde::{Deserialize, Serialize};

use crate::source::{bounds, read_range};

/// What one instance has finished, as of one commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Input `topic/partition` → next offset (the first one not yet done).
    pub next_offsets: BTreeMap<String, i64>,
    /// Output `topic/partition` → its high watermark at this commit. At start, records past these marks are
    /// scanned: whatever was written after the last commit is not written again.
    pub output_marks: BTreeMap<String, i64>,
}

/// Reads and appends checkpoints on partition 0 of the checkpoint topic.
#[derive(Debug)]
pub struct CheckpointStore {
    client: PartitionClient,
    key: String,
}

impl CheckpointStore {
    /// A store for the checkpoints of `key` on `client` (partition 0 of the checkpoint topic).
    pub fn new(client: PartitionClient, key: String) -> Self {
        Self { client, key }
    }

    /// The newest checkpoint with our key, if any. Scans back from the end in growing windows, so the cost is
    /// proportional to how far back our last commit is, not to the topic's length.
    pub async fn load(&self) -> anyhow::Result<Option<Checkpoint>> {
        let (low, high) = bounds(&self.client).await?;
        let mut end = high;
        let mut window = 256i64;
        while end > low {
            let start = (end - window).max(low);
            let records = read_range(&self.client, start, end).await?;
            let newest = records.iter().rev().find(|r| r.record.key.as_deref() == Some(self.key.as_bytes()));
            if let Some(r) = newest {
                let value = r.record.value.as_deref().unwrap_or_default();
                let cp = serde_json::from_slice(value).map_err(|e| {
                    anyhow::anyhow!(
                        "checkpoint at offset {} of {} is not valid JSON: {e}",
                        r.offset,
                        self.client.topic()
                    )
                })?;
                return Ok(Some(cp));
            }
            end = start;
            window = (window * 2).min(65_536);
        }
        Ok(None)
    }

    /// Appends `cp` and waits for the broker's acknowledgement.
    pub async fn commit(&self, cp: &Checkpoint) -> anyhow::Result<()> {
        let record = Record {
            key: Some(self.key.as_bytes().to_vec()),
            value: Some(serde_json::to_vec(cp)?),
            headers: BTreeMap::new(),
            timestamp: chrono::Utc::now(),
        };
        self.client.produce(vec![record], Compression::NoCompression).await?;
        Ok(())
    }
}
