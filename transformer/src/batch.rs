//! One round's fetched records mapped through the job into the sink's form ([`crate::sink::Collect`]): rows,
//! dead letters, and where each input partition stands after the round. Pure apart from a log line per dead
//! letter: no I/O, no clock (the caller passes `now`), so it is tested without a broker.

use std::sync::Arc;

use job::{Emit, MapError, Plan, Row};
use rskafka::record::RecordAndOffset;
use tracing::warn;

use crate::dead_letter::dead_letter;
use crate::ranges::Written;
use crate::sink::Collect;
use crate::source::Source;

/// What mapping a round needs to know besides the records: the job, and which of its sources read each input.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `(topic, partition)` of each input, by input index.
    pub inputs: Vec<(String, i32)>,
    /// The planned job.
    pub plan: Arc<Plan>,
    /// Per input index: the job's sources that read it.
    pub sources: Vec<Vec<usize>>,
    /// The input topics came from `--input-topics`, not from the job: a topic no source names is read by the job's
    /// one source (a job with several sources must name every such topic; the start checks it).
    pub topics_from_flags: bool,
    /// Larger raw records are dead-lettered unread (`--max-record-bytes`).
    pub max_record_bytes: usize,
    /// Bytes of the raw value a dead letter keeps (`--dead-letter-max-raw`).
    pub dead_letter_max_raw: usize,
}

impl Layout {
    /// The layout for `inputs`.
    pub fn new(
        plan: Arc<Plan>,
        inputs: Vec<(String, i32)>,
        topics_from_flags: bool,
        max_record_bytes: usize,
        dead_letter_max_raw: usize,
    ) -> Self {
        let mut l = Layout {
            inputs: Vec::new(),
            plan,
            sources: Vec::new(),
            topics_from_flags,
            max_record_bytes,
            dead_letter_max_raw,
        };
        l.set_inputs(inputs);
        l
    }

    /// New inputs (after a rebalance).
    pub fn set_inputs(&mut self, inputs: Vec<(String, i32)>) {
        self.sources = inputs
            .iter()
            .map(|(t, _)| match self.plan.sources_reading(t) {
                s if s.is_empty() && self.topics_from_flags => vec![0],
                s => s,
            })
            .collect();
        self.inputs = inputs;
    }
}

/// One round, mapped and ready to write.
#[derive(Debug, Default)]
pub struct Batch<R> {
    /// The rows and dead letters, in the sink's form.
    pub out: R,
    /// Per input index: the next offset once this batch is committed (`None`: nothing read from it).
    pub next: Vec<Option<i64>>,
    /// Per input index: records read.
    pub handled: Vec<u64>,
    /// Records read.
    pub records_in: u64,
    /// Rows written (a record gives one per INSERT that selects it).
    pub records_out: u64,
    /// Records an earlier run had written already (see `Pipeline::recover`): to every output that holds them they
    /// are not written again.
    pub records_skipped: u64,
    /// Rows dropped for a NULL in a NOT NULL column (`table.exec.sink.not-null-enforcer` = DROP).
    pub records_dropped: u64,
    /// Bytes of raw values read (skipped records not counted).
    pub bytes_in: u64,
    /// Bytes of rows written, as the sink writes them (JSON for Kafka, RowBinary for ClickHouse).
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
        let Batch {
            out,
            next,
            handled,
            records_in,
            records_out,
            records_skipped,
            records_dropped,
            bytes_in,
            bytes_out,
            reasons,
        } = self;
        let rest = Batch {
            out: (),
            next,
            handled,
            records_in,
            records_out,
            records_skipped,
            records_dropped,
            bytes_in,
            bytes_out,
            reasons,
        };
        (out, rest)
    }
}

/// Maps `fetched` (records per input index) into `out`. A record whose offset is in `skip[input]` was written before
/// the last crash to the outputs that hold it: it is taken out of `skip`, counted, and written only to the others. `now_ms` stamps the dead
/// letters and is the job's `NOW()`.
pub fn prepare<R: Collect>(
    layout: &Layout,
    fetched: Vec<Vec<RecordAndOffset>>,
    skip: &mut [Written],
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
        records_dropped: 0,
        bytes_in: 0,
        bytes_out: 0,
        reasons: Vec::new(),
    };
    let mut scratch = job::Scratch::default();
    for (idx, records) in fetched.into_iter().enumerate() {
        let (topic, partition) = (&layout.inputs[idx].0, layout.inputs[idx].1);
        for r in records {
            b.next[idx] = Some(r.offset + 1);
            b.handled[idx] += 1;
            b.records_in += 1;
            let held = if skip[idx].is_empty() { None } else { skip[idx].take(r.offset) };
            if held.is_some() {
                b.records_skipped += 1;
            }
            let value = r.record.value.as_deref();
            if held.is_none() {
                b.bytes_in += value.map_or(0, |v| v.len() as u64);
            }
            let src = Source { topic, partition, offset: r.offset };
            let rec = job::Record {
                topic,
                partition,
                offset: r.offset,
                timestamp_ms: r.record.timestamp.timestamp_millis(),
                key: r.record.key.as_deref(),
                value,
                headers: Some(&r.record.headers),
            };
            let mut emit = Emitter { batch: &mut b, layout, src, value, now_ms, held: held.as_deref() };
            for &source in &layout.sources[idx] {
                layout.plan.map_with(&mut scratch, source, &rec, layout.max_record_bytes, now_ms, &mut emit);
            }
        }
    }
    b
}

/// What the job gives for one record, into the round.
struct Emitter<'a, 'b, R> {
    batch: &'b mut Batch<R>,
    layout: &'a Layout,
    src: Source<'a>,
    value: Option<&'a [u8]>,
    now_ms: i64,
    /// The outputs that already hold this record's output (`held[output]`; the dead letters after the sinks).
    held: Option<&'a [bool]>,
}

impl<R> Emitter<'_, '_, R> {
    /// Whether `output` already holds this record's output (written before the last crash).
    fn held(&self, output: usize) -> bool {
        self.held.is_some_and(|h| h.get(output).copied().unwrap_or(false))
    }
}

impl<R: Collect> Emit for Emitter<'_, '_, R> {
    fn row(&mut self, sink: usize, row: Row<'_>) -> Result<u64, MapError> {
        if self.held(sink) {
            return Ok(0);
        }
        let size = self.batch.out.row(sink, row, self.src)?;
        self.batch.bytes_out += size;
        self.batch.records_out += 1;
        Ok(size)
    }

    fn dead_letter(&mut self, sink: Option<usize>, err: MapError) {
        if self.held(self.layout.plan.sinks.len()) {
            return;
        }
        let src = self.src;
        let sink = sink.filter(|_| self.layout.plan.sinks.len() > 1).map(|s| self.layout.plan.sinks[s].name.as_str());
        warn!(topic = src.topic, partition = src.partition, offset = src.offset, sink, reason = err.reason(), error = %err, "dead-lettered");
        let mut letter = dead_letter(src, self.value, &err, self.layout.dead_letter_max_raw, self.now_ms);
        if let Some(sink) = sink {
            // One record can fail one INSERT and pass another: the letter names the sink whose row failed.
            letter.error = format!("{sink}: {}", letter.error);
        }
        self.batch.out.dead_letter(&letter);
        self.batch.reasons.push(err.reason());
    }

    fn dropped(&mut self, _sink: usize) {
        self.batch.records_dropped += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;
    use proptest::prelude::*;
    use rskafka::record::Record;

    use super::*;
    use crate::limits::output_bound;
    use crate::sink::job_sink::JobRound;

    fn default_job() -> Arc<Plan> {
        Arc::new(Plan::new(job::DEFAULT_JOB_NAME, job::DEFAULT_JOB).unwrap())
    }

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
            let layout = Layout::new(default_job(), vec![(topic, i32::MAX)], true, raw.len(), 64);
            let round = JobRound::new(&[(1, false)], 1, output_bound(raw.len()), Utc::now());
            let b = prepare(&layout, vec![vec![rec(offset, raw.as_bytes())]], &mut [Written::default()], round, 0);
            prop_assert!(b.reasons.is_empty(), "{:?}", b.out.dead);
            prop_assert_eq!(b.records_out, 1);
        }
    }

    fn rec(offset: i64, value: &[u8]) -> RecordAndOffset {
        let record = Record { key: None, value: Some(value.to_vec()), headers: BTreeMap::new(), timestamp: Utc::now() };
        RecordAndOffset { record, offset }
    }

    #[test]
    fn routes_records_dead_letters_and_skips() {
        let layout = Layout::new(default_job(), vec![("orders".into(), 0), ("orders".into(), 4)], false, 1 << 20, 1024);
        let round = || JobRound::new(&[(3, false)], 2, output_bound(1 << 20), Utc::now());
        let ok = br#"{"user_id":"u","timestamp":"2024-05-01 10:00:00"}"#;
        let fetched = vec![vec![rec(10, ok), rec(11, b"nope"), rec(12, ok)], vec![rec(7, ok)]];
        let mut skip = vec![Written::default(), Written::default()];
        skip[0].insert(0, 12);
        let b = prepare(&layout, fetched, &mut skip, round(), 0);
        assert!(skip.iter().all(Written::is_empty), "the skipped record is consumed from the set");
        assert_eq!((b.records_in, b.records_out, b.records_skipped), (4, 2, 1));
        let written: usize = b.out.topic(0).iter().flatten().map(|r| r.value.as_ref().map_or(0, Vec::len)).sum();
        assert_eq!(b.bytes_out, written as u64);
        assert_eq!(b.next, vec![Some(13), Some(8)]);
        assert_eq!(b.handled, vec![3, 1]);
        assert_eq!(b.reasons, vec!["invalid_json"]);
        // Input partition 0 goes to output partition 0, partition 4 to 4 % 3 = 1; the dead letter to 0 % 2.
        assert_eq!(b.out.topic(0).iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 0]);
        assert_eq!(b.out.dead.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 0]);
        assert_eq!(b.out.dead[0][0].key.as_deref(), Some(&b"orders/0/11"[..]));
        assert!(!b.is_empty());
        assert!(prepare(&layout, vec![vec![], vec![]], &mut skip, round(), 0).is_empty());
    }

    #[test]
    fn a_unified_record_over_the_topic_limit_becomes_a_dead_letter() {
        let layout = Layout::new(default_job(), vec![("orders".into(), 0)], false, 1 << 20, 64);
        let ok = br#"{"user_id":"u","timestamp":"2024-05-01 10:00:00"}"#;
        let b = prepare(
            &layout,
            vec![vec![rec(0, ok)]],
            &mut [Written::default()],
            JobRound::new(&[(1, false)], 1, 100, Utc::now()),
            0,
        );
        assert_eq!((b.records_out, b.reasons.clone()), (0, vec!["too_large"]));
        assert_eq!(b.out.dead[0].len(), 1);
    }
}
