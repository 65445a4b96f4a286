//! Reading from Kafka: the input partitions this instance owns, and bounded reads of a partition's offset range
//! (used to load checkpoints and to scan the tail of the outputs at start).

use std::sync::Arc;

use rskafka::client::error::{Error as RsError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::RecordAndOffset;
pub use schema::kafka::{bounds, read_range, tp_key};
use tracing::warn;

/// One input partition and where we are in it.
#[derive(Debug, Clone)]
pub struct Input {
    /// Client bound to the partition.
    pub client: Arc<PartitionClient>,
    /// First offset not yet done (mapped, written, acknowledged and committed).
    pub next_offset: i64,
    /// High watermark seen by the last fetch (for lag).
    pub high_watermark: i64,
}

impl Input {
    /// `topic/partition`, the key used in checkpoints and logs.
    pub fn key(&self) -> String {
        tp_key(self.client.topic(), self.client.partition())
    }

    /// `(topic, partition)`, the key of its metrics.
    pub fn id(&self) -> (String, i32) {
        (self.client.topic().to_string(), self.client.partition())
    }
}

/// Which of `all` (sorted `(topic, partition)` pairs) instance `instance` of `instances` owns: every n-th.
pub fn assign(all: &[(String, i32)], instance: u32, instances: u32) -> Vec<(String, i32)> {
    all.iter().enumerate().filter(|(i, _)| *i as u32 % instances == instance).map(|(_, tp)| tp.clone()).collect()
}

/// Fetches the next records of `input` (those at or after `next_offset`), waiting at most `max_wait_ms`.
/// Returns the records and the high watermark. An offset that fell out of the log (retention) is moved to the
/// earliest kept offset with a warning.
pub async fn fetch(input: &mut Input, max_bytes: i32, max_wait_ms: i32) -> Result<Vec<RecordAndOffset>, RsError> {
    let result = input.client.fetch_records(input.next_offset, 1..max_bytes, max_wait_ms).await;
    let (mut records, hw) = match result {
        Err(RsError::ServerError { protocol_error: ProtocolError::OffsetOutOfRange, .. }) => {
            let earliest = input.client.get_offset(OffsetAt::Earliest).await?;
            let latest = input.client.get_offset(OffsetAt::Latest).await?;
            let to = if input.next_offset < earliest { earliest } else { latest.min(input.next_offset) };
            warn!(partition = %input.key(), next_offset = input.next_offset, earliest, latest, moved_to = to,
                  "offset out of range (retention or a recreated topic): moving");
            input.next_offset = to;
            return Ok(Vec::new());
        }
        other => other?,
    };
    records.retain(|r| r.offset >= input.next_offset);
    input.high_watermark = hw;
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_splits_every_partition_exactly_once() {
        let all: Vec<(String, i32)> =
            ["a", "b", "c"].iter().flat_map(|t| (0..3).map(move |p| (t.to_string(), p))).collect();
        for n in 1..5u32 {
            let mut seen: Vec<_> = (0..n).flat_map(|i| assign(&all, i, n)).collect();
            seen.sort();
            assert_eq!(seen, all, "n = {n}");
        }
    }
}
