//! A round's cadence (`sink.flush-interval`, `sink.batch-size`, see [`crate::config::Cadence`]): after its first
//! fetch, a round goes on fetching each partition from where its records end, until the flush interval has passed
//! since the round's first fetch went out (during the last round's write, when it was sent ahead: what a write takes
//! is not added to the interval), or the round holds `sink.batch-size` records or its memory budget, or the loop has
//! something else to do (a stop, a rebalance, `--drain` at the end). The round is then written and committed as
//! one: one INSERT per table, however many fetches it took. A slow stream makes a part per interval, not per fetch.
//!
//! A further fetch is taken only where it continues exactly where the partition's records end. Anything else (an
//! error, a gap, a position past the end) ends that partition's gathering and is not looked into here: the next
//! round's first fetch, from the committed position, meets it and handles it as every fetch does
//! ([`source::settle`]: lost records reported, unreadable batches stopped, `--on-offset-out-of-range`).

use std::time::{Duration, Instant};

use futures::future::join_all;
use rskafka::record::RecordAndOffset;

use super::Pipeline;
use crate::checkpoint::OffsetStore;
use crate::sink::Sink;
use crate::source;

impl<S: Sink, O: OffsetStore> Pipeline<S, O> {
    /// Fetches more into `fetched` (records per input, as the round's first fetch left them) while the cadence
    /// asks for it; `open` says which inputs may be fetched from (their first fetch read records, or nothing yet);
    /// `began` is when the round's first fetch went out.
    pub(super) async fn gather(&mut self, fetched: &mut [Vec<RecordAndOffset>], mut open: Vec<bool>, began: Instant) {
        let cadence = self.cfg.cadence();
        if cadence.gather.is_zero() {
            return;
        }
        let budget = self.cfg.round_raw_bytes();
        let max_records = cadence.max_records.unwrap_or(u64::MAX);
        let (max_bytes, max_wait) = (self.cfg.partition_fetch_bytes(self.inputs.len()), self.cfg.fetch_max_wait_ms);
        let next = |input: &source::Input, records: &[RecordAndOffset]| {
            records.last().map_or(input.next_offset, |r| r.offset + 1)
        };
        loop {
            if self.cfg.drain {
                for ((input, records), open) in self.inputs.iter().zip(fetched.iter()).zip(open.iter_mut()) {
                    *open &= next(input, records) < input.high_watermark;
                }
            }
            let held = fetched.iter().map(|r| r.len() as u64).sum::<u64>();
            let bytes: u64 = fetched.iter().flatten().map(|r| r.record.value.as_ref().map_or(0, Vec::len) as u64).sum();
            let left = cadence.gather.saturating_sub(began.elapsed());
            let fetching = open.iter().filter(|o| **o).count() as u64;
            if left.is_zero()
                || held >= max_records
                || bytes >= budget
                || fetching == 0
                || self.stop.as_ref().is_some_and(|s| *s.borrow())
                || self.store.rebalance_due()
            {
                return;
            }
            // What is left of the budget, shared among the partitions still fetched.
            let share = ((budget - bytes) / fetching).clamp(1, max_bytes as u64) as i32;
            let wait = (left.as_millis().min(i32::MAX as u128) as i32).clamp(1, max_wait);
            let requests = self.inputs.iter().zip(fetched.iter()).zip(&open).map(|((input, records), &open)| {
                let (at, client) = (next(input, records), input.client.clone());
                async move {
                    if !open {
                        return None;
                    }
                    Some((at, source::request(&client, at, share, wait).await))
                }
            });
            let deadline = self.cfg.request_timeout() + Duration::from_millis(wait as u64);
            // A broker that does not answer ends the gathering; the round writes what it has.
            let Ok(answers) = tokio::time::timeout(deadline, join_all(requests)).await else { return };
            for (i, answer) in answers.into_iter().enumerate() {
                let Some((at, answer)) = answer else { continue };
                let Ok((mut records, high_watermark)) = answer else {
                    open[i] = false;
                    continue;
                };
                records.retain(|r| r.offset >= at);
                match records.first() {
                    Some(first) if first.offset != at => open[i] = false, // a gap: the next round looks at it
                    None if at != high_watermark => open[i] = false,      // past the end, or nothing came
                    _ => {
                        self.inputs[i].high_watermark = high_watermark;
                        fetched[i].extend(records);
                    }
                }
            }
        }
    }
}
