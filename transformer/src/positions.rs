//! The offset store a transformer runs with, chosen by `--assignment`: checkpoints in a topic of our own
//! ([`CheckpointStore`]) or a Kafka consumer group ([`GroupStore`]); the loop sees only [`OffsetStore`].

use crate::checkpoint::{Adopted, Checkpoint, CheckpointError, CheckpointStore, OffsetStore};
use crate::group::GroupStore;

/// The offset store a transformer runs with: the checkpoint topic (`--assignment static`) or a consumer group.
pub enum Positions {
    /// Checkpoints in a topic of our own.
    Topic(CheckpointStore),
    /// The group's committed offsets.
    Group(Box<GroupStore>),
}

impl OffsetStore for Positions {
    fn key(&self) -> &str {
        match self {
            Self::Topic(s) => OffsetStore::key(s),
            Self::Group(s) => s.key(),
        }
    }
    async fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        match self {
            Self::Topic(s) => OffsetStore::load(s).await,
            Self::Group(s) => s.load().await,
        }
    }
    async fn adopt(&self, group: &str, inputs: &[String]) -> Result<Option<Adopted>, CheckpointError> {
        match self {
            Self::Topic(s) => OffsetStore::adopt(s, group, inputs).await,
            Self::Group(s) => s.adopt(group, inputs).await,
        }
    }
    async fn commit(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        match self {
            Self::Topic(s) => OffsetStore::commit(s, cp).await,
            Self::Group(s) => s.commit(cp).await,
        }
    }
    fn rediscovered(&mut self, topics: &[String]) {
        if let Self::Group(s) = self {
            s.rediscovered(topics);
        }
    }
    fn rebalance_due(&self) -> bool {
        matches!(self, Self::Group(s) if s.rebalance_due())
    }
    async fn rebalance(&mut self) -> Result<Option<Vec<(String, i32)>>, CheckpointError> {
        match self {
            Self::Topic(_) => Ok(None),
            Self::Group(s) => s.rebalance().await,
        }
    }
    async fn marks_first(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        match self {
            Self::Topic(_) => Ok(()),
            Self::Group(s) => s.marks_first(cp).await,
        }
    }
    fn may_write(&self) -> Result<(), String> {
        match self {
            Self::Topic(_) => Ok(()),
            Self::Group(s) => s.may_write(),
        }
    }
    fn commits_at_recovery(&self) -> bool {
        matches!(self, Self::Group(_))
    }
    async fn close(&mut self) {
        if let Self::Group(s) = self {
            s.close().await
        }
    }
}
