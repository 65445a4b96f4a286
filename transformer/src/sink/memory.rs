//! An in-memory sink for unit tests of the loop's logic: it stores rows with their source coordinates, can be told
//! to fail or to "crash" after storing (the acknowledgement lost), and recovers as the real sinks do, by looking up
//! what it holds past the committed positions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use contract::processed::DeadLetter;

use super::{Collect, Recovered, Sink};
use crate::checkpoint::Checkpoint;
use crate::config::Config;
use crate::error::{Error, Result};
use job::{MapError, Row};

use crate::ranges::Written;
use crate::source::Input;
use crate::source::Source;

/// What the in-memory sink holds: `(output, topic, partition, offset)` of every row written (output: the job's sink
/// by index, then the dead letters).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// Rows stored, in the order written.
    pub rows: Vec<(usize, String, i32, i64)>,
    /// The next write stores its rows and then fails (a lost acknowledgement).
    pub lose_next_ack: bool,
    /// The next write stores only the rows of the outputs marked here, then fails (one topic or table
    /// acknowledged, another not).
    pub partial_next: Option<Vec<bool>>,
    /// The number of the job's sinks: the dead letters are the output after them.
    pub sinks: usize,
}

/// A round for [`MemorySink`].
#[derive(Debug, Default)]
pub struct MemoryRound {
    rows: Vec<(usize, String, i32, i64)>,
    dead: usize,
}

impl Collect for MemoryRound {
    fn row(&mut self, sink: usize, _row: Row<'_>, src: Source<'_>) -> Result<u64, MapError> {
        self.rows.push((sink, src.topic.to_owned(), src.partition, src.offset));
        Ok(1)
    }
    fn dead_letter(&mut self, d: &DeadLetter) {
        self.rows.push((self.dead, d.source_topic.clone(), d.source_partition, d.source_offset));
    }
}

impl MemorySink {
    /// A sink for a job with `sinks` sinks.
    pub fn new(sinks: usize) -> Self {
        Self { sinks, ..Self::default() }
    }

    /// What [`Sink::recover`] finds, for inputs given as `(topic, partition, next_offset)`.
    pub fn stored_past(&self, inputs: &[(String, i32, i64)]) -> Vec<Written> {
        let mut skips = vec![Written::default(); inputs.len()];
        for (output, t, p, o) in &self.rows {
            if let Some(idx) = inputs.iter().position(|(it, ip, next)| it == t && ip == p && o >= next) {
                skips[idx].insert(*output, *o);
            }
        }
        skips
    }
}

impl Sink for MemorySink {
    type Round = MemoryRound;

    async fn open(_cfg: &Config, _security: &runtime::security::Security) -> Result<Self> {
        Ok(Self::default())
    }
    fn name(&self) -> &'static str {
        "memory"
    }
    fn round(&self, _now: DateTime<Utc>) -> MemoryRound {
        MemoryRound { rows: Vec::new(), dead: self.sinks }
    }
    async fn write(&mut self, round: MemoryRound) -> Result<()> {
        if let Some(outputs) = self.partial_next.take() {
            self.rows.extend(round.rows.into_iter().filter(|r| outputs.get(r.0).copied().unwrap_or(false)));
            return Err(Error::Timeout { server: "memory", what: "the write", waited: std::time::Duration::ZERO });
        }
        self.rows.extend(round.rows);
        if std::mem::take(&mut self.lose_next_ack) {
            // Written, but the answer never came.
            return Err(Error::Timeout { server: "memory", what: "the write", waited: std::time::Duration::ZERO });
        }
        Ok(())
    }
    async fn recover(&mut self, committed: Option<&Checkpoint>, inputs: &[Input]) -> Result<Recovered> {
        if committed.is_none() {
            return Ok(Recovered { skips: vec![Written::default(); inputs.len()], scanned: 0 });
        }
        let ids: Vec<_> =
            inputs.iter().map(|i| (i.client.topic().to_owned(), i.client.partition(), i.next_offset)).collect();
        Ok(Recovered { skips: self.stored_past(&ids), scanned: self.rows.len() as u64 })
    }
    fn marks(&self, _skips_ahead: bool) -> BTreeMap<String, i64> {
        BTreeMap::new()
    }
}

/// Two sinks from one read, so that a round can reach one and not the other: `a` takes every record that
/// parses, `b` only those whose timestamp parses (the others are dead letters for `b`); output 2 is the dead
/// letters. For the tests of the loop here and in `pipeline/`.
#[cfg(test)]
pub(crate) const TWO_SINKS: &str = "CREATE TABLE src (user_id STRING, `timestamp` STRING)
      WITH ('connector' = 'kafka', 'topic' = 'orders', 'format' = 'json');
    CREATE TABLE a (user_id STRING NOT NULL) WITH ('connector' = 'kafka', 'topic' = 'a', 'format' = 'json');
    CREATE TABLE b (user_id STRING NOT NULL, ts TIMESTAMP(3) NOT NULL)
      WITH ('connector' = 'kafka', 'topic' = 'b', 'format' = 'json');
    EXECUTE STATEMENT SET BEGIN
      INSERT INTO a SELECT user_id FROM src;
      INSERT INTO b SELECT user_id, TO_TIMESTAMP(`timestamp`) FROM src;
    END;";

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::batch::{prepare, Layout};

    fn layout(job: &str) -> Layout {
        Layout::new(Arc::new(job::Plan::new("test.sql", job).unwrap()), vec![("orders".into(), 0)], false, 1 << 20, 64)
    }

    fn fetched(offsets: std::ops::Range<i64>) -> Vec<Vec<rskafka::record::RecordAndOffset>> {
        let ok = br#"{"user_id":"u","timestamp":"2024-05-01 10:00:00"}"#;
        let late = br#"{"user_id":"u","timestamp":"whenever"}"#;
        vec![offsets
            .map(|offset| rskafka::record::RecordAndOffset {
                record: rskafka::record::Record {
                    key: None,
                    value: Some(match offset % 7 {
                        3 => b"nope".to_vec(),
                        5 => late.to_vec(),
                        _ => ok.to_vec(),
                    }),
                    headers: BTreeMap::new(),
                    timestamp: Utc::now(),
                },
                offset,
            })
            .collect()]
    }

    /// The `(output, offset)` of everything written, sorted.
    fn written(sink: &MemorySink) -> Vec<(usize, i64)> {
        let mut all: Vec<(usize, i64)> = sink.rows.iter().map(|r| (r.0, r.3)).collect();
        all.sort_unstable();
        all
    }

    /// How a round ends: acknowledged and committed, written with its acknowledgement lost, or written only to
    /// some of the outputs (one topic acknowledged, another not).
    #[derive(Debug, Clone)]
    enum End {
        Committed,
        AckLost,
        Partial(Vec<bool>),
    }

    fn end() -> impl proptest::strategy::Strategy<Value = End> {
        use proptest::prelude::*;
        prop_oneof![
            2 => Just(End::Committed),
            1 => Just(End::AckLost),
            1 => proptest::collection::vec(any::<bool>(), 3).prop_map(End::Partial),
        ]
    }

    proptest::proptest! {
        /// The loop's protocol on the two seams, with crashes anywhere: a round is written, then committed; a crash
        /// may come after the write (the acknowledgement or the commit lost) or in the middle of it (some outputs
        /// written, others not); a restart loads the newest checkpoint and skips, per output, what the sink already
        /// holds past it. Whatever the crash points and round sizes, every output of every offset is stored exactly
        /// once: what a run without crashes stores.
        #[test]
        fn crashes_anywhere_store_every_output_once(
            rounds in proptest::collection::vec((1i64..40, end()), 1..40),
        ) {
            use crate::checkpoint::{Checkpoint, MemoryStore, OffsetStore};
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
            rt.block_on(async {
                let total = 300;
                let layout = layout(TWO_SINKS);
                let mut clean = MemorySink::new(2);
                let (out, _) = prepare(&layout, fetched(0..total), &mut [Written::default()], clean.round(Utc::now()), 0).take_out();
                clean.write(out).await.expect("written");
                let (mut sink, store) = (MemorySink::new(2), MemoryStore::default());
                let mut rounds = rounds.into_iter().cycle();
                let mut position: Option<i64> = None; // None: restarting
                let mut skips = vec![Written::default()];
                let mut crashes = 0; // at most 100, so a case of only crashing rounds still ends
                loop {
                    let at = match position {
                        Some(at) => at,
                        None => {
                            let committed = store.load().await.expect("loads");
                            let at = committed.as_ref().map_or(0, |cp| cp.next_offsets["orders/0"]);
                            skips = sink.stored_past(&[("orders".into(), 0, at)]);
                            if committed.is_none() {
                                // The pipeline's rule: a checkpoint before the first write, so that a start with
                                // none has nothing of its own to find (without it, offset 0 is written again after
                                // a crash in the first round: this property found that).
                                let first = [("orders/0".to_string(), 0)].into();
                                store.commit(&Checkpoint { next_offsets: first, ..Default::default() }).await.expect("committed");
                            }
                            at
                        }
                    };
                    if at >= total {
                        break;
                    }
                    let (size, end) = rounds.next().expect("cycles");
                    let end = if crashes < 100 { end } else { End::Committed };
                    match &end {
                        End::AckLost => sink.lose_next_ack = true,
                        End::Partial(outputs) => sink.partial_next = Some(outputs.clone()),
                        End::Committed => {}
                    }
                    let (out, b) = prepare(&layout, fetched(at..(at + size).min(total)), &mut skips, sink.round(Utc::now()), 0).take_out();
                    if sink.write(out).await.is_err() {
                        crashes += 1;
                        position = None; // died before the commit
                        continue;
                    }
                    let next = b.next[0].expect("read something");
                    let cp = Checkpoint { next_offsets: [("orders/0".to_string(), next)].into(), ..Default::default() };
                    store.commit(&cp).await.expect("committed");
                    position = Some(next);
                }
                proptest::prop_assert_eq!(written(&sink), written(&clean));
                Ok(())
            })?;
        }
    }

    /// The rule the loop relies on with any sink: a round whose acknowledgement was lost is replayed from the
    /// committed position, and what the sink already holds is skipped: every offset stored exactly once.
    #[tokio::test]
    async fn a_round_replayed_after_a_lost_ack_is_stored_once() {
        let layout = layout(job::DEFAULT_JOB);
        let mut sink = MemorySink { lose_next_ack: true, ..MemorySink::new(1) };
        let committed = 0;
        let mut skips = vec![Written::default()];
        let (out, _) = prepare(&layout, fetched(0..20), &mut skips, sink.round(Utc::now()), 0).take_out();
        assert!(sink.write(out).await.is_err(), "the ack is lost: nothing is committed");
        // Recovery from the committed position; the round is fetched again, and again a bit more.
        let mut skips = sink.stored_past(&[("orders".into(), 0, committed)]);
        assert_eq!(skips[0].len(), 20);
        let (out, b) = prepare(&layout, fetched(0..30), &mut skips, sink.round(Utc::now()), 0).take_out();
        sink.write(out).await.expect("written");
        assert_eq!((b.records_in, b.records_skipped), (30, 20));
        let mut offsets: Vec<i64> = sink.rows.iter().map(|r| r.3).collect();
        offsets.sort_unstable();
        assert_eq!(offsets, (0..30).collect::<Vec<_>>(), "each offset once, dead letters included");
    }

    /// A round that reached one sink and not the other is written again to the other only.
    #[tokio::test]
    async fn a_round_that_reached_one_sink_is_written_again_to_the_other_only() {
        let layout = layout(TWO_SINKS);
        let mut sink = MemorySink { partial_next: Some(vec![true, false, false]), ..MemorySink::new(2) };
        let (out, _) = prepare(&layout, fetched(0..7), &mut [Written::default()], sink.round(Utc::now()), 0).take_out();
        assert!(sink.write(out).await.is_err());
        let in_a: Vec<i64> = sink.rows.iter().map(|r| r.3).collect();
        assert_eq!(in_a, [0, 1, 2, 4, 5, 6], "a holds every record that parsed; b and the dead letters nothing");
        let mut skips = sink.stored_past(&[("orders".into(), 0, 0)]);
        let (out, b) = prepare(&layout, fetched(0..7), &mut skips, sink.round(Utc::now()), 0).take_out();
        sink.write(out).await.expect("written");
        assert_eq!(b.records_skipped, 6);
        let mut clean = MemorySink::new(2);
        let (out, _) =
            prepare(&layout, fetched(0..7), &mut [Written::default()], clean.round(Utc::now()), 0).take_out();
        clean.write(out).await.expect("written");
        assert_eq!(written(&sink), written(&clean), "b's rows and the dead letters written once, a's not again");
    }
}
