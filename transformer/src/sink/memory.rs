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

use crate::ranges::OffsetRanges;
use crate::source::Input;
use crate::source::Source;

/// What the in-memory sink holds: `(topic, partition, offset)` of every row written, unified or dead letter.
#[derive(Debug, Default)]
pub struct MemorySink {
    /// Rows stored, in the order written.
    pub rows: Vec<(String, i32, i64)>,
    /// The next write stores its rows and then fails (a lost acknowledgement).
    pub lose_next_ack: bool,
}

/// A round for [`MemorySink`].
#[derive(Debug, Default)]
pub struct MemoryRound(Vec<(String, i32, i64)>);

impl Collect for MemoryRound {
    fn row(&mut self, _sink: usize, _row: Row<'_>, src: Source<'_>) -> Result<u64, MapError> {
        self.0.push((src.topic.to_owned(), src.partition, src.offset));
        Ok(1)
    }
    fn dead_letter(&mut self, d: &DeadLetter) {
        self.0.push((d.source_topic.clone(), d.source_partition, d.source_offset));
    }
}

impl MemorySink {
    /// What [`Sink::recover`] finds, for inputs given as `(topic, partition, next_offset)`.
    pub fn stored_past(&self, inputs: &[(String, i32, i64)]) -> Vec<OffsetRanges> {
        let mut skips = vec![OffsetRanges::default(); inputs.len()];
        for (t, p, o) in &self.rows {
            if let Some(idx) = inputs.iter().position(|(it, ip, next)| it == t && ip == p && o >= next) {
                skips[idx].insert(*o);
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
        MemoryRound::default()
    }
    async fn write(&mut self, round: MemoryRound) -> Result<()> {
        self.rows.extend(round.0);
        if std::mem::take(&mut self.lose_next_ack) {
            // Written, but the answer never came.
            return Err(Error::Timeout { server: "memory", what: "the write", waited: std::time::Duration::ZERO });
        }
        Ok(())
    }
    async fn recover(&mut self, committed: Option<&Checkpoint>, inputs: &[Input]) -> Result<Recovered> {
        if committed.is_none() {
            return Ok(Recovered { skips: vec![OffsetRanges::default(); inputs.len()], scanned: 0 });
        }
        let ids: Vec<_> =
            inputs.iter().map(|i| (i.client.topic().to_owned(), i.client.partition(), i.next_offset)).collect();
        Ok(Recovered { skips: self.stored_past(&ids), scanned: self.rows.len() as u64 })
    }
    fn marks(&self, _skips_ahead: bool) -> BTreeMap<String, i64> {
        BTreeMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{prepare, Layout};

    fn fetched(offsets: std::ops::Range<i64>) -> Vec<Vec<rskafka::record::RecordAndOffset>> {
        let ok = br#"{"user_id":"u","timestamp":"2024-05-01 10:00:00"}"#;
        vec![offsets
            .map(|offset| rskafka::record::RecordAndOffset {
                record: rskafka::record::Record {
                    key: None,
                    value: Some(if offset % 7 == 3 { b"nope".to_vec() } else { ok.to_vec() }),
                    headers: BTreeMap::new(),
                    timestamp: Utc::now(),
                },
                offset,
            })
            .collect()]
    }

    proptest::proptest! {
        /// The loop's protocol on the two seams, with crashes anywhere: a round is written, then committed; a crash
        /// may come after the write (the acknowledgement or the commit lost); a restart loads the newest checkpoint
        /// and skips what the sink already holds past it. Whatever the crash points and round sizes, every offset
        /// is stored exactly once.
        #[test]
        fn crashes_anywhere_store_every_offset_once(
            rounds in proptest::collection::vec((1i64..40, proptest::bool::ANY), 1..40),
        ) {
            use crate::checkpoint::{Checkpoint, MemoryStore, OffsetStore};
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
            rt.block_on(async {
                let total = 300;
                let layout = Layout::new(std::sync::Arc::new(job::Plan::new(job::DEFAULT_JOB_NAME, job::DEFAULT_JOB).unwrap()), vec![("orders".into(), 0)], false, 1 << 20, 64);
                let (mut sink, store) = (MemorySink::default(), MemoryStore::default());
                let mut rounds = rounds.into_iter().cycle();
                let mut position: Option<i64> = None; // None: restarting
                let mut skips = vec![OffsetRanges::default()];
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
                    let (size, crash) = rounds.next().expect("cycles");
                    let (out, b) = prepare(&layout, fetched(at..(at + size).min(total)), &mut skips, sink.round(Utc::now()), 0).take_out();
                    sink.write(out).await.expect("written");
                    if crash && crashes < 100 {
                        crashes += 1;
                        position = None; // died after the write, before the commit
                        continue;
                    }
                    let next = b.next[0].expect("read something");
                    let cp = Checkpoint { next_offsets: [("orders/0".to_string(), next)].into(), ..Default::default() };
                    store.commit(&cp).await.expect("committed");
                    position = Some(next);
                }
                let mut offsets: Vec<i64> = sink.rows.iter().map(|r| r.2).collect();
                offsets.sort_unstable();
                proptest::prop_assert_eq!(offsets, (0..total).collect::<Vec<_>>());
                Ok(())
            })?;
        }
    }

    /// The rule the loop relies on with any sink: a round whose acknowledgement was lost is replayed from the
    /// committed position, and what the sink already holds is skipped: every offset stored exactly once.
    #[tokio::test]
    async fn a_round_replayed_after_a_lost_ack_is_stored_once() {
        let layout = Layout::new(
            std::sync::Arc::new(job::Plan::new(job::DEFAULT_JOB_NAME, job::DEFAULT_JOB).unwrap()),
            vec![("orders".into(), 0)],
            false,
            1 << 20,
            64,
        );
        let mut sink = MemorySink { lose_next_ack: true, ..MemorySink::default() };
        let committed = 0;
        let mut skips = vec![OffsetRanges::default()];
        let (out, _) = prepare(&layout, fetched(0..20), &mut skips, sink.round(Utc::now()), 0).take_out();
        assert!(sink.write(out).await.is_err(), "the ack is lost: nothing is committed");
        // Recovery from the committed position; the round is fetched again, and again a bit more.
        let mut skips = sink.stored_past(&[("orders".into(), 0, committed)]);
        assert_eq!(skips[0].len(), 20);
        let (out, b) = prepare(&layout, fetched(0..30), &mut skips, sink.round(Utc::now()), 0).take_out();
        sink.write(out).await.expect("written");
        assert_eq!((b.records_in, b.records_skipped), (30, 20));
        let mut offsets: Vec<i64> = sink.rows.iter().map(|r| r.2).collect();
        offsets.sort_unstable();
        assert_eq!(offsets, (0..30).collect::<Vec<_>>(), "each offset once, dead letters included");
    }
}
