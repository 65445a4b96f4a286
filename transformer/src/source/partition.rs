//! Where an input's records come from: a Kafka partition, or, in the loop's property tests, a partition held in
//! memory that answers as a broker does (a fetch gives records from an offset on, up to a size, and the high
//! watermark), so the real loop can be driven through crashes at every await.

use std::ops::Range;
use std::sync::Arc;

use rskafka::client::error::Error as RsError;
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::RecordAndOffset;
use runtime::kafka::KafkaError;

use super::Answer;

/// One input partition's reader.
#[derive(Debug, Clone)]
pub enum Partition {
    /// A Kafka partition.
    Kafka(Arc<PartitionClient>),
    /// A partition in memory (tests of the loop).
    #[cfg(test)]
    Memory(Arc<memory::MemoryPartition>),
}

impl From<PartitionClient> for Partition {
    fn from(client: PartitionClient) -> Self {
        Partition::Kafka(Arc::new(client))
    }
}

impl Partition {
    /// The topic.
    pub fn topic(&self) -> &str {
        match self {
            Partition::Kafka(c) => c.topic(),
            #[cfg(test)]
            Partition::Memory(m) => &m.topic,
        }
    }

    /// The partition number.
    pub fn partition(&self) -> i32 {
        match self {
            Partition::Kafka(c) => c.partition(),
            #[cfg(test)]
            Partition::Memory(m) => m.partition,
        }
    }

    /// A fetch: records from `offset` on, within `bytes`, waiting at most `max_wait_ms` for some.
    pub async fn fetch_records(&self, offset: i64, bytes: Range<i32>, max_wait_ms: i32) -> Answer {
        match self {
            Partition::Kafka(c) => c.fetch_records(offset, bytes, max_wait_ms).await,
            #[cfg(test)]
            Partition::Memory(m) => m.fetch(offset, bytes.end).await,
        }
    }

    /// ListOffsets: the log start, the end, or the first offset at a time.
    pub async fn get_offset(&self, at: OffsetAt) -> Result<i64, RsError> {
        match self {
            Partition::Kafka(c) => c.get_offset(at).await,
            #[cfg(test)]
            Partition::Memory(m) => Ok(match at {
                OffsetAt::Earliest => 0,
                _ => m.records.len() as i64,
            }),
        }
    }

    /// The log start and the high watermark.
    pub async fn bounds(&self) -> Result<(i64, i64), KafkaError> {
        match self {
            Partition::Kafka(c) => runtime::kafka::bounds(c).await,
            #[cfg(test)]
            Partition::Memory(m) => Ok((0, m.records.len() as i64)),
        }
    }

    /// The records of the offsets `start..end`.
    pub async fn read_range(&self, start: i64, end: i64) -> Result<Vec<RecordAndOffset>, RsError> {
        match self {
            Partition::Kafka(c) => runtime::kafka::read_range(c, start, end).await,
            #[cfg(test)]
            Partition::Memory(m) => {
                Ok(m.records.iter().filter(|r| (start..end).contains(&r.offset)).cloned().collect())
            }
        }
    }
}

#[cfg(test)]
pub mod memory {
    //! A partition in memory.

    use super::*;

    /// A partition's records, offsets 0.., answered a few at a time.
    #[derive(Debug)]
    pub struct MemoryPartition {
        /// The topic.
        pub topic: String,
        /// The partition number.
        pub partition: i32,
        /// The records, the n-th at offset n.
        pub records: Vec<RecordAndOffset>,
    }

    impl MemoryPartition {
        /// As a broker answers a fetch: from `offset` on, as many whole records as fit in `max_bytes` of values
        /// (at least one), after a pause (the request on the wire: a point where the caller can be stopped).
        pub async fn fetch(&self, offset: i64, max_bytes: i32) -> Answer {
            tokio::task::yield_now().await;
            let mut size = 0;
            let records = self
                .records
                .iter()
                .skip(offset.max(0) as usize)
                .take_while(|r| {
                    let first = size == 0;
                    size += r.record.value.as_ref().map_or(0, Vec::len) + 1;
                    first || size <= max_bytes as usize
                })
                .cloned()
                .collect();
            Ok((records, self.records.len() as i64))
        }
    }
}
