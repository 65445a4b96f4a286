//! A Kafka output topic: its partitions, each partition's batch of a round produced concurrently with the
//! acknowledged end returned (the output mark of the next checkpoint), and the fixed route from a source partition
//! to an output partition. The job's sink ([`super::job_sink::JobSink`]) writes its topics through these.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::try_join_all;
use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::client::Client;
use rskafka::record::Record;

use crate::error::{Error, Result};
use crate::source::tp_key;

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
