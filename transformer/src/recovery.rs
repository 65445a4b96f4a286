//! The recovery scan: what this instance wrote after its last commit, so a restart does not write it again.
//!
//! Every output record (a row or a dead letter) carries its source coordinates ([`coordinates`]). From the committed output marks to
//! the current ends, the scan reads the outputs one fetch at a time and keeps, per owned input partition, the
//! offsets at or past the committed position as ranges, per output ([`Written`]): memory holds one fetch and a few ranges,
//! however much lies past the marks, and the time grows with that, not with the topics' history.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use contract::processed::SourceCoordinates as Coordinates;
use rskafka::client::partition::PartitionClient;
use tracing::info;

use crate::error::Error;
use crate::ranges::Written;
use crate::source::{bounds, scan, tp_key, Input};

/// Where the scan of one output partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// At this committed mark (never below the log start).
    Mark(i64),
    /// At the partition's end: nothing of ours can be there (no checkpoint yet; see the loop, `pipeline/`).
    End,
    /// At the log start: a checkpoint exists but has no mark for this partition (added since).
    Start,
}

/// What the scan found.
#[derive(Debug, Default)]
pub struct Found {
    /// Per input index: per output, offsets already written past the committed position.
    pub skips: Vec<Written>,
    /// Per output `topic/partition`: where the scan started.
    pub starts: BTreeMap<String, i64>,
    /// Per output `topic/partition`: where it ended (the high watermark when it began).
    pub ends: BTreeMap<String, i64>,
    /// Output records read.
    pub scanned: u64,
}

impl Found {
    /// Records found already written.
    pub fn already_written(&self) -> u64 {
        self.skips.iter().map(Written::len).sum()
    }
}

/// Records that `output` (a job's sink by index, or the dead letters after them) was found holding the row of the
/// record from `topic/partition` at `offset`: kept in `skips` (per input index) when one of `inputs` reads that
/// partition and the offset is at or past its position. Every sink's recovery goes through here.
pub fn note_written(skips: &mut [Written], inputs: &[Input], output: usize, topic: &str, partition: i32, offset: i64) {
    if let Some(idx) = owner(inputs, topic, partition) {
        if offset >= inputs[idx].next_offset {
            skips[idx].insert(output, offset);
        }
    }
}

/// The index of the input reading `topic/partition`, if one does.
pub(crate) fn owner(inputs: &[Input], topic: &str, partition: i32) -> Option<usize> {
    inputs.iter().position(|i| i.client.partition() == partition && i.client.topic() == topic)
}

/// The header holding `topic/partition/offset` of an output record's source record, for sinks whose values do not
/// carry it (the Kafka sink writes it).
pub const SOURCE_HEADER: &str = "etl.src";

/// The source coordinates of an output record: from its [`SOURCE_HEADER`] (`topic/partition/offset`), or from
/// the `source_*` fields of its JSON value (unified records and dead letters).
pub fn coordinates(record: &rskafka::record::Record) -> Option<Coordinates> {
    if let Some(h) = record.headers.get(SOURCE_HEADER) {
        let text = std::str::from_utf8(h).ok()?;
        let (rest, offset) = text.rsplit_once('/')?;
        let (topic, partition) = rest.rsplit_once('/')?;
        return Some(Coordinates {
            source_topic: topic.to_owned(),
            source_partition: partition.parse().ok()?,
            source_offset: offset.parse().ok()?,
        });
    }
    serde_json::from_slice::<Coordinates>(record.value.as_deref()?).ok()
}

/// Scans `outputs` (each partition with the index of the output it belongs to) from where `from` says to their
/// ends, for records whose source is one of `inputs` at or past its `next_offset`. `input_marks` (input → output partition → offset): an input's records count only from its
/// own mark on, where it has one later than the scan's start.
pub async fn scan_outputs(
    outputs: &[(usize, Arc<PartitionClient>)],
    from: impl Fn(&str) -> From,
    inputs: &[Input],
    input_marks: &BTreeMap<String, BTreeMap<String, i64>>,
) -> Result<Found, Error> {
    let mut found = Found { skips: vec![Written::default(); inputs.len()], ..Found::default() };
    let mut plan = Vec::with_capacity(outputs.len());
    // Every partition asked at once, and only then the first error returned: after a broker restart each client's
    // broken connection is replaced on its next request, so one attempt heals them all instead of one per attempt.
    let all_bounds = futures::future::join_all(outputs.iter().map(|(_, c)| bounds(c))).await;
    for ((output, client), bounds) in outputs.iter().zip(all_bounds) {
        let key = tp_key(client.topic(), client.partition());
        let (low, high) = bounds?;
        let start = match from(&key) {
            From::Mark(m) => m.clamp(low, high),
            From::End => high,
            From::Start => low,
        };
        // Per input, the first offset of this output partition whose records count for it.
        let floors: Vec<i64> = inputs
            .iter()
            .map(|i| input_marks.get(&i.key()).and_then(|m| m.get(&key)).copied().unwrap_or(i64::MIN))
            .collect();
        found.starts.insert(key.clone(), start);
        found.ends.insert(key, high);
        plan.push((*output, client, start, high, floors));
    }
    let total: i64 = plan.iter().map(|(_, _, s, e, _)| e - s).sum();
    let (started, mut last_log) = (Instant::now(), Instant::now());
    for (output, client, start, end, floors) in plan {
        scan(client, start, end, |records| {
            found.scanned += records.len() as u64;
            for r in records {
                let Some(c) = coordinates(&r.record) else { continue };
                let Some(idx) = owner(inputs, &c.source_topic, c.source_partition) else { continue };
                if r.offset >= floors[idx] && c.source_offset >= inputs[idx].next_offset {
                    found.skips[idx].insert(output, c.source_offset);
                }
            }
            if last_log.elapsed() >= Duration::from_secs(5) {
                last_log = Instant::now();
                info!(scanned = found.scanned, of = total, found = found.already_written(), "recovery scan");
            }
        })
        .await
        .map_err(|source| Error::Scan { partition: tp_key(client.topic(), client.partition()), source })?;
    }
    if total > 0 {
        info!(scanned = found.scanned, elapsed_ms = started.elapsed().as_millis() as u64, "recovery scan done");
    }
    Ok(found)
}
