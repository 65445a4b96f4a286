//! The emitter's committed progress, and exact resume after a crash.
//!
//! About once a second, after a batch is acknowledged, the emitter appends a [`Progress`] record (the next event
//! index, and each raw partition's end offset) to a checkpoint topic, keyed by its stream (topic prefix + seed).
//! A restart with `--resume` reads it back and looks at what was written after it — the tails of the raw
//! partitions past the recorded ends. A stream with a fixed `--start-time` is reproducible, so those records can be
//! matched to their indexes by event id: the ones present are not sent again, the ones missing (a batch cut by the
//! crash) are sent, and the stream goes on after the highest index found. Nothing is repeated or skipped.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// What one emitter stream has durably sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Every event below this index is acknowledged.
    pub next_index: u64,
    /// Raw `topic/partition` → its end offset when this was recorded.
    pub marks: BTreeMap<String, i64>,
}

/// Where a restarted stream continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Indexes below `next` that were lost in the crash and must be sent first.
    pub missing: Vec<u64>,
    /// The index the stream continues at.
    pub next: u64,
}

/// Plans the resume of a reproducible stream. `start`: the recorded `next_index`; `tail_ids`: event ids of the
/// records written after the record, with how often each occurs; `id_of(i)`: the event id of index i; `window`: how
/// many indexes after `start` can have been written (the tail's length plus one batch).
///
/// Ids are counted, not just looked up: two events with the same bytes (malformed ones often are, e.g. empty
/// records) have the same id, and one copy in the tail accounts for one of them only; the other is sent again.
pub fn plan(start: u64, tail_ids: &HashMap<String, u32>, window: u64, id_of: impl Fn(u64) -> String) -> Plan {
    let mut left = tail_ids.clone();
    let present: Vec<u64> = (start..start + window).filter(|&i| take_one(&mut left, &id_of(i))).collect();
    match present.last() {
        None => Plan { missing: Vec::new(), next: start },
        Some(&last) => {
            let have: HashSet<u64> = present.iter().copied().collect();
            Plan { missing: (start..last).filter(|i| !have.contains(i)).collect(), next: last + 1 }
        }
    }
}

/// Takes one occurrence of `key` from the multiset `counts`; false when none is left. Identical records (and so
/// identical ids or values) are matched one for one this way, both by [`plan`] and when a failed produce is checked
/// against what landed.
pub fn take_one<K, Q>(counts: &mut HashMap<K, u32>, key: &Q) -> bool
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    match counts.get_mut(key) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(of: &[u64]) -> HashMap<String, u32> {
        let mut m = HashMap::new();
        for i in of {
            *m.entry(format!("id{i}")).or_default() += 1;
        }
        m
    }

    #[test]
    fn nothing_after_the_record_continues_where_it_says() {
        assert_eq!(plan(100, &ids(&[]), 50, |i| format!("id{i}")), Plan { missing: vec![], next: 100 });
    }

    #[test]
    fn a_cut_batch_sends_only_its_lost_records() {
        // 100..110 fully written, then a batch 110..120 of which only 110, 113 and 115 landed.
        let tail: Vec<u64> = (100..110).chain([110, 113, 115]).collect();
        let p = plan(100, &ids(&tail), 30, |i| format!("id{i}"));
        assert_eq!(p, Plan { missing: vec![111, 112, 114], next: 116 });
    }

    #[test]
    fn identical_events_are_counted_not_merged() {
        // 110 and 112 are the same bytes (say two empty records): the tail's one copy is 110's; 112 was cut.
        let id = |i: u64| if i == 112 { "id110".to_string() } else { format!("id{i}") };
        let p = plan(110, &ids(&[110, 113]), 10, id);
        assert_eq!(p, Plan { missing: vec![111, 112], next: 114 });
        // With both copies in the tail, nothing is missing.
        let p = plan(110, &ids(&[110, 110, 111, 113]), 10, id);
        assert_eq!(p, Plan { missing: vec![], next: 114 });
    }
}
