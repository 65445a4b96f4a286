//! A member of a Kafka consumer group: it finds the group's coordinator, joins (the leader deals the partitions,
//! [`super::assign::round_robin`]), heartbeats, commits and fetches offsets, and leaves. Kafka does the distributed
//! part: who is alive, who owns what, and which member is stale (a commit of an old generation is refused).
//!
//! The member keeps a lease: the time its last heartbeat was answered. The coordinator drops a member it has not
//! heard from for the session timeout, so a member whose lease is older than that may already have been replaced
//! (it was frozen, or cut off) and must not write; [`Member::lease_ok`] says so before every write.

use std::collections::BTreeMap;
use std::sync::Mutex as SyncMutex;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    DescribeGroupsRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use super::assign::{self, Tp};
use super::conn::{Connection, GroupError};
use crate::security::Security;

/// How a member takes part in its group.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The group.
    pub group: String,
    /// The coordinator drops a member it has not heard from for this long (Kafka's session.timeout.ms).
    pub session_timeout: Duration,
    /// How long the coordinator waits for every member to rejoin in a rebalance (Kafka's max.poll.interval.ms).
    pub rebalance_timeout: Duration,
    /// The deadline of every other request.
    pub request_timeout: Duration,
    /// Whom we tell the broker we are (client.id).
    pub client_id: String,
    /// Static membership (Kafka's group.instance.id, KIP-345): a member restarted with the same id takes its
    /// place back at once, without waiting for the session timeout and without a rebalance, and a second process
    /// with the same id is fenced. Needs the newer request versions (JoinGroup v5, OffsetCommit v7).
    pub instance_id: Option<String>,
}

/// One generation of the group, as this member joined it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The generation id: commits carry it, and the coordinator refuses an older one.
    pub id: i32,
    /// Our member id.
    pub member_id: String,
    /// The leader's member id.
    pub leader: String,
    /// The members (known to the leader only; empty for the others).
    pub members: Vec<String>,
    /// Our partitions, sorted.
    pub assignment: Vec<Tp>,
}

/// A committed position and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The next offset to read.
    pub offset: i64,
    /// What the committer stored with it.
    pub metadata: String,
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Still a member of the current generation.
    Ok,
    /// The group is rebalancing: finish the round in flight, commit it, and rejoin.
    Rebalance,
    /// We are no longer a member of this generation (dropped after the session timeout, or replaced): rejoin; what
    /// we write now may be written again by the partitions' new owners.
    Fenced,
    /// Another process joined with our group instance id (static membership) and took our place: stop, rejoining
    /// would take it back and the two would fence each other in turn.
    Replaced,
}

/// A member of one group.
pub struct Member {
    settings: Settings,
    brokers: Vec<String>,
    security: Security,
    /// The connection to the coordinator (none until found, or after it broke).
    conn: Mutex<Option<Connection>>,
    state: SyncMutex<State>,
}

#[derive(Debug, Default)]
struct State {
    member_id: String,
    generation: Option<Generation>,
    /// When the last heartbeat (or join) that the coordinator answered was sent.
    lease_from: Option<Instant>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("group", &self.settings.group).finish()
    }
}

/// Versions we speak, per request: those whose fields we fill (librdkafka 2.x sends the same or close).
const FIND_COORDINATOR: (i16, i16) = (0, 3);
const JOIN_GROUP: (i16, i16) = (1, 5);
const SYNC_GROUP: (i16, i16) = (0, 4);
const HEARTBEAT: (i16, i16) = (0, 3);
const LEAVE_GROUP: (i16, i16) = (0, 4);
const OFFSET_COMMIT: (i16, i16) = (2, 7);
const OFFSET_FETCH: (i16, i16) = (1, 7);
const DESCRIBE_GROUPS: (i16, i16) = (0, 4);

impl Settings {
    /// The versions to speak: with static membership only those that carry the instance id.
    fn versions(&self, any: (i16, i16), with_instance_id: i16) -> (i16, i16) {
        if self.instance_id.is_some() {
            (any.0.max(with_instance_id), any.1)
        } else {
            any
        }
    }

    fn instance(&self) -> Option<StrBytes> {
        self.instance_id.as_deref().map(s)
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn kafka(api: &'static str, code: i16) -> Result<(), GroupError> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(error) => Err(GroupError::Kafka { api, error }),
    }
}

impl Member {
    /// A member of `settings.group` on the cluster `brokers`; nothing is sent until [`Member::join`].
    pub fn new(settings: Settings, brokers: Vec<String>, security: Security) -> Self {
        Self { settings, brokers, security, conn: Mutex::new(None), state: SyncMutex::new(State::default()) }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The generation joined last (`None` before the first join, or after we learned we were fenced).
    pub fn generation(&self) -> Option<Generation> {
        self.state.lock().expect("member lock poisoned").generation.clone()
    }

    /// Whether the coordinator answered us recently enough that we are still a member: the last answered
    /// heartbeat was sent less than `session_timeout - margin` ago.
    pub fn lease_ok(&self, margin: Duration) -> bool {
        let st = self.state.lock().expect("member lock poisoned");
        st.generation.is_some() && st.lease_from.is_some_and(|t| t.elapsed() + margin < self.settings.session_timeout)
    }

    /// Sends `req` to the coordinator (found first when needed). A broken connection is dropped, so the next
    /// request finds the coordinator again.
    async fn call<R: super::conn::Call>(
        &self,
        req: &R,
        ours: (i16, i16),
        deadline: Option<Duration>,
    ) -> Result<R::Response, GroupError> {
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            *guard = Some(self.find_coordinator().await?);
        }
        let conn = guard.as_mut().expect("just set");
        let r = match deadline {
            Some(d) => conn.send_within(req, ours, d).await,
            None => conn.send(req, ours).await,
        };
        if matches!(r, Err(GroupError::Io { .. } | GroupError::Timeout { .. } | GroupError::Protocol { .. })) {
            *guard = None;
        }
        r
    }

    /// Forgets the coordinator's connection (it moved, or is not available): the next request finds it again.
    async fn rediscover(&self) {
        *self.conn.lock().await = None;
    }

    /// Asks the brokers in turn which one coordinates the group, and connects to it.
    async fn find_coordinator(&self) -> Result<Connection, GroupError> {
        let mut last = None;
        for addr in &self.brokers {
            let mut conn = match Connection::open(addr, &self.security, self.settings.request_timeout).await {
                Ok(c) => c,
                Err(e @ GroupError::Refused { .. }) => return Err(e),
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let req = FindCoordinatorRequest::default().with_key(s(&self.settings.group));
            let resp = match conn.send(&req, FIND_COORDINATOR).await {
                Ok(r) => r,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            kafka("FindCoordinator", resp.error_code)?;
            let target = format!("{}:{}", resp.host, resp.port);
            if target == *addr {
                return Ok(conn);
            }
            debug!(coordinator = %target, "group coordinator found");
            return Connection::open(&target, &self.security, self.settings.request_timeout).await;
        }
        Err(last.unwrap_or_else(|| GroupError::Io {
            addr: String::new(),
            source: std::io::Error::other("no broker given"),
        }))
    }

    /// Joins the group (or rejoins it after a rebalance) subscribed to `topics`; as the leader, deals
    /// `partitions` (every partition of the topics). Returns once the group has a new generation and we know our
    /// partitions. Errors the group answers with while it settles (a rebalance, a coordinator that moved) are
    /// retried here; what is returned is a failure to reach it, or a refusal.
    pub async fn join(&self, topics: &[String], partitions: &[Tp]) -> Result<Generation, GroupError> {
        let join_deadline = self.settings.rebalance_timeout + self.settings.request_timeout;
        let started = Instant::now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            if attempts > 1 {
                // A coordinator that moved or is loading, or a rebalance that restarted: settle briefly.
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempts.min(10)))).await;
            }
            if started.elapsed() > join_deadline * 2 {
                return Err(GroupError::Timeout { addr: String::new(), api: "JoinGroup", waited: started.elapsed() });
            }
            let member_id = self.state.lock().expect("member lock poisoned").member_id.clone();
            let req = JoinGroupRequest::default()
                .with_group_id(GroupId(s(&self.settings.group)))
                .with_session_timeout_ms(self.settings.session_timeout.as_millis() as i32)
                .with_rebalance_timeout_ms(self.settings.rebalance_timeout.as_millis() as i32)
                .with_member_id(s(&member_id))
                .with_group_instance_id(self.settings.instance())
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str(assign::ROUND_ROBIN))
                    .with_metadata(assign::subscription(topics))]);
            let resp = match self.call(&req, self.settings.versions(JOIN_GROUP, 5), Some(join_deadline)).await {
                Ok(r) => r,
                Err(e @ (GroupError::Io { .. } | GroupError::Timeout { .. })) if attempts < 5 => {
                    warn!(error = %e, "JoinGroup failed; trying again");
                    continue;
                }
                Err(e) => return Err(e),
            };
            match ResponseError::try_from_code(resp.error_code) {
                None => {}
                Some(ResponseError::MemberIdRequired) => {
                    self.state.lock().expect("member lock poisoned").member_id = resp.member_id.to_string();
                    continue;
                }
                Some(ResponseError::UnknownMemberId) => {
                    self.state.lock().expect("member lock poisoned").member_id.clear();
                    continue;
                }
                Some(
                    ResponseError::NotCoordinator
                    | ResponseError::CoordinatorNotAvailable
                    | ResponseError::CoordinatorLoadInProgress,
                ) => {
                    self.rediscover().await;
                    continue;
                }
                Some(ResponseError::RebalanceInProgress | ResponseError::IllegalGeneration) => continue,
                Some(error) => return Err(GroupError::Kafka { api: "JoinGroup", error }),
            }
            let me = resp.member_id.to_string();
            self.state.lock().expect("member lock poisoned").member_id = me.clone();
            let leader = resp.leader.to_string();
            let mut members = Vec::new();
            let assignments = if leader == me {
                let subs: BTreeMap<String, Vec<String>> = resp
                    .members
                    .iter()
                    .map(|m| {
                        let topics = assign::parse_subscription(m.metadata.clone()).unwrap_or_else(|| {
                            warn!(member = %m.member_id, "a member's subscription does not decode: it gets nothing");
                            Vec::new()
                        });
                        (m.member_id.to_string(), topics)
                    })
                    .collect();
                members = subs.keys().cloned().collect();
                let dealt = assign::round_robin(&subs, partitions);
                info!(
                    generation = resp.generation_id,
                    members = members.len(),
                    partitions = partitions.len(),
                    "leading the group: partitions dealt"
                );
                dealt
                    .iter()
                    .map(|(m, parts)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(s(m))
                            .with_assignment(assign::assignment(parts))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let sync = SyncGroupRequest::default()
                .with_group_id(GroupId(s(&self.settings.group)))
                .with_generation_id(resp.generation_id)
                .with_member_id(s(&me))
                .with_group_instance_id(self.settings.instance())
                .with_assignments(assignments);
            // The coordinator's session clock for us restarts with this generation: the lease counts from here.
            let sent = Instant::now();
            let sresp = match self.call(&sync, self.settings.versions(SYNC_GROUP, 3), Some(join_deadline)).await {
                Ok(r) => r,
                Err(e @ (GroupError::Io { .. } | GroupError::Timeout { .. })) if attempts < 5 => {
                    warn!(error = %e, "SyncGroup failed; joining again");
                    continue;
                }
                Err(e) => return Err(e),
            };
            match ResponseError::try_from_code(sresp.error_code) {
                None => {}
                Some(ResponseError::UnknownMemberId) => {
                    self.state.lock().expect("member lock poisoned").member_id.clear();
                    continue;
                }
                Some(ResponseError::NotCoordinator | ResponseError::CoordinatorNotAvailable) => {
                    self.rediscover().await;
                    continue;
                }
                Some(ResponseError::RebalanceInProgress | ResponseError::IllegalGeneration) => continue,
                Some(error) => return Err(GroupError::Kafka { api: "SyncGroup", error }),
            }
            let assignment =
                assign::parse_assignment(sresp.assignment.clone()).ok_or_else(|| GroupError::Protocol {
                    addr: String::new(),
                    api: "SyncGroup",
                    what: "the leader's assignment does not decode".into(),
                })?;
            let generation = Generation { id: resp.generation_id, member_id: me, leader, members, assignment };
            let mut st = self.state.lock().expect("member lock poisoned");
            st.generation = Some(generation.clone());
            st.lease_from = Some(sent);
            return Ok(generation);
        }
    }

    /// One heartbeat. Failing to reach the coordinator is an error (the lease then runs out by itself).
    pub async fn heartbeat(&self) -> Result<Beat, GroupError> {
        let Some(g) = self.generation() else { return Ok(Beat::Fenced) };
        let req = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&self.settings.group)))
            .with_generation_id(g.id)
            .with_member_id(s(&g.member_id))
            .with_group_instance_id(self.settings.instance());
        let sent = Instant::now();
        let resp = self.call(&req, self.settings.versions(HEARTBEAT, 3), None).await?;
        match ResponseError::try_from_code(resp.error_code) {
            None => {
                self.renew(&g, sent);
                Ok(Beat::Ok)
            }
            Some(ResponseError::RebalanceInProgress) => {
                // Still a member: the coordinator waits for us to rejoin.
                self.renew(&g, sent);
                Ok(Beat::Rebalance)
            }
            Some(ResponseError::IllegalGeneration | ResponseError::UnknownMemberId) => {
                // A heartbeat of a generation we already left (a join raced it) says nothing about the new one.
                Ok(if self.fenced(&g) { Beat::Fenced } else { Beat::Ok })
            }
            Some(ResponseError::FencedInstanceId) => {
                self.fenced(&g);
                Ok(Beat::Replaced)
            }
            Some(ResponseError::NotCoordinator | ResponseError::CoordinatorNotAvailable) => {
                self.rediscover().await;
                Err(GroupError::Kafka { api: "Heartbeat", error: ResponseError::NotCoordinator })
            }
            Some(error) => Err(GroupError::Kafka { api: "Heartbeat", error }),
        }
    }

    fn renew(&self, g: &Generation, sent: Instant) {
        let mut st = self.state.lock().expect("member lock poisoned");
        if st.generation.as_ref().is_some_and(|cur| cur.id == g.id) {
            st.lease_from = Some(sent);
        }
    }

    /// Forgets generation `g` (the coordinator refused it); `false` when we had already moved on from it.
    fn fenced(&self, g: &Generation) -> bool {
        let mut st = self.state.lock().expect("member lock poisoned");
        if st.generation.as_ref().is_some_and(|cur| cur.id == g.id) {
            st.generation = None;
            st.lease_from = None;
            true
        } else {
            false
        }
    }

    /// Commits `offsets` (topic, partition → next offset) with `metadata`, in the current generation. A refusal
    /// because the generation is over (we were fenced, or a rebalance began) is [`GroupError::Kafka`] with that
    /// code; see [`is_fencing`].
    pub async fn commit(&self, offsets: &BTreeMap<Tp, i64>, metadata: &str) -> Result<(), GroupError> {
        let Some(g) = self.generation() else {
            return Err(GroupError::Kafka { api: "OffsetCommit", error: ResponseError::UnknownMemberId });
        };
        self.commit_in(&g, offsets, metadata).await
    }

    async fn commit_in(&self, g: &Generation, offsets: &BTreeMap<Tp, i64>, metadata: &str) -> Result<(), GroupError> {
        let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for ((t, p), o) in offsets {
            by_topic.entry(t).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*p)
                    .with_committed_offset(*o)
                    .with_committed_metadata(Some(s(metadata))),
            );
        }
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(&self.settings.group)))
            .with_generation_id_or_member_epoch(g.id)
            .with_member_id(s(&g.member_id))
            .with_group_instance_id(self.settings.instance())
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(t, ps)| OffsetCommitRequestTopic::default().with_name(TopicName(s(t))).with_partitions(ps))
                    .collect(),
            );
        let resp = self.call(&req, self.settings.versions(OFFSET_COMMIT, 7), None).await?;
        for t in &resp.topics {
            for p in &t.partitions {
                if let Some(error) = ResponseError::try_from_code(p.error_code) {
                    if matches!(
                        error,
                        ResponseError::IllegalGeneration
                            | ResponseError::UnknownMemberId
                            | ResponseError::FencedInstanceId
                    ) {
                        self.fenced(g);
                    }
                    if matches!(error, ResponseError::NotCoordinator | ResponseError::CoordinatorNotAvailable) {
                        self.rediscover().await;
                    }
                    return Err(GroupError::Kafka { api: "OffsetCommit", error });
                }
            }
        }
        Ok(())
    }

    /// Commits `offsets` from outside the group (an operator's reset): Kafka takes such a commit only while the
    /// group has no members, and refuses it otherwise (UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION).
    pub async fn commit_outside(&self, offsets: &BTreeMap<Tp, i64>) -> Result<(), GroupError> {
        let outsider =
            Generation { id: -1, member_id: String::new(), leader: String::new(), members: vec![], assignment: vec![] };
        self.commit_in(&outsider, offsets, "").await
    }

    /// The group's committed positions for `partitions` (those with none are left out).
    pub async fn committed(&self, partitions: &[Tp]) -> Result<BTreeMap<Tp, Committed>, GroupError> {
        fetch_committed(self, partitions).await
    }

    /// Leaves the group, so its partitions move at once instead of after the session timeout. A static member
    /// does not (as in Kafka): it is expected back under the same instance id, and its partitions wait for it until
    /// the session timeout.
    pub async fn leave(&self) -> Result<(), GroupError> {
        let Some(g) = self.generation() else { return Ok(()) };
        if self.settings.instance_id.is_some() {
            return Ok(());
        }
        let version = {
            let guard = self.conn.lock().await;
            guard.as_ref().map(|c| c.version_of::<LeaveGroupRequest>(LEAVE_GROUP))
        };
        let mut req = LeaveGroupRequest::default().with_group_id(GroupId(s(&self.settings.group)));
        req = match version {
            Some(Ok(v)) if v >= 3 => req.with_members(vec![MemberIdentity::default().with_member_id(s(&g.member_id))]),
            _ => req.with_member_id(s(&g.member_id)),
        };
        let ours = if matches!(version, Some(Ok(v)) if v >= 3) { LEAVE_GROUP } else { (0, 2) };
        let resp = self.call(&req, ours, None).await?;
        self.fenced(&g);
        kafka("LeaveGroup", resp.error_code)
    }
}

/// A group as the coordinator describes it (DescribeGroups).
#[derive(Debug, Clone, Default)]
pub struct Described {
    /// Kafka's state name: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead.
    pub state: String,
    /// The assignment strategy in use.
    pub protocol: String,
    /// (member id, client id, client host, partitions) per member; the partitions are empty where the broker
    /// does not give them (nisshi 0.8.1).
    pub members: Vec<(String, String, String, Vec<Tp>)>,
}

impl Member {
    /// What the coordinator says of the group (no need to be a member).
    pub async fn describe(&self) -> Result<Described, GroupError> {
        let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s(&self.settings.group))]);
        let resp = self.call(&req, DESCRIBE_GROUPS, None).await?;
        let Some(g) = resp.groups.first() else { return Ok(Described::default()) };
        kafka("DescribeGroups", g.error_code)?;
        Ok(Described {
            state: g.group_state.to_string(),
            protocol: g.protocol_data.to_string(),
            members: g
                .members
                .iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        m.client_id.to_string(),
                        m.client_host.to_string(),
                        assign::parse_assignment(m.member_assignment.clone()).unwrap_or_default(),
                    )
                })
                .collect(),
        })
    }
}

/// Whether `e` means our generation is over: rejoin (and, if we wrote meanwhile, others may write it again).
pub fn is_fencing(e: &GroupError) -> bool {
    matches!(
        e.kafka(),
        Some(
            ResponseError::IllegalGeneration
                | ResponseError::UnknownMemberId
                | ResponseError::FencedInstanceId
                | ResponseError::RebalanceInProgress
        )
    )
}

async fn fetch_committed(member: &Member, partitions: &[Tp]) -> Result<BTreeMap<Tp, Committed>, GroupError> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        by_topic.entry(t).or_default().push(*p);
    }
    let req = OffsetFetchRequest::default().with_group_id(GroupId(s(&member.settings.group))).with_topics(Some(
        by_topic
            .into_iter()
            .map(|(t, ps)| OffsetFetchRequestTopic::default().with_name(TopicName(s(t))).with_partition_indexes(ps))
            .collect(),
    ));
    let resp = member.call(&req, OFFSET_FETCH, None).await?;
    kafka("OffsetFetch", resp.error_code)?;
    let mut out = BTreeMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            kafka("OffsetFetch", p.error_code)?;
            if p.committed_offset >= 0 {
                out.insert(
                    (t.name.to_string(), p.partition_index),
                    Committed {
                        offset: p.committed_offset,
                        metadata: p.metadata.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                    },
                );
            }
        }
    }
    Ok(out)
}
