//! Lost checkpoints and Kafka sinks: where the positions were, read back from what the job's topics hold.
//!
//! With no checkpoint at all (an emptied checkpoint topic, a new `--group` or `--checkpoint-topic`, expired group
//! offsets) a start would read every input from `--start-at` and write it all again. ClickHouse tables keep their
//! positions with their rows (`sink/tables.rs`); a Kafka sink's records carry their source coordinates and, as
//! their timestamp, the time of the round that wrote them, the same for every output of a round. That is enough
//! to rebuild the checkpoint the last round would have committed:
//!
//! - per input partition, the newest record it has in any of the job's sink topics names the newest round `S`
//!   that wrote it (every record of an input goes to one partition of each topic, in order, so looking back from
//!   each partition's end finds it);
//! - every round before `S` was complete in every output before `S` was written (a round is committed before the
//!   next one writes), so the input resumes right after the newest record written by an earlier round;
//! - round `S` itself may have reached some outputs and not others (a crash mid-write): the rebuilt checkpoint's
//!   output marks lie at the first record written at or after `S` (Kafka's time index), and the usual recovery
//!   scan from there finds what `S` wrote, per output, so it is not written again and the rest is.
//!
//! The dead-letter topic is marked but not asked for positions: it may be shared with other jobs reading the same
//! topics, whose letters would pass for ours. Memory holds one fetch; the time grows with how far back an input's
//! newest records are (to a partition's start for an input with none there).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::partition::{OffsetAt, PartitionClient};
use tracing::{info, warn};

use super::kafka::route;
use crate::error::Error;
use crate::recovery::{coordinates, owner};
use crate::source::{bounds, scan, tp_key, Input};

/// How much later than the round that wrote it a record may say it was made (producer and transformer clocks
/// differ a little) and still be taken for the record that round wrote.
pub const CLOCK_SLACK_MS: i64 = 5_000;

/// A checkpoint rebuilt from the outputs.
#[derive(Debug, Default, PartialEq)]
pub struct Rebuilt {
    /// Per input `topic/partition` found in the outputs: where it resumes.
    pub next_offsets: BTreeMap<String, i64>,
    /// Per output `topic/partition`: where the recovery scan starts.
    pub output_marks: BTreeMap<String, i64>,
}

/// Rebuilds the positions of `inputs` from the records the job's sink topics hold (`sinks`: each topic's
/// partitions); `marked`: every output partition to mark (the sinks' and the dead letters'). `None` when no sink
/// topic holds a record of these inputs (or only records of a topic since recreated). An input with outputs
/// only from its newest round is left out of the positions (it starts at `--start-at`, and the scan skips what
/// that round wrote).
pub async fn rebuild(
    sinks: &[&[Arc<PartitionClient>]],
    marked: &[Arc<PartitionClient>],
    inputs: &[Input],
) -> Result<Option<Rebuilt>, Error> {
    // The newest record of each input in any sink: (its source offset, the round's time).
    let everything: Vec<(usize, i64)> = (0..inputs.len()).map(|idx| (idx, i64::MAX)).collect();
    let mut newest: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
    for (idx, found) in newest_in_sinks(sinks, inputs, &everything).await? {
        let e = newest.entry(idx).or_insert(found);
        if found.1 > e.1 || (found.1 == e.1 && found.0 > e.0) {
            *e = found;
        }
    }
    // A recreated topic's records reuse the offsets: the record must be the one the round read, made before it.
    let mut rounds: Vec<(usize, i64)> = Vec::new();
    for (&idx, &(offset, round_ms)) in &newest {
        let input = &inputs[idx];
        match held_as_written(input, offset, round_ms).await? {
            (true, _) => rounds.push((idx, round_ms)),
            (false, made_ms) => warn!(
                input = %input.key(), position = offset, round_ms, record_ms = ?made_ms,
                "no checkpoint, and the sink topics' newest record of this partition names a record the topic does \
                 not hold as it was then (recreated or truncated?): it is read from --start-at"
            ),
        }
    }
    if rounds.is_empty() {
        return Ok(None);
    }
    // Where each input resumes: after its newest record written by an earlier round.
    let mut rebuilt = Rebuilt::default();
    for (idx, (offset, _)) in newest_in_sinks(sinks, inputs, &rounds).await? {
        let e = rebuilt.next_offsets.entry(inputs[idx].key()).or_insert(offset + 1);
        *e = (*e).max(offset + 1);
    }
    // The scan starts at the first record written at or after the oldest of those rounds, a clock's slack before.
    let from_ms = rounds.iter().map(|r| r.1).min().unwrap_or(0).saturating_sub(CLOCK_SLACK_MS);
    let from = chrono::DateTime::from_timestamp_millis(from_ms).unwrap_or_default();
    for client in marked {
        let key = tp_key(client.topic(), client.partition());
        let err = |source| Error::Scan { partition: key.clone(), source };
        let mark = match client.get_offset(OffsetAt::Timestamp(from)).await.map_err(err)? {
            m if m < 0 => client.get_offset(OffsetAt::Latest).await.map_err(err)?, // nothing that new
            m => m,
        };
        rebuilt.output_marks.insert(key, mark);
    }
    for &(idx, round_ms) in &rounds {
        let key = inputs[idx].key();
        warn!(
            input = %key,
            resume_at = ?rebuilt.next_offsets.get(&key),
            newest_round_ms = round_ms,
            "no checkpoint: the sink topics hold this partition's outputs; resuming after them (the newest round's \
             outputs are looked for from the marks and not written again) instead of writing everything again"
        );
    }
    Ok(Some(rebuilt))
}

/// Whether `input` still holds, at `offset`, the record an output written at `written_ms` came from: a record made
/// no later than that (a clock's slack allowed). A recreated topic's record at the same offset is newer. Also
/// returns the record's time, for the log.
pub async fn held_as_written(input: &Input, offset: i64, written_ms: i64) -> Result<(bool, Option<i64>), Error> {
    let record = input
        .client
        .read_range(offset, offset + 1)
        .await
        .map_err(|source| Error::Scan { partition: input.key(), source })?;
    let made_ms = record.iter().find(|r| r.offset == offset).map(|r| r.record.timestamp.timestamp_millis());
    Ok((made_ms.is_some_and(|made| made <= written_ms.saturating_add(CLOCK_SLACK_MS)), made_ms))
}

/// Per input of `wanted` (index, and a time bound: only records written before it count), its newest record in
/// any partition of `sinks` that it routes to: (source offset, the time it was written).
async fn newest_in_sinks(
    sinks: &[&[Arc<PartitionClient>]],
    inputs: &[Input],
    wanted: &[(usize, i64)],
) -> Result<Vec<(usize, (i64, i64))>, Error> {
    let mut all = Vec::new();
    for partitions in sinks {
        for (q, client) in partitions.iter().enumerate() {
            let here: Vec<(usize, i64)> = wanted
                .iter()
                .filter(|(idx, _)| route(inputs[*idx].client.partition(), partitions.len()) == q)
                .copied()
                .collect();
            if !here.is_empty() {
                all.extend(newest_before(client, inputs, &here).await?);
            }
        }
    }
    Ok(all)
}

/// Per input of `wanted`, the newest record of `client` from it written before the input's time bound: looks back
/// from the partition's end in growing windows, each read one fetch at a time, until every input is found or the
/// partition's start is reached.
async fn newest_before(
    client: &PartitionClient,
    inputs: &[Input],
    wanted: &[(usize, i64)],
) -> Result<BTreeMap<usize, (i64, i64)>, Error> {
    let key = tp_key(client.topic(), client.partition());
    let (low, high) = bounds(client).await?;
    let mut found: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
    let (mut end, mut window) = (high, 256i64);
    let (started, mut logged) = (Instant::now(), Instant::now());
    while end > low && found.len() < wanted.len() {
        let start = (end - window).max(low);
        let mut here: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
        scan(client, start, end, |records| {
            for r in records {
                let Some(c) = coordinates(&r.record) else { continue };
                let Some(idx) = owner(inputs, &c.source_topic, c.source_partition) else { continue };
                let Some(&(_, before)) = wanted.iter().find(|(i, _)| *i == idx) else { continue };
                let written = r.record.timestamp.timestamp_millis();
                if written < before {
                    here.insert(idx, (c.source_offset, written)); // read forward: the last one wins
                }
            }
        })
        .await
        .map_err(|source| Error::Scan { partition: key.clone(), source })?;
        for (idx, v) in here {
            found.entry(idx).or_insert(v);
        }
        end = start;
        window = (window * 2).min(1 << 20);
        if logged.elapsed() >= Duration::from_secs(5) {
            logged = Instant::now();
            info!(output = %key, looked_back = high - end, of = high - low, "no checkpoint: looking back for outputs");
        }
    }
    if started.elapsed() >= Duration::from_secs(5) {
        info!(output = %key, looked_back = high - end, elapsed_ms = started.elapsed().as_millis() as u64, "looked back");
    }
    Ok(found)
}
