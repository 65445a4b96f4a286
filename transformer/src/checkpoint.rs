//! The offset store. rskafka has no consumer-group API, so offsets live in a Kafka topic of our own: after every
//! acknowledged round the transformer appends one JSON [`Checkpoint`] keyed by `group/instance-of-n`
//! ([`schema::kafka::KeyedLog`]); at start it reads the newest one with its key.

use std::collections::BTreeMap;

use rskafka::client::partition::PartitionClient;
use schema::kafka::KeyedLog;
use serde::{Deserialize, Serialize};

/// What one instance has finished, as of one commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Input `topic/partition` → next offset (the first one not yet done).
    pub next_offsets: BTreeMap<String, i64>,
    /// Output `topic/partition` → its high watermark at this commit. At start, records past these marks are
    /// scanned: whatever was written after the last commit is not written again.
    pub output_marks: BTreeMap<String, i64>,
}

/// Reads and appends this instance's checkpoints on partition 0 of the checkpoint topic.
#[derive(Debug)]
pub struct CheckpointStore(KeyedLog);

impl CheckpointStore {
    /// A store for the checkpoints of `key` on `client` (partition 0 of the checkpoint topic).
    pub fn new(client: PartitionClient, key: String) -> Self {
        Self(KeyedLog::new(client, key))
    }

    /// The newest checkpoint of this instance, if any.
    pub async fn load(&self) -> anyhow::Result<Option<Checkpoint>> {
        Ok(self.0.load().await?)
    }

    /// Appends `cp` and waits for the broker's acknowledgement.
    pub async fn commit(&self, cp: &Checkpoint) -> anyhow::Result<()> {
        Ok(self.0.append(cp).await?)
    }
}
