//! A round's limits: the records fetched are cut to about `--max-inflight-bytes` / 5 of values, and to at most
//! `sink.batch-size` records.

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
}
