//! The end of a round: write its output, wait for every acknowledgement, commit the positions after it, and only
//! then move them and count.

use std::sync::atomic::Ordering::Relaxed;
#[cfg(feature = "failpoints")]
use std::time::Duration;
use std::time::Instant;

#[cfg(feature = "failpoints")]
use tracing::error;
use tracing::{debug, warn};

use super::{within, Pipeline};
use crate::batch::Batch;
use crate::checkpoint::{Checkpoint, CheckpointError, OffsetStore};
use crate::error::Result;
use crate::sink::Sink;

impl<S: Sink, O: OffsetStore> Pipeline<S, O> {
    /// Writes a round's output, waits for every acknowledgement, then commits the positions after it, and only
    /// then moves them ([`Pipeline::committed`]).
    pub(super) async fn write_and_commit(&mut self, out: S::Round, batch: Batch<()>) -> Result<()> {
        let produce_started = Instant::now();
        let (name, timeout) = (self.sink.name(), self.cfg.request_timeout());
        within(timeout, name, "the write", self.sink.write(out)).await??;
        self.metrics.produce_latency.observe(produce_started.elapsed());
        #[cfg(feature = "failpoints")]
        if self.cfg.crash_before_commit == Some(self.metrics.commits.load(Relaxed)) {
            error!("--crash-before-commit: aborting between produce and commit");
            std::process::abort();
        }
        #[cfg(feature = "failpoints")]
        if let Some(ms) = self.cfg.delay_before_commit_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let mut cp = self.checkpoint_at(self.checkpoint.next_offsets.clone());
        for (input, n) in self.inputs.iter().zip(&batch.next) {
            if let Some(n) = n {
                cp.next_offsets.insert(input.key(), *n);
            }
        }
        let commit_started = Instant::now();
        match within(self.cfg.request_timeout(), "Kafka", "the checkpoint commit", self.store.commit(&cp)).await? {
            Ok(()) => {}
            Err(e @ (CheckpointError::Fenced(_) | CheckpointError::Replaced(_))) => {
                let written = batch.records_out + batch.reasons.len() as u64;
                self.metrics.group_fenced_records.fetch_add(written, Relaxed);
                warn!(
                    written,
                    error = %e,
                    "fenced: this round was written but its commit refused; the partitions' new owners may write \
                     these records again (rejoining)"
                );
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        }
        self.metrics.commit_latency.observe(commit_started.elapsed());
        self.committed(batch, cp);
        Ok(())
    }

    /// Books a committed round: only now do the offsets move; counters count.
    fn committed(&mut self, batch: Batch<()>, cp: Checkpoint) {
        for (input, n) in self.inputs.iter_mut().zip(&batch.next) {
            if let Some(n) = n {
                input.next_offset = *n;
            }
        }
        self.checkpoint = cp;
        let m = &self.metrics;
        m.records_in.fetch_add(batch.records_in, Relaxed);
        m.records_out.fetch_add(batch.records_out, Relaxed);
        m.records_skipped.fetch_add(batch.records_skipped, Relaxed);
        m.records_dropped.fetch_add(batch.records_dropped, Relaxed);
        m.bytes_in.fetch_add(batch.bytes_in, Relaxed);
        m.bytes_out.fetch_add(batch.bytes_out, Relaxed);
        m.commits.fetch_add(1, Relaxed);
        self.recent.push_back((batch.records_in, batch.reasons.len() as u64));
        {
            let mut parts = m.partitions.lock().expect("metrics lock poisoned");
            for (input, n) in self.inputs.iter().zip(&batch.handled) {
                parts.entry(input.id()).or_default().records += n;
            }
        }
        for r in &batch.reasons {
            m.dead_letter(r);
        }
        self.publish_gauges();
        debug!(records = batch.records_in, written = batch.records_out, skipped = batch.records_skipped, "committed");
    }
}
