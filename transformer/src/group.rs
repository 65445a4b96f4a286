//! The consumer-group offset store (`--assignment group`): Kafka's group coordinator deals the input partitions
//! among the transformers alive in `--group`, and positions are the group's committed offsets, where Kafka's
//! tools see them and their lag.
//!
//! What recovery needs beyond a position — the output marks, where a scan for what was written after the last
//! commit starts — does not go in the commit's metadata: nisshi 0.8.1 keeps the metadata but answers OffsetFetch
//! with an empty string (measured; its source does the same), and Kafka caps it at 4 KiB
//! (`offset.metadata.max.bytes`). The marks go to the checkpoint topic instead, keyed `<group>/group`, each record
//! holding the committer's partitions: one after every rebalance before the first write, then at most every
//! [`MARKS_EVERY`]. A mark older than the newest commit is still a valid start for the scan (whatever was written
//! after that commit lies past it); it only makes the scan longer, by at most [`MARKS_EVERY`] of output.
//!
//! Migration: a partition the group never committed resumes from the newest checkpoint of the same group in the
//! checkpoint topic (what `--assignment static` wrote), once; from its first group commit on, the group wins.
//!
//! Fencing: a member writes only while its lease holds (the coordinator answered a heartbeat within the last half
//! session timeout); a member frozen past the session timeout learns on waking that it was replaced before it
//! writes, or — if it froze between that check and the write — when its commit is refused. That one round is the
//! most it can write twice; it is counted (`transformer_group_fenced_records_total`) and logged.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rskafka::client::Client;
use runtime::group::{is_fencing, Beat, Generation, GroupError, Member, Settings, Tp};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::checkpoint::{Adopted, Checkpoint, CheckpointError, CheckpointStore, OffsetStore};
use crate::config::Config;
use crate::metrics::{GroupInfo, Metrics};
use crate::source::tp_key;

/// How often the output marks are written to the checkpoint topic while a member writes.
pub const MARKS_EVERY: Duration = Duration::from_secs(5);

/// What the heartbeat task learned, for the generation it beat for.
#[derive(Debug, Clone, Copy)]
struct Signal {
    generation: i32,
    beat: Beat,
}

/// Positions in a Kafka consumer group.
pub struct GroupStore {
    member: Arc<Member>,
    /// The checkpoint topic, for the output marks (key `<group>/group`) and the migration from static positions.
    log: CheckpointStore,
    client: Arc<Client>,
    topics: Vec<String>,
    generation: Generation,
    signal: Arc<Mutex<Signal>>,
    marks_written: Mutex<Option<Instant>>,
    metrics: Arc<Metrics>,
    heartbeat: JoinHandle<()>,
    /// A member writes only while its last answered heartbeat is younger than the session timeout minus this.
    margin: Duration,
    /// New partitions were found: rejoin at the next rebalance check.
    rejoin_asked: bool,
}

impl Drop for GroupStore {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl GroupStore {
    /// A member of `cfg.group`, heartbeating once it has joined; the first [`OffsetStore::rebalance`] joins.
    pub fn new(
        cfg: &Config,
        security: &runtime::security::Security,
        client: Arc<Client>,
        log: CheckpointStore,
        metrics: Arc<Metrics>,
    ) -> Self {
        let settings = settings(cfg, "etl-rs-transformer");
        let margin = settings.session_timeout / 2;
        let member = Arc::new(Member::new(settings, cfg.brokers.clone(), security.clone()));
        let signal = Arc::new(Mutex::new(Signal { generation: -1, beat: Beat::Ok }));
        let heartbeat = tokio::spawn(heartbeats(
            Arc::clone(&member),
            Arc::clone(&signal),
            Duration::from_millis(cfg.heartbeat_interval_ms),
        ));
        Self {
            member,
            log,
            client,
            topics: cfg.input_topics.clone(),
            generation: Generation {
                id: -1,
                member_id: String::new(),
                leader: String::new(),
                members: vec![],
                assignment: vec![],
            },
            signal,
            marks_written: Mutex::new(None),
            metrics,
            heartbeat,
            margin,
            rejoin_asked: false,
        }
    }

    /// Joins (again): the group deals the partitions anew.
    async fn rejoin(&mut self) -> Result<(), CheckpointError> {
        let partitions = runtime::kafka::topic_partitions(&self.client, &self.topics).await?;
        let started = Instant::now();
        let g =
            self.member.join(&self.topics, &partitions).await.map_err(|e| {
                CheckpointError::Group(format!("joining the group {}: {e}", self.member.settings().group))
            })?;
        *self.signal.lock().expect("signal lock poisoned") = Signal { generation: g.id, beat: Beat::Ok };
        *self.marks_written.lock().expect("marks lock poisoned") = None;
        info!(
            group = %self.member.settings().group,
            generation = g.id,
            member = %g.member_id,
            leader = g.leader == g.member_id,
            partitions = ?g.assignment.iter().map(|(t, p)| tp_key(t, *p)).collect::<Vec<_>>(),
            of = partitions.len(),
            join_ms = started.elapsed().as_millis() as u64,
            "joined the group: partitions assigned"
        );
        *self.metrics.group.lock().expect("metrics lock poisoned") = Some(GroupInfo {
            group: self.member.settings().group.clone(),
            member_id: g.member_id.clone(),
            generation: g.id,
            leader: g.leader == g.member_id,
            members: g.members.len(),
            assignment: g.assignment.iter().map(|(t, p)| tp_key(t, *p)).collect(),
        });
        self.metrics.group_rebalances.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.generation = g;
        self.rejoin_asked = false;
        Ok(())
    }

    fn fenced(why: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::Fenced(why.to_string())
    }
}

/// Heartbeats every `every`; what the coordinator says about the generation beaten for goes to `signal`.
async fn heartbeats(member: Arc<Member>, signal: Arc<Mutex<Signal>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let Some(g) = member.generation() else { continue };
        match member.heartbeat().await {
            Ok(Beat::Ok) => failing = false,
            Ok(beat) => {
                failing = false;
                let mut s = signal.lock().expect("signal lock poisoned");
                if s.generation == g.id {
                    s.beat = beat;
                }
            }
            Err(e) => {
                if !failing {
                    warn!(error = %e, "group heartbeat failed; the lease runs out after the session timeout");
                }
                failing = true;
            }
        }
    }
}

impl GroupStore {
    /// Appends the marks of `cp` for this member's partitions to the checkpoint topic: one record for the
    /// partitions with records found already written still ahead (marks where the recovery scan started), one for
    /// the others (the ends of our writes). Marks per partition, so a partition without such records never gets a
    /// scan start that reaches back before a deleted topic's records of the same name. Restarts the
    /// [`MARKS_EVERY`] clock.
    async fn append_marks(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        let keys: Vec<String> = self.generation.assignment.iter().map(|(t, p)| tp_key(t, *p)).collect();
        let part = |pinned: bool, marks: &BTreeMap<String, i64>| Checkpoint {
            next_offsets: cp
                .next_offsets
                .iter()
                .filter(|(k, _)| keys.contains(k) && cp.pinned.contains(*k) == pinned)
                .map(|(k, o)| (k.clone(), *o))
                .collect(),
            output_marks: marks.clone(),
            ..Default::default()
        };
        let free_marks = if cp.pinned.is_empty() { &cp.output_marks } else { &cp.ends };
        for record in [part(true, &cp.output_marks), part(false, free_marks)] {
            if !record.next_offsets.is_empty() {
                self.log.commit(&record).await?;
            }
        }
        *self.marks_written.lock().expect("marks lock poisoned") = Some(Instant::now());
        Ok(())
    }
}

impl OffsetStore for GroupStore {
    fn key(&self) -> &str {
        self.log.key()
    }

    /// The group's committed offsets for our partitions; the marks (and, for a partition the group never
    /// committed, the position) from the newest checkpoints of the group in the checkpoint topic.
    async fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let parts = &self.generation.assignment;
        let committed = self.member.committed(parts).await.map_err(group_err)?;
        let keys: Vec<String> = parts.iter().map(|(t, p)| tp_key(t, *p)).collect();
        let prefix = format!("{}/", self.member.settings().group);
        let none = Adopted::default;
        // The marks: the newest record of the group covering each partition, ours or a static checkpoint.
        let Adopted { next_offsets: marked, output_marks, input_marks, .. } =
            self.log.newest(&prefix, &keys, None).await?.unwrap_or_else(none);
        // Positions the group never committed come from static checkpoints only (migration). Our own records'
        // positions are never used: a partition whose group offset is gone had its topic deleted (Kafka deletes a
        // topic's group offsets with it), and an old position could lie inside the new topic.
        // Only looked for when some partition has no group offset: the scan may read back to the topic's start.
        let missing: Vec<String> =
            parts.iter().zip(&keys).filter(|(tp, _)| !committed.contains_key(*tp)).map(|(_, k)| k.clone()).collect();
        let Adopted { next_offsets: logged_offsets, keys: from_keys, .. } = if missing.is_empty() {
            none()
        } else {
            self.log.newest(&prefix, &missing, Some(self.log.key())).await?.unwrap_or_else(none)
        };
        let mut cp = Checkpoint { output_marks, input_marks, ..Default::default() };
        let mut migrated = Vec::new();
        let mut unmarked = Vec::new();
        for (tp, key) in parts.iter().zip(&keys) {
            match (committed.get(tp), logged_offsets.get(key)) {
                (Some(c), _) => {
                    cp.next_offsets.insert(key.clone(), c.offset);
                    if !marked.contains_key(key) {
                        unmarked.push(key.clone());
                    }
                }
                (None, Some(&o)) => {
                    cp.next_offsets.insert(key.clone(), o);
                    migrated.push(key.clone());
                }
                (None, None) => {
                    // The group recorded a position for it, and the coordinator has none now.
                    if let Some(&o) = marked.get(key) {
                        cp.gone.insert(key.clone(), o);
                    }
                }
            }
        }
        if !migrated.is_empty() {
            info!(partitions = ?migrated, from_keys = ?from_keys, "no group offsets for these partitions yet: resuming from the checkpoint topic (once; the group's offsets win from the first commit on)");
        }
        if !unmarked.is_empty() {
            // Committed by someone who left no marks (a tool that reset the group's offsets): where our writes past
            // the commit start is unknown, so the outputs are scanned from their start.
            warn!(partitions = ?unmarked, "group offsets without output marks (set by another tool?): scanning the outputs from their log start");
            cp.output_marks.clear();
            cp.input_marks.clear();
        }
        Ok((!cp.next_offsets.is_empty() || !cp.gone.is_empty()).then_some(cp))
    }

    async fn adopt(&self, _group: &str, _inputs: &[String]) -> Result<Option<Adopted>, CheckpointError> {
        Ok(None) // load() already took the checkpoint topic's positions for partitions the group never committed
    }

    async fn commit(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        if !self.member.lease_ok(self.margin) {
            return Err(Self::fenced("no heartbeat answered within the session timeout"));
        }
        let mine: BTreeMap<Tp, i64> = self
            .generation
            .assignment
            .iter()
            .filter_map(|(t, p)| cp.next_offsets.get(&tp_key(t, *p)).map(|o| ((t.clone(), *p), *o)))
            .collect();
        self.member.commit(&mine, "").await.map_err(group_err)?;
        let due = self.marks_written.lock().expect("marks lock poisoned").is_none_or(|t| t.elapsed() >= MARKS_EVERY);
        if due {
            self.append_marks(cp).await?;
        }
        Ok(())
    }

    /// The marks go to the checkpoint topic before the group's offsets: after a recovery (nothing written yet) or as
    /// they were before a round that moved positions back. A crash between the two leaves the old positions
    /// committed (or none, for a deleted topic's partitions), which the next owner handles as it would have.
    async fn marks_first(&self, cp: &Checkpoint) -> Result<(), CheckpointError> {
        self.append_marks(cp).await
    }

    fn rediscovered(&mut self, topics: &[String]) {
        self.topics = topics.to_vec();
        self.rejoin_asked = true;
    }

    fn rebalance_due(&self) -> bool {
        let s = *self.signal.lock().expect("signal lock poisoned");
        self.rejoin_asked
            || (s.generation == self.generation.id && s.beat != Beat::Ok)
            || !self.member.lease_ok(Duration::ZERO)
    }

    async fn rebalance(&mut self) -> Result<Option<Vec<Tp>>, CheckpointError> {
        if !self.rebalance_due() {
            return Ok(None);
        }
        if self.signal.lock().expect("signal lock poisoned").beat == Beat::Replaced {
            return Err(CheckpointError::Replaced("the coordinator answered FENCED_INSTANCE_ID".into()));
        }
        if self.generation.id >= 0 {
            let why = self.signal.lock().expect("signal lock poisoned").beat;
            info!(reason = ?why, "the group rebalances: rejoining");
        }
        self.rejoin().await?;
        Ok(Some(self.generation.assignment.clone()))
    }

    fn may_write(&self) -> Result<(), String> {
        if self.member.lease_ok(self.margin) {
            Ok(())
        } else {
            Err(format!(
                "no heartbeat answered for over {} ms: the group may have given our partitions to another member",
                (self.member.settings().session_timeout - self.margin).as_millis()
            ))
        }
    }

    fn commits_at_recovery(&self) -> bool {
        true
    }

    async fn close(&mut self) {
        self.heartbeat.abort();
        match self.member.leave().await {
            Ok(()) => info!("left the group: its partitions move to the other members now"),
            Err(e) => warn!(error = %e, "leaving the group failed; the coordinator drops us after the session timeout"),
        }
    }
}

/// A member of `cfg.group` that does not join: for reading the group's offsets and describing it (`--status`,
/// `offsets`), and for an operator's commit while the group is empty.
pub fn outsider(cfg: &Config) -> Result<Member, crate::config::ConfigError> {
    let settings = Settings { instance_id: None, ..settings(cfg, "etl-rs-admin") };
    Ok(Member::new(settings, cfg.brokers.clone(), cfg.security()?))
}

/// The group settings `cfg` asks for.
fn settings(cfg: &Config, client_id: &str) -> Settings {
    Settings {
        group: cfg.group.clone(),
        session_timeout: Duration::from_millis(cfg.session_timeout_ms),
        rebalance_timeout: Duration::from_millis(cfg.max_poll_interval_ms),
        request_timeout: cfg.request_timeout(),
        client_id: client_id.into(),
        instance_id: cfg.group_instance_id.clone(),
    }
}

/// A group error as an offset-store error: fencing apart from the rest.
fn group_err(e: GroupError) -> CheckpointError {
    if e.kafka() == Some(runtime::group::ResponseError::FencedInstanceId) {
        CheckpointError::Replaced(e.to_string())
    } else if is_fencing(&e) {
        CheckpointError::Fenced(e.to_string())
    } else {
        CheckpointError::Group(e.to_string())
    }
}
