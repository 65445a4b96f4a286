//! Input positions that cannot be used as they are: a position the broker no longer has (a recreated topic,
//! records deleted by retention), moved out loud and committed behind a barrier; and a record batch that cannot be
//! read, which stops only its partition.

use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::{within, Pipeline};
use crate::checkpoint::OffsetStore;
use crate::config::OnOffsetOutOfRange;
use crate::error::{Error, Result};
use crate::metrics::PositionEvent;
use crate::sink::Sink;
use crate::source::PositionProblem;

/// How often a partition stopped at an unreadable batch is tried again (a broker-side fault may clear).
const UNREADABLE_RETRY: Duration = Duration::from_secs(30);

/// Where an input partition stopped: the record batch at `offset` cannot be read.
#[derive(Debug, Clone)]
pub(super) struct Unreadable {
    /// The position, where the unreadable batch is.
    pub(super) offset: i64,
    /// When to try it again.
    pub(super) retry_at: Instant,
}

impl<S: Sink, O: OffsetStore> Pipeline<S, O> {
    /// An input position found invalid: stop (`--on-offset-out-of-range fail`, an [`Error::Fatal`]), or say so out
    /// loud and remember it for [`Pipeline::apply_pending`].
    pub(super) fn found_invalid(&mut self, idx: usize, problem: PositionProblem) -> Result<()> {
        let (topic, partition) = self.inputs[idx].id();
        if self.cfg.on_offset_out_of_range == OnOffsetOutOfRange::Fail {
            return Err(Error::Fatal(format!(
                "input {topic}/{partition}: {problem}. Stopped (--on-offset-out-of-range fail): move on with \
                 `transformer offsets reset --to earliest` (or another position), or run with \
                 --on-offset-out-of-range earliest"
            )));
        }
        let (from, to, lost) = (self.inputs[idx].next_offset, problem.resume_at(), problem.lost());
        // The same position found invalid again before the move was committed (a failed round's recovery checks
        // every position anew) is one event, not two.
        if self.reported.insert((topic.clone(), partition), (from, problem.kind())) == Some((from, problem.kind())) {
            self.pending[idx] = Some(problem);
            self.forget_skips(idx);
            return Ok(());
        }
        let message = format!("{topic}/{partition}: {problem}; resuming at the log start, offset {to}");
        error!(topic, partition, kind = problem.kind(), from, to, lost, "{message}");
        self.metrics.error(message.clone());
        self.metrics.position_event(PositionEvent {
            t: chrono::Utc::now().timestamp_millis(),
            topic,
            partition,
            kind: problem.kind(),
            from,
            to,
            lost,
            message,
        });
        self.pending[idx] = Some(problem);
        self.forget_skips(idx);
        Ok(())
    }

    /// Drops what recovery found for an input whose position is invalid: in a recreated topic the same offsets
    /// name other records; after retention, the records below the log start are gone.
    pub(super) fn forget_skips(&mut self, idx: usize) {
        match (self.pending[idx], self.skips.get_mut(idx)) {
            (Some(PositionProblem::PastEnd { .. } | PositionProblem::Gone { .. }), Some(s)) => {
                s.clear();
            }
            (Some(p @ PositionProblem::BeforeLogStart { .. }), Some(s)) => {
                s.remove_below(p.resume_at());
            }
            _ => {}
        }
    }

    /// Moves the inputs with an invalid position to their log start; returns their indexes. A recreated topic's
    /// move waits until no other input has records ahead that recovery found: until then the committed marks
    /// stay where the recovery scan started, and a scan from there would take the old topic's records for the
    /// new one's. Meanwhile that input is not read (its position is past the end anyway).
    pub(super) fn apply_pending(&mut self) -> Vec<usize> {
        let mut moved = Vec::new();
        for idx in 0..self.inputs.len() {
            let Some(problem) = self.pending[idx] else { continue };
            let others_clear = self.skips.iter().enumerate().all(|(j, s)| j == idx || s.is_empty());
            if matches!(problem, PositionProblem::PastEnd { .. } | PositionProblem::Gone { .. }) && !others_clear {
                continue;
            }
            self.inputs[idx].next_offset = problem.resume_at();
            self.pending[idx] = None;
            moved.push(idx);
        }
        moved
    }

    /// Commits the positions [`Pipeline::apply_pending`] moved back, in a round of their own (nothing written): behind
    /// a barrier in the outputs ([`Sink::barrier`]), so no later recovery takes the old topic's records, which carry
    /// the same coordinates, for the new one's.
    pub(super) async fn commit_moves(&mut self, moved: &[usize]) -> Result<()> {
        self.sink.barrier();
        let mut cp = self.checkpoint_at(self.checkpoint.next_offsets.clone());
        for &idx in moved {
            cp.next_offsets.insert(self.inputs[idx].key(), self.inputs[idx].next_offset);
        }
        let timeout = self.cfg.request_timeout();
        within(timeout, "Kafka", "the marks of a move", self.store.marks_first(&cp)).await??;
        within(timeout, "Kafka", "the checkpoint commit", self.store.commit(&cp)).await??;
        self.checkpoint = cp;
        self.publish_gauges();
        Ok(())
    }

    /// Stops input `idx` at its position: the record batch there cannot be read. The other partitions go on; this
    /// one is tried again every [`UNREADABLE_RETRY`], and /healthz, /metrics, the status page and the log say why.
    pub(super) fn found_unreadable(&mut self, idx: usize, e: &rskafka::client::error::Error) {
        let input = &self.inputs[idx];
        let (topic, partition, offset) = (input.client.topic(), input.client.partition(), input.next_offset);
        let message = format!(
            "partition {topic}/{partition} stopped at offset {offset}: its record batch cannot be read ({e}); the \
             other partitions go on. It is tried again every {} s. To skip it, move the position past the batch: \
             `transformer offsets reset --partition {topic}/{partition} --to-offset N`, then restart",
            UNREADABLE_RETRY.as_secs()
        );
        match &self.unreadable[idx] {
            Some(u) if u.offset == offset => warn!(topic, partition, offset, error = %e, "still cannot be read"),
            _ => {
                error!(topic, partition, offset, error = %e, "partition stopped: a record batch cannot be read; the other partitions go on");
                self.metrics.error(message.clone());
            }
        }
        self.unreadable[idx] = Some(Unreadable { offset, retry_at: Instant::now() + UNREADABLE_RETRY });
        self.metrics.set_unreadable(input.id(), Some(message));
    }

    /// Input `idx` was read: if it had stopped at an unreadable batch, it goes on.
    pub(super) fn readable_again(&mut self, idx: usize) {
        if let Some(u) = self.unreadable[idx].take() {
            let input = &self.inputs[idx];
            info!(
                topic = input.client.topic(),
                partition = input.client.partition(),
                offset = u.offset,
                "partition readable again; going on"
            );
            self.metrics.set_unreadable(input.id(), None);
        }
    }

    /// The partitions stopped at a batch they cannot read, as `topic/partition at offset N`.
    pub(super) fn unreadable_partitions(&self) -> Vec<String> {
        self.inputs
            .iter()
            .zip(&self.unreadable)
            .filter_map(|(i, u)| u.as_ref().map(|u| format!("{} at offset {}", i.key(), u.offset)))
            .collect()
    }
}
