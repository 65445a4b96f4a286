//! A round's limits: the records fetched are cut to about `--max-inflight-bytes` / 5 of values, and to at most
//! `sink.batch-size` records; and how much each partition's fetch asks for ([`FetchSize`]).

use rskafka::record::RecordAndOffset;

/// Cuts `fetched` (records per input) to about `budget` bytes of values: a broker returns a producer's batch whole
/// however small the fetch size, so a round of large batches could hold far more than its share. Inputs are taken
/// in turn from `round % inputs`, each while the budget lasts (and always at least one record, so a round makes
/// progress); what is cut is fetched again next round, since positions only move past what a round wrote.
pub(super) fn within_budget(fetched: &mut [Vec<RecordAndOffset>], budget: u64, round: usize) {
    let n = fetched.len();
    let mut used = 0u64;
    for k in 0..n {
        let records = &mut fetched[(round + k) % n];
        let mut keep = 0;
        for r in records.iter() {
            let size = r.record.value.as_ref().map_or(0, |v| v.len() as u64);
            if used > 0 && used + size > budget {
                break;
            }
            used += size;
            keep += 1;
        }
        records.truncate(keep);
    }
}

/// Cuts `fetched` to at most `max` records (`sink.batch-size`), taking inputs in turn as [`within_budget`] does.
pub(super) fn within_count(fetched: &mut [Vec<RecordAndOffset>], max: u64, round: usize) {
    let n = fetched.len();
    let mut left = max;
    for k in 0..n {
        let records = &mut fetched[(round + k) % n];
        let keep = (records.len() as u64).min(left);
        records.truncate(keep as usize);
        left -= keep;
    }
}

/// How far [`FetchSize`] raises a partition's ask above its share of the round.
const MOST_FACTOR: i32 = 4;

/// How many bytes each partition's fetch asks for: the round's even share of the budget
/// ([`crate::config::Config::partition_fetch_bytes`]) times a factor, 1 unless the broker answers with far less
/// than asked although the partition has more behind the answer. nisshi's sqlite store does: it answers about a
/// third of a 364 KiB ask and at most ~160 KiB, and each fetch costs it a scan of the partition's backlog, so a
/// drain with the share's asks made 66 rounds of fetches where 1 MiB asks make 47 (200,000 records). While every
/// such answer brings under half its ask, the factor doubles, up to 4 (and never past `--fetch-max-bytes`); one
/// answer that fills three quarters of its ask takes it back to 1 at once. A broker that fills its
/// asks (Kafka, nisshi in memory) is asked for the share, and the memory budget holds as before.
#[derive(Debug)]
pub(super) struct FetchSize {
    factor: i32,
}

impl Default for FetchSize {
    fn default() -> Self {
        Self { factor: 1 }
    }
}

impl FetchSize {
    /// The bytes to ask each partition for, given its share of the round and `--fetch-max-bytes`.
    pub(super) fn ask(&self, share: i32, fetch_max_bytes: i32) -> i32 {
        share.saturating_mul(self.factor).min(fetch_max_bytes.max(1))
    }

    /// Learns from a round's answers to asks of `asked` bytes: per answered partition, the bytes of its records
    /// and whether the partition had more behind them (a partition read to its end says nothing of the broker).
    pub(super) fn learn(&mut self, asked: i32, answers: impl IntoIterator<Item = (u64, bool)>) {
        let asked = asked.max(1) as u64;
        let (mut answered, mut short) = (false, true);
        for (got, _) in answers.into_iter().filter(|(_, more)| *more) {
            answered = true;
            if got * 4 >= asked * 3 {
                if self.factor > 1 {
                    tracing::debug!(got, asked, "the broker fills its asks again: asking for the share");
                }
                self.factor = 1;
                return;
            }
            short &= got * 2 < asked;
        }
        if answered && short && self.factor < MOST_FACTOR {
            self.factor *= 2;
            tracing::debug!(factor = self.factor, asked, "the broker answers far less than asked: asking more");
        }
    }
}

/// The bytes of a fetched record, as a broker counts them against a fetch's size (key and value).
pub(super) fn record_bytes(r: &RecordAndOffset) -> u64 {
    (r.record.key.as_ref().map_or(0, Vec::len) + r.record.value.as_ref().map_or(0, Vec::len)) as u64
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn records(offsets: std::ops::Range<i64>, size: usize) -> Vec<RecordAndOffset> {
        offsets
            .map(|offset| RecordAndOffset {
                record: rskafka::record::Record {
                    key: None,
                    value: Some(vec![b'x'; size]),
                    headers: BTreeMap::new(),
                    timestamp: chrono::Utc::now(),
                },
                offset,
            })
            .collect()
    }

    #[test]
    fn a_round_takes_records_up_to_its_budget_in_turn() {
        let lens = |f: &[Vec<RecordAndOffset>]| f.iter().map(Vec::len).collect::<Vec<_>>();
        let mut f = vec![records(0..10, 100), records(0..10, 100), records(0..10, 100)];
        within_budget(&mut f, 1_500, 0);
        assert_eq!(lens(&f), [10, 5, 0], "the first input whole, the second while the budget lasts");
        let mut f = vec![records(0..10, 100), records(0..10, 100), records(0..10, 100)];
        within_budget(&mut f, 1_500, 1);
        assert_eq!(lens(&f), [0, 10, 5], "the next round starts with the next input");
        let mut f = vec![records(0..2, 5_000), records(0..1, 10)];
        within_budget(&mut f, 1_000, 0);
        assert_eq!(lens(&f), [1, 0], "always at least one record, however large");
        let mut f = vec![records(0..3, 10), records(0..3, 10)];
        within_budget(&mut f, 1 << 20, 5);
        assert_eq!(lens(&f), [3, 3], "under the budget nothing is cut");
    }

    #[test]
    fn a_round_takes_at_most_its_batch_size_in_turn() {
        let lens = |f: &[Vec<RecordAndOffset>]| f.iter().map(Vec::len).collect::<Vec<_>>();
        let mut f = vec![records(0..10, 1), records(0..10, 1), records(0..10, 1)];
        within_count(&mut f, 15, 0);
        assert_eq!(lens(&f), [10, 5, 0], "the first input whole, the second up to the size");
        let mut f = vec![records(0..10, 1), records(0..10, 1), records(0..10, 1)];
        within_count(&mut f, 15, 2);
        assert_eq!(lens(&f), [5, 0, 10], "the next rounds start further on");
        let mut f = vec![records(0..3, 1), records(0..3, 1)];
        within_count(&mut f, 100, 1);
        assert_eq!(lens(&f), [3, 3], "under the size nothing is cut");
    }

    #[test]
    fn the_ask_grows_only_while_a_broker_answers_far_less_than_asked_with_more_behind() {
        let (share, max) = (100_000, 1_000_000);
        let mut f = FetchSize::default();
        assert_eq!(f.ask(share, max), share, "the share to begin with");
        f.learn(share, [(100_000, true), (90_000, true)]);
        assert_eq!(f.ask(share, max), share, "a broker that fills its asks gets the share");
        f.learn(share, [(10_000, false), (0, false)]);
        assert_eq!(f.ask(share, max), share, "partitions read to their end say nothing of the broker");
        f.learn(share, [(30_000, true), (60_000, true)]);
        assert_eq!(f.ask(share, max), share, "one answer of more than half the ask: not far less");
        f.learn(share, [(30_000, true), (45_000, true), (5_000, false)]);
        assert_eq!(f.ask(share, max), 2 * share, "every answer with more behind under half: twice the ask");
        f.learn(2 * share, [(120_000, true)]);
        assert_eq!(f.ask(share, max), 2 * share, "between a half and three quarters: as it was");
        for _ in 0..5 {
            f.learn(f.ask(share, max), [(30_000, true)]);
        }
        assert_eq!(f.ask(share, max), 4 * share, "at most four times the share");
        assert_eq!(f.ask(share, 250_000), 250_000, "and never past --fetch-max-bytes");
        f.learn(f.ask(share, max), [(10_000, true), (300_000, true)]);
        assert_eq!(f.ask(share, max), share, "one answer that fills three quarters of its ask: the share at once");
        assert_eq!(FetchSize { factor: 4 }.ask(share, 50_000), 50_000, "--fetch-max-bytes below the share wins");
    }
}
