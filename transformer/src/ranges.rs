//! A set of offsets kept as half-open ranges, for the records recovery found already written past the last commit.
//!
//! Why ranges: one round writes the records of an input partition in offset order, so what a crash left behind is
//! a few runs of consecutive offsets per partition. A million such records cost a handful of ranges instead of a
//! hash set entry each (recovery's memory no longer grows with what it finds; issue 11 measured 235 MB before).

use std::collections::BTreeMap;

/// Offsets of one input partition, as disjoint, non-adjacent half-open ranges `start..end`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetRanges {
    /// start → end (exclusive). Invariant: ranges are non-empty, disjoint and never touch.
    ranges: BTreeMap<i64, i64>,
    /// How many offsets the ranges hold.
    len: u64,
}

impl OffsetRanges {
    /// Adds every offset of `offsets`.
    pub fn insert_range(&mut self, offsets: std::ops::Range<i64>) {
        if offsets.is_empty() {
            return;
        }
        let (mut start, mut end) = (offsets.start, offsets.end);
        // Merge with every range that overlaps or touches it.
        let touching: Vec<(i64, i64)> =
            self.ranges.range(..=end).filter(|(_, &e)| e >= start).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in touching {
            self.ranges.remove(&s);
            self.len -= (e - s) as u64;
            start = start.min(s);
            end = end.max(e);
        }
        self.ranges.insert(start, end);
        self.len += (end - start) as u64;
    }

    /// Adds `offset`; adding one that is there already changes nothing.
    pub fn insert(&mut self, offset: i64) {
        if self.contains(offset) {
            return;
        }
        self.len += 1;
        let before = self.ranges.range(..=offset).next_back().map(|(&s, &e)| (s, e));
        let after = self.ranges.get(&(offset + 1)).copied();
        match (before.filter(|&(_, e)| e == offset), after) {
            (Some((s, _)), Some(end)) => {
                self.ranges.remove(&(offset + 1));
                self.ranges.insert(s, end);
            }
            (Some((s, _)), None) => {
                self.ranges.insert(s, offset + 1);
            }
            (None, Some(end)) => {
                self.ranges.remove(&(offset + 1));
                self.ranges.insert(offset, end);
            }
            (None, None) => {
                self.ranges.insert(offset, offset + 1);
            }
        }
    }

    /// Whether `offset` is in the set.
    pub fn contains(&self, offset: i64) -> bool {
        self.ranges.range(..=offset).next_back().is_some_and(|(_, &e)| offset < e)
    }

    /// Removes `offset`; returns whether it was there.
    pub fn remove(&mut self, offset: i64) -> bool {
        let Some((s, e)) = self.ranges.range(..=offset).next_back().map(|(&s, &e)| (s, e)) else {
            return false;
        };
        if offset >= e {
            return false;
        }
        self.len -= 1;
        self.ranges.remove(&s);
        if s < offset {
            self.ranges.insert(s, offset);
        }
        if offset + 1 < e {
            self.ranges.insert(offset + 1, e);
        }
        true
    }

    /// Removes every offset below `offset` (the position moved past them); returns how many went.
    pub fn remove_below(&mut self, offset: i64) -> u64 {
        let mut removed = 0;
        while let Some((&s, &e)) = self.ranges.iter().next() {
            if s >= offset {
                break;
            }
            self.ranges.remove(&s);
            if e > offset {
                self.ranges.insert(offset, e);
                removed += (offset - s) as u64;
                break;
            }
            removed += (e - s) as u64;
        }
        self.len -= removed;
        removed
    }

    /// Removes everything; returns how many offsets went.
    pub fn clear(&mut self) -> u64 {
        let n = self.len;
        self.ranges.clear();
        self.len = 0;
        n
    }

    /// How many offsets the set holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many ranges hold them (what the memory depends on).
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// The ranges, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = std::ops::Range<i64>> + '_ {
        self.ranges.iter().map(|(&s, &e)| s..e)
    }
}

/// What the outputs already hold of one input partition past its committed position: per output (the job's sinks
/// by index, then the dead letters), the offsets whose rows were found there. One round can reach one topic or
/// table and not another (the first acknowledged, the second not): a record is then written again only to the
/// outputs that lack it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    per_output: Vec<OffsetRanges>,
}

impl Written {
    /// Notes that `output` holds the row (or dead letter) of the record at `offset`.
    pub fn insert(&mut self, output: usize, offset: i64) {
        self.output_mut(output).insert(offset);
    }

    /// Notes that `output` holds the rows of the records at `offsets`.
    pub fn insert_range(&mut self, output: usize, offsets: std::ops::Range<i64>) {
        self.output_mut(output).insert_range(offsets);
    }

    /// The offsets of `output`, made room for.
    fn output_mut(&mut self, output: usize) -> &mut OffsetRanges {
        if self.per_output.len() <= output {
            self.per_output.resize(output + 1, OffsetRanges::default());
        }
        &mut self.per_output[output]
    }

    /// The outputs that hold the record at `offset` (`held[output]`), taken out of the set; `None` when none does.
    pub fn take(&mut self, offset: i64) -> Option<Vec<bool>> {
        let held: Vec<bool> = self.per_output.iter_mut().map(|r| !r.is_empty() && r.remove(offset)).collect();
        held.contains(&true).then_some(held)
    }

    /// The offsets `output` holds.
    pub fn output(&self, output: usize) -> Option<&OffsetRanges> {
        self.per_output.get(output)
    }

    /// Removes every offset below `offset` from every output; returns how many went.
    pub fn remove_below(&mut self, offset: i64) -> u64 {
        self.per_output.iter_mut().map(|r| r.remove_below(offset)).sum()
    }

    /// Removes everything; returns how many entries went.
    pub fn clear(&mut self) -> u64 {
        self.per_output.iter_mut().map(OffsetRanges::clear).sum()
    }

    /// How many (output, offset) entries it holds.
    pub fn len(&self) -> u64 {
        self.per_output.iter().map(OffsetRanges::len).sum()
    }

    /// Whether no output holds anything.
    pub fn is_empty(&self) -> bool {
        self.per_output.iter().all(OffsetRanges::is_empty)
    }

    /// How many ranges hold them.
    pub fn range_count(&self) -> usize {
        self.per_output.iter().map(OffsetRanges::range_count).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn consecutive_offsets_make_one_range() {
        let mut r = OffsetRanges::default();
        for o in [5, 7, 6, 4, 10] {
            r.insert(o);
        }
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![4..8, 10..11]);
        assert_eq!(r.len(), 5);
        assert!(r.remove(6));
        assert!(!r.remove(6));
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![4..6, 7..8, 10..11]);
        assert_eq!(r.remove_below(7), 2);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![7..8, 10..11]);
        assert_eq!(r.clear(), 2);
        assert!(r.is_empty());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(i64),
        InsertRange(i64, i64),
        Remove(i64),
        RemoveBelow(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0i64..64).prop_map(Op::Insert),
            1 => (0i64..64, 0i64..12).prop_map(|(s, n)| Op::InsertRange(s, s + n)),
            2 => (0i64..64).prop_map(Op::Remove),
            1 => (0i64..64).prop_map(Op::RemoveBelow),
        ]
    }

    proptest! {
        /// The range set behaves exactly like a plain set of offsets, and its ranges never touch.
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec(op(), 0..200)) {
            let (mut r, mut set) = (OffsetRanges::default(), BTreeSet::new());
            for op in ops {
                match op {
                    Op::Insert(o) => { r.insert(o); set.insert(o); }
                    Op::InsertRange(a, b) => { r.insert_range(a..b); set.extend(a..b); }
                    Op::Remove(o) => prop_assert_eq!(r.remove(o), set.remove(&o)),
                    Op::RemoveBelow(o) => {
                        let below: Vec<i64> = set.range(..o).copied().collect();
                        for b in &below { set.remove(b); }
                        prop_assert_eq!(r.remove_below(o), below.len() as u64);
                    }
                }
                prop_assert_eq!(r.len(), set.len() as u64);
                let flat: Vec<i64> = r.iter().flatten().collect();
                prop_assert_eq!(&flat, &set.iter().copied().collect::<Vec<_>>());
                let ranges: Vec<_> = r.iter().collect();
                prop_assert!(ranges.windows(2).all(|w| w[0].end < w[1].start), "{:?}", ranges);
                for o in 0..64 { prop_assert_eq!(r.contains(o), set.contains(&o)); }
            }
        }
    }
}
