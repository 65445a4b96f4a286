//! The offset store. rskafka has no consumer-group API, so offsets live in a Kafka topic of our own: after every
//! acknowledged round the transformer appends one JSON [`Checkpoint`] keyed by `group/instance-of-n`
//! ([`runtime::kafka::KeyedLog`]); at start it reads the newest one with its key.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use rskafka::client::partition::PartitionClient;
use runtime::kafka::{KafkaError, KeyedLog};
use serde::{Deserialize, Serialize};
use tracing::warn;

/// What one instance has finished, as of one commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Input `topic/partition` → next offset (the first one not yet done).
    pub next_offsets: BTreeMap<String, i64>,
    /// Output `topic/partition` → an offset at or before the first record this instance wrote that is not covered
    /// by `next_offsets`. At start, records from these marks on are scanned: whatever was written after the last
    /// commit is not written again.
    pub output_marks: BTreeMap<String, i64>,
    /// Not stored in a static checkpoint: the inputs (`topic/partition`) with records found already written still
    /// ahead, for which `output_marks` stays where the recovery scan started. A group keeps marks per partition
    /// (see the group store, `group.rs`), and the other inputs get [`Checkpoint::ends`].
    #[serde(skip)]
    pub pinned: std::collections::BTreeSet<String>,
    /// Not stored in a static checkpoint: the ends of our writes, the marks of the inputs not in `pinned`.
    #[serde(skip)]
    pub ends: BTreeMap<String, i64>,
    /// Not stored: per input, its own marks where they are later than `output_marks` (a group loads each
    /// partition's from its newest record). The recovery scan starts at `output_marks` and counts a record of that
    /// input only from its own mark on.
    #[serde(skip)]
    pub input_marks: BTreeMap<String, BTreeMap<String, i64>>,
    /// Not stored: inputs whose committed position is gone from the store although it had one (a group's offsets
    /// deleted with their topic, or expired), with the position last recorded. Handled as a position the broker
    /// no longer has (`--on-offset-out-of-range`).
    #[serde(skip)]
    pub gone: BTreeMap<String, i64>,
}

/// A checkpoint of the same group found under another key (another `--instances`), for a start with none of ours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adopted {
    /// The positions taken over, for the inputs asked about that some checkpoint of the group knows.
    pub next_offsets: BTreeMap<String, i64>,
    /// Per output partition, the lowest mark of the checkpoints positions were taken from.
    pub output_marks: BTreeMap<String, i64>,
    /// The keys positions were taken from.
    pub keys: Vec<String>,
    /// Per input taken: the marks of the checkpoint it was taken from.
    pub input_marks: BTreeMap<String, BTreeMap<String, i64>>,
}

/// Errors of the offset store, with the way out.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Kafka failed, or our newest checkpoint does not decode.
    #[error(
        "{source}. See the checkpoints with `transformer offsets show`; write a good one with `transformer offsets \
         reset --to <offset of an earlier checkpoint>` (resumes exactly there, nothing repeated) or \
         `--to earliest|latest|<RFC 3339 time>`"
    )]
    Bad {
        /// What went wrong.
        #[source]
        source: KafkaError,
    },
    /// Kafka failed.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// Our consumer-group generation is over (we were silent past the session timeout, or the group rebalanced):
    /// rejoin before writing again.
    #[error("fenced by the group coordinator: {0}")]
    Fenced(String),
    /// The group coordinator failed or refused.
    #[error("consumer group: {0}")]
    Group(String),
    /// Another process joined the group with our `--group-instance-id` and took our place.
    #[error(
        "another transformer joined group with our --group-instance-id and took our partitions ({0}); stopped: give \
         each transformer its own --group-instance-id (GROUP_INSTANCE_ID)"
    )]
    Replaced(String),
}

/// Where committed positions live: the seam between the loop and its offset store. The loop loads the newest
/// checkpoint at start (or, with none under its key, adopts the group's positions under other keys), and commits one
/// after every acknowledged round. Today: [`CheckpointStore`] (a topic of our own); Kafka's group offsets
/// (OffsetCommit) are the next one; [`MemoryStore`] for unit tests.
pub trait OffsetStore: Send + Sync + 'static {
    /// The key this instance's checkpoints are kept under.
    fn key(&self) -> &str;
    /// The newest checkpoint of this instance, if any.
    fn load(&self) -> impl std::future::Future<Output = Result<Option<Checkpoint>, CheckpointError>> + Send;
    /// For a start with none of ours: the newest positions other keys of `group` committed for `inputs`.
    fn adopt(
        &self,
        group: &str,
        inputs: &[String],
    ) -> impl std::future::Future<Output = Result<Option<Adopted>, CheckpointError>> + Send;
    /// Stores `cp` durably; returns once it is acknowledged.
    fn commit(&self, cp: &Checkpoint) -> impl std::future::Future<Output = Result<(), CheckpointError>> + Send;
    /// New input partitions were found (`topics`: what to read now): a group member rejoins, so the group deals
    /// them out; a static store has nothing to do.
    fn rediscovered(&mut self, topics: &[String]) {
        let _ = topics;
    }
    /// Whether the partitions this instance owns are about to change (a consumer group rebalances).
    fn rebalance_due(&self) -> bool {
        false
    }
    /// When [`OffsetStore::rebalance_due`]: takes part in the rebalance and returns the partitions now owned.
    fn rebalance(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Option<Vec<(String, i32)>>, CheckpointError>> + Send {
        async { Ok(None) }
    }
    /// Before a commit that moves positions back (a recreated topic: see the loop, `pipeline/`) or that a recovery
    /// makes before the first write: records `cp`, whose marks lie past every output record of a deleted topic of
    /// the same name and before anything not yet committed, so no later recovery takes those records for the new
    /// topic's. A store that commits positions and marks in one record needs nothing here.
    fn marks_first(&self, cp: &Checkpoint) -> impl std::future::Future<Output = Result<(), CheckpointError>> + Send {
        let _ = cp;
        async { Ok(()) }
    }
    /// Whether this instance may write now (a group member that may have been replaced may not): `Err` says why
    /// not.
    fn may_write(&self) -> Result<(), String> {
        Ok(())
    }
    /// Whether every recovery commits its positions before the first write (a group: partitions that just moved
    /// here need a commit and marks of their new owner).
    fn commits_at_recovery(&self) -> bool {
        false
    }
    /// On a clean stop (a group member leaves, so its partitions move at once).
    fn close(&mut self) -> impl std::future::Future<Output = ()> + Send {
        async {}
    }
}

impl OffsetStore for CheckpointStore {
    fn key(&self) -> &str {
        CheckpointStore::key(self)
    }
    async fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        CheckpointStore::load(self).await
    }
    async fn adopt(&self, group: &str, inputs: &[String]) -> Result<Option<Adopted>, CheckpointError> {
        Ok(CheckpointStore::adopt(self, group, inputs).await?)
    }
    async fn commit(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        Ok(CheckpointStore::commit(self, cp).await?)
    }
}

/// An in-memory [`OffsetStore`] for unit tests: every commit kept, the newest one loaded.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// The commits, oldest first.
    pub commits: std::sync::Mutex<Vec<Checkpoint>>,
}

impl OffsetStore for MemoryStore {
    fn key(&self) -> &str {
        "memory"
    }
    async fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        Ok(self.commits.lock().expect("store lock poisoned").last().cloned())
    }
    async fn adopt(&self, _group: &str, _inputs: &[String]) -> Result<Option<Adopted>, CheckpointError> {
        Ok(None)
    }
    async fn commit(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        self.commits.lock().expect("store lock poisoned").push(cp.clone());
        Ok(())
    }
}

/// Reads and appends this instance's checkpoints on partition 0 of the checkpoint topic.
#[derive(Debug)]
pub struct CheckpointStore(KeyedLog);

impl CheckpointStore {
    /// A store for the checkpoints of `key` on `client` (partition 0 of the checkpoint topic).
    pub fn new(client: PartitionClient, key: String) -> Self {
        Self(KeyedLog::new(client, key))
    }

    /// The newest checkpoint of this instance, if any. One that does not decode is an error that names its offset
    /// and the way out.
    pub async fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        self.0.load().await.map_err(|e| match e {
            e @ KafkaError::BadCheckpoint { .. } => CheckpointError::Bad { source: e },
            e => CheckpointError::Kafka(e),
        })
    }

    /// The newest checkpoint of this instance with its offset in the checkpoint topic, and the offsets and
    /// validity of up to `history` earlier ones (for `transformer offsets show`).
    pub async fn history(&self, history: usize) -> Result<Vec<(i64, Result<Checkpoint, String>)>, KafkaError> {
        let mut found = Vec::new();
        self.0
            .scan_back(|offset, key, value| {
                if key == self.0.key().as_bytes() {
                    found.push((offset, serde_json::from_slice(value).map_err(|e| e.to_string())));
                }
                if found.len() > history {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .await?;
        Ok(found)
    }

    /// The checkpoint at `offset` of the checkpoint topic, whatever its key.
    pub async fn at(&self, offset: i64) -> Result<Checkpoint, String> {
        let records =
            runtime::kafka::read_range(self.0.client(), offset, offset + 1).await.map_err(|e| e.to_string())?;
        let r = records.first().ok_or_else(|| format!("no record at offset {offset} of the checkpoint topic"))?;
        serde_json::from_slice(r.record.value.as_deref().unwrap_or_default())
            .map_err(|e| format!("the record at offset {offset} is not a checkpoint: {e}"))
    }

    /// For a start with no checkpoint of our own: the newest positions that other keys of `group` committed for
    /// `inputs` (the group ran with another `--instances` before).
    pub async fn adopt(&self, group: &str, inputs: &[String]) -> Result<Option<Adopted>, KafkaError> {
        self.newest(&format!("{group}/"), inputs, Some(self.0.key())).await
    }

    /// The newest positions that checkpoints with keys under `prefix` (other than `except`) hold for `inputs`,
    /// and the lowest marks of the checkpoints they were taken from. Reads back until every input is found or the
    /// topic's start; records that do not decode are passed over with a warning.
    pub async fn newest(
        &self,
        prefix: &str,
        inputs: &[String],
        except: Option<&str>,
    ) -> Result<Option<Adopted>, KafkaError> {
        let mut adopted = Adopted::default();
        self.0
            .scan_back(|offset, key, value| {
                let Ok(key) = std::str::from_utf8(key) else {
                    return ControlFlow::Continue(());
                };
                if !key.starts_with(prefix) || Some(key) == except {
                    return ControlFlow::Continue(());
                }
                let cp: Checkpoint = match serde_json::from_slice(value) {
                    Ok(cp) => cp,
                    Err(e) => {
                        warn!(offset, key, error = %e, "passing over a checkpoint of the group that does not decode");
                        return ControlFlow::Continue(());
                    }
                };
                let mut took = false;
                for input in inputs {
                    if adopted.next_offsets.contains_key(input) {
                        continue;
                    }
                    if let Some(&o) = cp.next_offsets.get(input) {
                        adopted.next_offsets.insert(input.clone(), o);
                        adopted.input_marks.insert(input.clone(), cp.output_marks.clone());
                        took = true;
                    }
                }
                if took {
                    if !adopted.keys.iter().any(|k| k == key) {
                        adopted.keys.push(key.to_string());
                    }
                    for (k, &m) in &cp.output_marks {
                        let e = adopted.output_marks.entry(k.clone()).or_insert(m);
                        *e = (*e).min(m);
                    }
                }
                if inputs.iter().all(|i| adopted.next_offsets.contains_key(i)) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .await?;
        Ok((!adopted.keys.is_empty()).then_some(adopted))
    }

    /// Appends `cp` and waits for the broker's acknowledgement.
    pub async fn commit(&self, cp: &Checkpoint) -> Result<(), KafkaError> {
        self.0.append(cp).await
    }

    /// The key checkpoints are kept under.
    pub fn key(&self) -> &str {
        self.0.key()
    }
}
