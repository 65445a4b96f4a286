//! Recovery: after a start, a failed round or a rebalance, find where each input stands (the committed positions,
//! checked against the broker's log) and what the sink already holds past them, so nothing is written twice.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use tracing::{debug, info};

use super::Pipeline;
use crate::checkpoint::{Checkpoint, OffsetStore};
use crate::error::{Error, Result};
use crate::ranges::Written;
use crate::sink::Sink;
use crate::source::{self, open_partitions, Input, PositionProblem};

impl<S: Sink, O: OffsetStore> Pipeline<S, O> {
    /// Recovers: through a rebalance when the group has one due (it recovers the partitions it deals), otherwise
    /// the partitions we have.
    pub(super) async fn resync(&mut self) -> Result<()> {
        if !self.follow_rebalance().await? {
            self.recover().await?;
        }
        Ok(())
    }

    /// When the consumer group rebalances: takes part, opens the partitions now ours and recovers them (what
    /// their previous owner wrote after its last commit is found and skipped). `true` when it did.
    pub(super) async fn follow_rebalance(&mut self) -> Result<bool> {
        if !self.store.rebalance_due() {
            return Ok(false);
        }
        let Some(parts) = self.store.rebalance().await? else { return Ok(false) };
        self.take_partitions(parts).await?;
        Ok(true)
    }

    /// Reads `parts` from now on (after a rebalance, or new partitions found): opens them and recovers.
    pub(super) async fn take_partitions(&mut self, parts: Vec<(String, i32)>) -> Result<()> {
        let client = self.client.as_ref().ok_or_else(|| Error::Fatal("a rebalance without a Kafka client".into()))?;
        self.inputs = open_partitions(client, &parts).await?;
        self.layout.set_inputs(self.inputs.iter().map(Input::id).collect());
        self.pending.clear();
        self.unreadable.clear();
        self.skips.clear();
        let owned: std::collections::BTreeSet<_> = self.layout.inputs.iter().cloned().collect();
        self.metrics.partitions.lock().expect("metrics lock poisoned").retain(|k, _| owned.contains(k));
        self.recover().await
    }

    /// Loads the newest checkpoint (or, with none of ours, the group's positions under other keys), sets every
    /// input to its committed position (a partition the checkpoint does not know starts at its log start), checks
    /// each position against the broker, and scans both outputs from the checkpoint's marks for records this
    /// instance wrote after its last commit, so they are skipped rather than written twice.
    pub async fn recover(&mut self) -> Result<()> {
        let started = Instant::now();
        self.metrics.recoveries.fetch_add(1, Relaxed);
        self.ahead = None; // read for positions that may not be ours any more
        let keys: Vec<String> = self.inputs.iter().map(Input::key).collect();
        let (cp, ours) = match self.store.load().await? {
            Some(cp) => (Some(cp), true),
            None => match self.store.adopt(&self.cfg.group, &keys).await? {
                Some(a) => {
                    info!(
                        from_keys = ?a.keys,
                        partitions = a.next_offsets.len(),
                        "no checkpoint under our key: taking the positions this group committed under other keys \
                         (--instances changed?) and scanning from their marks"
                    );
                    (
                        Some(Checkpoint {
                            next_offsets: a.next_offsets,
                            output_marks: a.output_marks,
                            ..Default::default()
                        }),
                        false,
                    )
                }
                None => match self.sink.lost_checkpoint(&self.inputs).await? {
                    // Lost checkpoints: the outputs say where the last round was.
                    Some(cp) => (Some(cp), false),
                    None => {
                        info!(
                            key = OffsetStore::key(&self.store),
                            start_at = ?self.cfg.start_at,
                            "no checkpoint yet: every partition starts where --start-at says, and no output is \
                             scanned (a transformer commits a checkpoint before its first write, so nothing of ours \
                             is there)"
                        );
                        (None, false)
                    }
                },
            },
        };
        let committed = cp.clone().unwrap_or_default();
        for input in &mut self.inputs {
            let key = input.key();
            // A partition found while running (discover.rs) is read from its first record, as Flink reads it.
            let start_at =
                if self.new_partitions.contains(&key) { source::StartAt::Earliest } else { self.cfg.start_at };
            input.next_offset = match committed.next_offsets.get(&key) {
                Some(&o) => o,
                None => source::offset_at(&input.client, start_at).await?,
            };
        }
        self.pending = vec![None; self.inputs.len()];
        self.unreadable.resize(self.inputs.len(), None);
        self.skips = vec![Written::default(); self.inputs.len()];
        for idx in 0..self.inputs.len() {
            if let Some(problem) = source::check_position(&mut self.inputs[idx]).await? {
                self.found_invalid(idx, problem)?;
            } else if let Some(&position) = committed.gone.get(&self.inputs[idx].key()) {
                let (log_start, _) = self.inputs[idx].client.bounds().await?;
                self.inputs[idx].next_offset = position;
                self.found_invalid(idx, PositionProblem::Gone { position, log_start })?;
            }
        }
        let found = self.sink.recover(cp.as_ref(), &self.inputs).await?;
        let scanned = found.scanned;
        self.skips = found.skips;
        for idx in 0..self.inputs.len() {
            self.forget_skips(idx);
            // A store that commits every position before the first write (a group) has written nothing of a
            // partition it holds no position for: what the scan found there belongs to a deleted topic of the same
            // name (deleting a topic deletes the group's offsets with it).
            if self.store.commits_at_recovery() && !committed.next_offsets.contains_key(&self.inputs[idx].key()) {
                self.skips[idx].clear();
            }
        }
        // Positions moved back, or (a group) partitions that may have just come here: committed behind a barrier,
        // with their marks first (see commit_moves).
        let behind_barrier = !self.apply_pending().is_empty() || self.store.commits_at_recovery();
        if behind_barrier {
            self.sink.barrier();
        }
        self.checkpoint = self.checkpoint_at(self.inputs.iter().map(|i| (i.key(), i.next_offset)).collect());
        if !ours || behind_barrier {
            if behind_barrier {
                // Nothing is written yet: these marks lie past every record of a deleted topic of the same name.
                self.store.marks_first(&self.checkpoint).await?;
            }
            self.store.commit(&self.checkpoint).await?;
            debug!("committed the recovered positions before any write");
        }
        self.publish_gauges();
        info!(
            inputs = self.inputs.len(),
            scanned,
            already_written = self.skips.iter().map(Written::len).sum::<u64>(),
            skip_ranges = self.skips.iter().map(Written::range_count).sum::<usize>(),
            positions = ?self.checkpoint.next_offsets,
            peak_rss_kb = peak_rss_kb(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "recovered from the last checkpoint"
        );
        Ok(())
    }
}

/// The process's peak resident memory so far (VmHWM), in KiB; 0 where /proc is not there. Logged at the end of
/// recovery, so the memory a recovery scan takes is a measured figure (scripts/bench.sh).
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
