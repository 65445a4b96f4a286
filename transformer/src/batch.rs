//! One round's fetched records mapped into the sink's form ([`crate::sink::Collect`]): unified records, dead
//! letters, and where each input partition stands after the round. Pure apart from a log line per dead letter: no
//! I/O, no clock (the caller passes `now`), so it is tested without a broker.

use rskafka::record::RecordAndOffset;
use tracing::warn;

use crate::dead_letter::dead_letter;
use crate::map::{map, Source};
use crate::ranges::OffsetRanges;
use crate::sink::Collect;

/// What mapping a round needs to know besides the records; fixed for the life of a pipeline.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `(topic, partition)` of each input, by input index.
    pub inputs: Vec<(String, i32)>,
    /// Larger raw records are dead-lettered unread (`--max-record-bytes`).
    pub max_record_bytes: usize,
    /// Bytes of the raw value a dead letter keeps (`--dead-letter-max-raw`).
    pub dead_letter_max_raw: usize,
}

/// Where records from `source_partition` go among `partitions` output partitions. Fixed, so the records of one
/// source partition stay in order in one output partition.
pub fn route(source_partition: i32, partitions: usize) -> usize {
    source_partition.unsigned_abs() as usize % partitions
}

/// One round, mapped and ready to write.
#[derive(Debug, Default)]
pub struct Batch<R> {
    /// The unified records and dead letters, in the sink's form.
    pub out: R,
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
    /// Bytes of unified records written, as the sink writes them (JSON for Kafka, RowBinary for ClickHouse).
    pub bytes_out: u64,
    /// The reason of each dead letter.
    pub reasons: Vec<&'static str>,
}

impl<R> Batch<R> {
    /// Whether the round read nothing at all.
    pub fn is_empty(&self) -> bool {
        self.next.iter().all(Option::is_none)
    }

    /// The output, for the sink to write, and the rest, for the books once it is acknowledged.
    pub fn take_out(self) -> (R, Batch<()>) {
        let Batch { out, next, handled, records_in, records_out, records_skipped, bytes_in, bytes_out, reasons } = self;
        (out, Batch { out: (), next, handled, records_in, records_out, records_skipped, bytes_in, bytes_out, reasons })
    }
}

/// Maps `fetched` (records per input index) into `out`. Records whose offset is in `skip[input]` were written
/// before the last crash: they are removed from `skip` and counted, not written again. `now_ms` stamps the dead
/// letters.
pub fn prepare<R: Collect>(
    layout: &Layout,
    fetched: Vec<Vec<RecordAndOffset>>,
    skip: &mut [OffsetRanges],
    out: R,
    now_ms: i64,
) -> Batch<R> {
    let mut b = Batch {
        out,
        next: vec![None; layout.inputs.len()],
        handled: vec![0; layout.inputs.len()],
        records_in: 0,
        records_out: 0,
        records_skipped: 0,
        bytes_in: 0,
        bytes_out: 0,
        reasons: Vec::new(),
    };
    for (idx, records) in fetched.into_iter().enumerate() {
        let (topic, partition) = (&layout.inputs[idx].0, layout.inputs[idx].1);
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
            match map(src, value, layout.max_record_bytes).and_then(|m| b.out.event(&m)) {
                Ok(size) => {
                    b.bytes_out += size;
                    b.records_out += 1;
                }
                Err(err) => {
                    warn!(topic, partition, offset = src.offset, reason = err.reason(), error = %err, "dead-lettered");
                    b.out.dead_letter(&dead_letter(src, value, &err, layout.dead_letter_max_raw, now_ms));
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;
    use proptest::prelude::*;
    use rskafka::record::Record;

    use super::*;
    use crate::sink::kafka::KafkaRound;

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
            let src = Source { topic: &topic, partition: i32::MAX, offset };
            let m = map(src, Some(raw.as_bytes()), raw.len()).expect("a valid record");
            let written = KafkaRound::new(1, 1, output_bound(raw.len()), Utc::now()).event(&m);
            prop_assert!(written.is_ok(), "{:?}", written.err());
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
            max_record_bytes: 1 << 20,
            dead_letter_max_raw: 1024,
        };
        let round = || KafkaRound::new(3, 2, output_bound(1 << 20), Utc::now());
        let ok = br#"{"user_id":"u","timestamp":"2024-05-01 10:00:00"}"#;
        let fetched = vec![vec![rec(10, ok), rec(11, b"nope"), rec(12, ok)], vec![rec(7, ok)]];
        let mut skip = vec![OffsetRanges::default(), OffsetRanges::default()];
        skip[0].insert(12);
        let b = prepare(&layout, fetched, &mut skip, round(), 0);
        assert!(skip.iter().all(OffsetRanges::is_empty), "the skipped record is consumed from the set");
        assert_eq!((b.records_in, b.records_out, b.records_skipped), (4, 2, 1));
        let written: usize = b.out.out.iter().flatten().map(|r| r.value.as_ref().map_or(0, Vec::len)).sum();
        assert_eq!(b.bytes_out, written as u64);
        assert_eq!(b.next, vec![Some(13), Some(8)]);
        assert_eq!(b.handled, vec![3, 1]);
        assert_eq!(b.reasons, vec!["invalid_json"]);
        // Input partition 0 goes to output partition 0, partition 4 to 4 % 3 = 1; the dead letter to 0 % 2.
        assert_eq!(b.out.out.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 0]);
        assert_eq!(b.out.dead.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 0]);
        assert_eq!(b.out.dead[0][0].key.as_deref(), Some(&b"orders/0/11"[..]));
        assert!(!b.is_empty());
        assert!(prepare(&layout, vec![vec![], vec![]], &mut skip, round(), 0).is_empty());
    }

    #[test]
    fn a_unified_record_over_the_topic_limit_becomes_a_dead_letter() {
        let layout = Layout { inputs: vec![("orders".into(), 0)], max_record_bytes: 1 << 20, dead_letter_max_raw: 64 };
        let ok = br#"{"user_id":"u","timestamp":"2024-05-01 10:00:00"}"#;
        let b = prepare(
            &layout,
            vec![vec![rec(0, ok)]],
            &mut [OffsetRanges::default()],
            KafkaRound::new(1, 1, 100, Utc::now()),
            0,
        );
        assert_eq!((b.records_out, b.reasons.clone()), (0, vec!["too_large"]));
        assert_eq!(b.out.dead[0].len(), 1);
    }
}
