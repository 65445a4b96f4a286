//! Writing to Kafka: one output topic's partitions, a batch per partition produced concurrently, and the new
//! high watermark of each written partition returned once the broker has acknowledged everything.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::try_join_all;
use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::client::Client;
use rskafka::record::Record;

use crate::source::tp_key;

pub use runtime::kafka::MAX_REQUEST_BYTES;

/// The partitions of one output topic.
#[derive(Debug, Clone)]
pub struct Sink {
    /// One client per partition, indexed by partition id.
    pub partitions: Vec<Arc<PartitionClient>>,
    compression: Compression,
}

impl Sink {
    /// Opens every partition of `topic`.
    pub async fn open(client: &Client, topic: &str, compression: Compression) -> anyhow::Result<Self> {
        let ids = runtime::kafka::partitions(client, topic).await?;
        let mut partitions = Vec::with_capacity(ids.len());
        for (i, id) in ids.into_iter().enumerate() {
            anyhow::ensure!(id == i as i32, "topic {topic} has a gap in its partition ids at {i}");
            partitions.push(Arc::new(runtime::kafka::partition_client(client, topic, id).await?));
        }
        anyhow::ensure!(!partitions.is_empty(), "topic {topic} has no partitions");
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
