//! Writing to Kafka: one output topic's partitions, a batch per partition produced concurrently, and the new
//! high watermark of each written partition returned once the broker has acknowledged everything.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::try_join_all;
use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::client::Client;
use rskafka::record::Record;

use crate::source::tp_key;

/// Most records in one produce request.
const MAX_RECORDS_PER_REQUEST: usize = 2_000;

/// Most bytes (keys + values) in one produce request. Kafka's default `max.message.bytes` is 1 MiB per batch and
/// the broker refuses a larger one outright, so requests stay well below it.
pub const MAX_REQUEST_BYTES: usize = 768 * 1024;

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
                let mut end = 0;
                let mut batch = batch;
                while !batch.is_empty() {
                    let rest = batch.split_off(request_len(&batch));
                    let offsets = client.produce(batch, compression).await?;
                    end = offsets.last().map_or(end, |o| o + 1);
                    batch = rest;
                }
                Ok::<_, rskafka::client::error::Error>((tp_key(client.topic(), client.partition()), end))
            }
        });
        Ok(try_join_all(jobs).await?.into_iter().collect())
    }
}

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
}
