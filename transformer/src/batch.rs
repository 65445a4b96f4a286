//! One round's fetched records turned into what gets produced: unified records per output partition, dead letters
//! per dead-letter partition, and where each input partition stands after the round. Pure apart from a log line
//! per dead letter: no I/O, no clock (the caller passes `now`), so it is tested without a broker.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rskafka::record::{Record, RecordAndOffset};
use tracing::warn;

use crate::dead_letter::dead_letter;
use crate::map::{map, MapError, Source};
use crate::ranges::OffsetRanges;

/// What building a batch needs to know besides the records; fixed for the life of a pipeline.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `(topic, partition)` of each input, by input index.
    pub inputs: Vec<(String, i32)>,
    /// Partitions of the output topic.
    pub output_partitions: usize,
    /// Partitions of the dead-letter topic.
    pub dead_letter_partitions: usize,
    /// Larger raw records are dead-lettered unread (`--max-record-bytes`).
    pub max_record_bytes: usize,
    /// Larger unified records are dead-lettered ([`crate::config::Config::max_output_bytes`]).
    pub max_output_bytes: usize,
    /// Bytes of the raw value a dead letter keeps (`--dead-letter-max-raw`).
    pub dead_letter_max_raw: usize,
}

/// Where records from `source_partition` go among `partitions` output partitions. Fixed, so the records of one
/// source partition stay in order in one output partition.
pub fn route(source_partition: i32, partitions: usize) -> usize {
    source_partition.unsigned_abs() as usize % partitions
}

/// One round, mapped and ready to produce.
#[derive(Debug, Default)]
pub struct Batch {
    /// Unified records, one vector per output partition.
    pub out: Vec<Vec<Record>>,
    /// Dead letters, one vector per dead-letter partition.
    pub dead: Vec<Vec<Record>>,
    /// Per input index: the next offset once this batch is committed (`None`: nothing read from it).
    pub next: Vec<Option<i64>>,
    /// Per input index: records read.
    pub handled: Vec<u64>,
    /// Records read.
    pub records_in: u64,
    /// Unified records written.
    pub records_out: u64,
    /// Records skipped because an earlier run had written them already (see `Pipeline::recover`).
    pub records_skipped: u64,
    /// Bytes of raw values read (skipped records not counted).
    pub bytes_in: u64,
    /// Bytes of unified records written (their JSON).
    pub bytes_out: u64,
    /// The reason of each dead letter.
    pub reasons: Vec<&'static str>,
}

impl Batch {
    /// Whether the round read nothing at all.
    pub fn is_empty(&self) -> bool {
        self.next.iter().all(Option::is_none)
    }
}

/// Maps `fetched` (records per input index) into a [`Batch`]. Records whose offset is in `skip[input]` were
/// written before the last crash: they are removed from `skip` and counted, not written again. Every record is
/// stamped `now` (Kafka retention goes by record time; the event's own time is in the payload).
pub fn prepare(
    layout: &Layout,
    fetched: Vec<Vec<RecordAndOffset>>,
    skip: &mut [OffsetRanges],
    now: DateTime<Utc>,
) -> Batch {
    let now_ms = now.timestamp_millis();
    let mut b = Batch {
        out: vec![Vec::new(); layout.output_partitions],
        dead: vec![Vec::new(); layout.dead_letter_partitions],
        next: vec![None; layout.inputs.len()],
        handled: vec![0; layout.inputs.len()],
        ..Batch::default()
    };
    for (idx, records) in fetched.into_iter().enumerate() {
        let (topic, partition) = (&layout.inputs[idx].0, layout.inputs[idx].1);
        let out = &mut b.out[route(partition, layout.output_partitions)];
        out.reserve(records.len());
        for r in records {
            b.next[idx] = Some(r.offset + 1);
            b.handled[idx] += 1;
            b.records_in += 1;
            if !skip[idx].is_empty() && skip[idx].remove(r.offset) {
                b.records_skipped += 1;
                continue;
            }
            let value = r.record.value.as_deref();
            b.bytes_in += value.map_or(0, |v| v.len() as u64);
            let src = Source { topic, partition, offset: r.offset };
            match encode(src, value, layout) {
                Ok(json) => {
                    b.bytes_out += json.len() as u64;
                    out.push(Record {
                        // No key, as in the original job's sink: the event id is in the value, and a key would
                        // cost an allocation and a second copy of it per record.
                        key: None,
                        value: Some(json),
                        headers: BTreeMap::new(),
                        timestamp: now,
                    });
                    b.records_out += 1;
                }
                Err(err) => {
                    warn!(topic, partition, offset = src.offset, reason = err.reason(), error = %err, "dead-lettered");
                    let letter = dead_letter(src, value, &err, layout.dead_letter_max_raw, now_ms);
                    b.dead[route(partition, layout.dead_letter_partitions)].push(Record {
                        key: Some(format!("{topic}/{partition}/{}", src.offset).into_bytes()),
                        value: Some(serde_json::to_vec(&letter).expect("a dead letter always serialises")),
                        headers: BTreeMap::new(),
                        timestamp: now,
                    });
                    b.reasons.push(err.reason());
                }
            }
        }
    }
    b
}

/// Bytes of a record batch that are not the record's value: the batch header (61 bytes) and one record's framing,
/// with room to spare.
pub const FRAMING: usize = 512;

/// The largest unified record a raw record of `raw_bytes` can give, with strings where the contract has strings:
/// each raw string is written at most twice (url, element_id and order_id again in details), never longer than its
/// JSON text in the raw record; the rest (event id, names, numbers, topic twice) takes under 4 KiB. Only an object
/// or array where a string belongs can grow past it (Flink's STRING coercion writes its JSON text, escaped again).
pub const fn output_bound(raw_bytes: usize) -> usize {
    raw_bytes.saturating_mul(2).saturating_add(OUTPUT_FIXED_BYTES)
}

/// The part of [`output_bound`] that does not grow with the raw record.
pub const OUTPUT_FIXED_BYTES: usize = 4096;

/// The largest raw record whose [`output_bound`] fits a record batch of `max_message_bytes` (its inverse).
pub const fn raw_bound(max_message_bytes: usize) -> usize {
    max_message_bytes.saturating_sub(FRAMING + OUTPUT_FIXED_BYTES) / 2
}

/// Maps one record and writes its unified JSON. A valid record whose unified form is over `max_output_bytes` is an
/// error too: the broker would refuse it forever and stall the partition.
fn encode(src: Source<'_>, value: Option<&[u8]>, layout: &Layout) -> Result<Vec<u8>, MapError> {
    let m = map(src, value, layout.max_record_bytes)?;
    let mut json = Vec::with_capacity(m.json_size_hint());
    m.write_json(&mut json);
    if json.len() > layout.max_output_bytes {
        return Err(MapError::OutputTooLarge { size: json.len(), max: layout.max_output_bytes });
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A raw record that fits `--max-record-bytes` is never dead-lettered for the size of its unified record,
        /// however its strings are escaped: the bound holds for strings in every string field.
        #[test]
        fn a_record_that_fits_always_fits_once_unified(
            strings in proptest::collection::vec(any::<String>(), 5),
            topic in "[a-z_]{1,249}",
            offset in any::<i64>(),
        ) {
            let [user, url, element, order, ip] = &strings[..] else { unreachable!() };
            let raw = serde_json::json!({"user_id": user, "url": url, "element_id": element, "order_id": order,
                "ip_address": ip, "amount": -1.2345678901234567e-300, "duration_seconds": i64::MIN,
                "timestamp": "2024-05-01 10:00:00.123"}).to_string();
            let layout = Layout {
                inputs: vec![(topic.clone(), i32::MAX)],
                output_partitions: 1,
                dead_letter_partitions: 1,
                max_record_bytes: raw.len(),
                max_output_bytes: output_bound(raw.len()),
                dead_letter_max_raw: 0,
            };
            let src = Source { topic: &topic, partition: i32::MAX, offset };
            let json = encode(src, Some(raw.as_bytes()), &layout);
            prop_assert!(json.is_ok(), "{:?}", json.err());
        }
    }

    fn rec(offset: i64, value: &[u8]) -> RecordAndOffset {
        let record = Record { key: None, value: Some(value.to_vec()), headers: BTreeMap::new(), timestamp: Utc::now() };
        RecordAndOffset { record, offset }
    }

    #[test]
    fn routes_records_dead_letters_and_skips() {
        let layout = Layout {
            inputs: vec![("orders".into(), 0), ("orders".into(), 4)],
            output_partitions: 3,
            dead_letter_partitions: 2,
            max_record_bytes: 1 << 20,
            max_output_bytes: output_bound(1 << 20),
            dead_letter_max_raw: 1024,
        };
        let ok = br#"{"user_id":"u","timestamp":"2024-05-01 10:00:00"}"#;
        let fetched = vec![vec![rec(10, ok), rec(11, b"nope"), rec(12, ok)], vec![rec(7, ok)]];
        let mut skip = vec![OffsetRanges::default(), OffsetRanges::default()];
        skip[0].insert(12);
        let b = prepare(&layout, fetched, &mut skip, Utc::now());
        assert!(skip.iter().all(OffsetRanges::is_empty), "the skipped record is consumed from the set");
        assert_eq!((b.records_in, b.records_out, b.records_skipped), (4, 2, 1));
        let written: usize = b.out.iter().flatten().map(|r| r.value.as_ref().map_or(0, Vec::len)).sum();
        assert_eq!(b.bytes_out, written as u64);
        assert_eq!(b.next, vec![Some(13), Some(8)]);
        assert_eq!(b.handled, vec![3, 1]);
        assert_eq!(b.reasons, vec!["invalid_json"]);
        // Input partition 0 goes to output partition 0, partition 4 to 4 % 3 = 1; the dead letter to 0 % 2.
        assert_eq!(b.out.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 0]);
        assert_eq!(b.dead.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 0]);
        assert_eq!(b.dead[0][0].key.as_deref(), Some(&b"orders/0/11"[..]));
        assert!(!b.is_empty());
        assert!(prepare(&layout, vec![vec![], vec![]], &mut skip, Utc::now()).is_empty());
    }
}
