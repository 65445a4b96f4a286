//! Reading from Kafka: the input partitions this instance owns, fetching from them with a position check that does
//! not trust the broker's error codes, and bounded reads of a partition's offset range.

use rskafka::client::error::{Error as RsError, ProtocolError, RequestError};
use rskafka::client::partition::OffsetAt;
use rskafka::client::Client;
use rskafka::record::RecordAndOffset;
use runtime::kafka::KafkaError;
pub use runtime::kafka::{bounds, read_range, scan, tp_key};
use tracing::info;

mod partition;
#[cfg(test)]
pub use partition::memory::MemoryPartition;
pub use partition::Partition;

/// Where a raw record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// Raw topic name.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// One input partition and where we are in it.
#[derive(Debug, Clone)]
pub struct Input {
    /// Reads the partition.
    pub client: Partition,
    /// First offset not yet done (mapped, written, acknowledged and committed).
    pub next_offset: i64,
    /// High watermark seen by the last fetch (for lag).
    pub high_watermark: i64,
}

impl Input {
    /// `topic/partition`, the key used in checkpoints and logs.
    pub fn key(&self) -> String {
        tp_key(self.client.topic(), self.client.partition())
    }

    /// `(topic, partition)`, the key of its metrics.
    pub fn id(&self) -> (String, i32) {
        (self.client.topic().to_string(), self.client.partition())
    }
}

/// Which of `all` (sorted `(topic, partition)` pairs) instance `instance` of `instances` owns: every n-th.
pub fn assign(all: &[(String, i32)], instance: u32, instances: u32) -> Vec<(String, i32)> {
    all.iter().enumerate().filter(|(i, _)| *i as u32 % instances == instance).map(|(_, tp)| tp.clone()).collect()
}

/// An input position the broker no longer has. Found by comparing the position with the partition's log start
/// and high watermark ourselves: a broker may answer a fetch past the end with an empty result instead of
/// OFFSET_OUT_OF_RANGE (nisshi does), and Apache Kafka's own answer to that error would be to jump to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionProblem {
    /// The position is past the partition's end: the topic was deleted and recreated, or truncated. Every record
    /// the partition holds now is new to us.
    PastEnd {
        /// The position we had.
        position: i64,
        /// The partition's first offset now.
        log_start: i64,
        /// The partition's high watermark now.
        high_watermark: i64,
    },
    /// The position is below the log start: retention deleted `[position, log_start)` before it was read.
    BeforeLogStart {
        /// The position we had.
        position: i64,
        /// The partition's first offset now.
        log_start: i64,
    },
    /// The consumer group's committed offset is gone although the group had one (Kafka deletes a topic's group
    /// offsets with the topic, and expires those of a group idle longer than `offsets.retention.minutes`). Like a
    /// recreated topic: every record the partition holds may be new to us.
    Gone {
        /// The position the group last recorded for it.
        position: i64,
        /// The partition's first offset now.
        log_start: i64,
    },
}

impl PositionProblem {
    /// Checks `position` against the partition's `[log_start, high_watermark]`.
    pub fn check(position: i64, log_start: i64, high_watermark: i64) -> Option<Self> {
        if position > high_watermark {
            Some(Self::PastEnd { position, log_start, high_watermark })
        } else if position < log_start {
            Some(Self::BeforeLogStart { position, log_start })
        } else {
            None
        }
    }

    /// Where reading resumes: the log start, in both cases (a recreated topic's records are all new; after
    /// retention, the oldest record left is the first one not lost).
    pub fn resume_at(&self) -> i64 {
        match *self {
            Self::PastEnd { log_start, .. } | Self::BeforeLogStart { log_start, .. } | Self::Gone { log_start, .. } => {
                log_start
            }
        }
    }

    /// Records deleted by retention before they were read (0 for a recreated topic: what it lost is unknowable).
    pub fn lost(&self) -> u64 {
        match *self {
            Self::PastEnd { .. } | Self::Gone { .. } => 0,
            Self::BeforeLogStart { position, log_start } => (log_start - position) as u64,
        }
    }

    /// A committed position as the reports print it: its state (`ok`, `past_end`, `before_log_start`) and the
    /// records still to read, counted from where reading resumes (the log start, for a position the broker no
    /// longer has). `None` (nothing committed yet) reads from the log start. `transformer --status` and
    /// `transformer offsets show` both print this.
    pub fn report(position: Option<i64>, log_start: i64, high_watermark: i64) -> (&'static str, i64) {
        let problem = position.and_then(|p| Self::check(p, log_start, high_watermark));
        let from = match (position, problem) {
            (_, Some(problem)) => problem.resume_at(),
            (Some(p), None) => p,
            (None, None) => log_start,
        };
        (problem.map_or("ok", |p| p.kind()), (high_watermark - from).max(0))
    }

    /// Short machine-readable name (a metric label).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PastEnd { .. } => "past_end",
            Self::BeforeLogStart { .. } => "before_log_start",
            Self::Gone { .. } => "offset_gone",
        }
    }
}

impl std::fmt::Display for PositionProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::PastEnd { position, log_start, high_watermark } => write!(
                f,
                "position {position} is past the end of the partition (log start {log_start}, high watermark \
                 {high_watermark}): the topic was recreated or truncated"
            ),
            Self::BeforeLogStart { position, log_start } => write!(
                f,
                "position {position} is below the log start {log_start}: retention deleted offsets \
                 {position}..{log_start} ({} records) before they were read",
                log_start - position
            ),
            Self::Gone { position, .. } => write!(
                f,
                "the group's committed offset is gone (last recorded: {position}): the topic was deleted and \
                 recreated, or the group's offsets expired"
            ),
        }
    }
}

/// What one fetch found.
#[derive(Debug)]
pub enum Fetched {
    /// Records at or after the position (possibly none: nothing new yet).
    Records(Vec<RecordAndOffset>),
    /// The position is no longer valid; nothing was read. The caller decides (`--on-offset-out-of-range`).
    Invalid(PositionProblem),
}

/// Fetches the next records of `input` (those at or after `next_offset`), waiting at most `max_wait_ms`, and
/// takes the answer as [`settle`] does.
pub async fn fetch(input: &mut Input, max_bytes: i32, max_wait_ms: i32) -> Result<Fetched, RsError> {
    let answer = request(&input.client, input.next_offset, max_bytes, max_wait_ms).await;
    settle(input, answer).await
}

/// What a fetch request answered: the records of a batch or more from its offset on, and the high watermark.
pub type Answer = Result<(Vec<RecordAndOffset>, i64), RsError>;

/// One fetch request at `offset`, nothing checked or kept: the loop sends the next round's while this round is
/// written (see `pipeline/`), and [`settle`]s the answer once that position is the input's.
pub async fn request(client: &Partition, offset: i64, max_bytes: i32, max_wait_ms: i32) -> Answer {
    client.fetch_records(offset, 1..max_bytes.max(2), max_wait_ms).await
}

/// Takes `answer`, to a request at the input's position, as fetched: updates its high watermark and keeps the
/// records at or after the position. The position is checked against the log start and high watermark
/// (ListOffsets) whenever the answer does not simply continue where we are: an OFFSET_OUT_OF_RANGE error, an empty
/// answer while the position is past the high watermark or below it (records should have come), or a first record
/// past the position (a gap: retention, or compaction, which is fine).
pub async fn settle(input: &mut Input, answer: Answer) -> Result<Fetched, RsError> {
    let suspicious = match &answer {
        Err(RsError::ServerError { protocol_error: ProtocolError::OffsetOutOfRange, .. }) => true,
        Err(_) => false,
        Ok((records, hw)) => match records.iter().find(|r| r.offset >= input.next_offset) {
            None => input.next_offset != *hw,
            Some(first) => first.offset > input.next_offset,
        },
    };
    if suspicious {
        if let Some(problem) = check_position(input).await? {
            return Ok(Fetched::Invalid(problem));
        }
    }
    let (mut records, hw) = answer?;
    records.retain(|r| r.offset >= input.next_offset);
    input.high_watermark = hw;
    Ok(Fetched::Records(records))
}

/// Whether a fetch error means that the partition's data cannot be read: a record batch or a record in it that
/// does not decode (a corrupt batch, an unknown codec, a broken varint). Only that partition stops; a broker or
/// network failure (anything else) fails the round as before.
pub fn is_unreadable(e: &RsError) -> bool {
    matches!(
        e,
        RsError::Request(
            RequestError::ReadError(_) | RequestError::ReadVersionedError(_) | RequestError::TooMuchData { .. }
        ) | RsError::InvalidResponse(_)
    )
}

/// After an unreadable fetch: fetches again with the smallest size the broker allows, which returns exactly the
/// first batch at the position. `Ok` with its records if that batch reads (the bad one is further on: we move up
/// to it); `Err` if it does not (the bad batch starts at the position: the partition stops there).
pub async fn fetch_one_batch(input: &mut Input, max_wait_ms: i32) -> Result<Fetched, RsError> {
    fetch(input, 1, max_wait_ms).await
}

/// Where a partition with no committed position starts (`--start-at`): Kafka's `auto.offset.reset`, plus a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The partition's first kept record (default).
    Earliest,
    /// The partition's end: only records produced from now on.
    Latest,
    /// The first record produced at or after this time (the end if there is none).
    Time(chrono::DateTime<chrono::Utc>),
}

impl StartAt {
    /// The ListOffsets query for it.
    pub fn offset_at(self) -> rskafka::client::partition::OffsetAt {
        use rskafka::client::partition::OffsetAt;
        match self {
            Self::Earliest => OffsetAt::Earliest,
            Self::Latest => OffsetAt::Latest,
            Self::Time(t) => OffsetAt::Timestamp(t),
        }
    }
}

impl std::str::FromStr for StartAt {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "earliest" => Ok(Self::Earliest),
            "latest" => Ok(Self::Latest),
            _ => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| Self::Time(t.to_utc()))
                .map_err(|_| format!("{s:?}: expected earliest, latest or an RFC 3339 time (2026-01-01T00:00:00Z)")),
        }
    }
}

/// The offset `at` names in `client`'s partition: its log start, its end, or the first record produced at or after
/// a time (Kafka answers -1 for a time after the newest record: then the end).
pub async fn offset_at(client: &Partition, at: StartAt) -> Result<i64, RsError> {
    match client.get_offset(at.offset_at()).await? {
        o if o < 0 => client.get_offset(OffsetAt::Latest).await,
        o => Ok(o),
    }
}

/// Checks `input`'s position against the partition's log start and high watermark now (at start, after recovery).
pub async fn check_position(input: &mut Input) -> Result<Option<PositionProblem>, RsError> {
    let low = input.client.get_offset(OffsetAt::Earliest).await?;
    let high = input.client.get_offset(OffsetAt::Latest).await?;
    input.high_watermark = high;
    Ok(PositionProblem::check(input.next_offset, low, high))
}

/// Opens `parts` as inputs (positions set by the recovery that follows).
pub async fn open_partitions(client: &Client, parts: &[(String, i32)]) -> Result<Vec<Input>, KafkaError> {
    let mut inputs = Vec::with_capacity(parts.len());
    for (topic, p) in parts {
        let client = runtime::kafka::partition_client(client, topic, *p).await?.into();
        inputs.push(Input { client, next_offset: 0, high_watermark: 0 });
    }
    Ok(inputs)
}

/// Opens the partitions of `topics` that instance `instance` of `instances` owns.
pub async fn open_inputs(
    client: &Client,
    topics: &[String],
    instance: u32,
    instances: u32,
) -> Result<Vec<Input>, KafkaError> {
    let all = runtime::kafka::topic_partitions(client, topics).await?;
    let mine = assign(&all, instance, instances);
    let inputs = open_partitions(client, &mine).await?;
    info!(instance, instances, partitions = inputs.len(), of = all.len(), "assigned input partitions");
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_splits_every_partition_exactly_once() {
        let all: Vec<(String, i32)> =
            ["a", "b", "c"].iter().flat_map(|t| (0..3).map(move |p| (t.to_string(), p))).collect();
        for n in 1..5u32 {
            let mut seen: Vec<_> = (0..n).flat_map(|i| assign(&all, i, n)).collect();
            seen.sort();
            assert_eq!(seen, all, "n = {n}");
        }
    }

    #[test]
    fn positions_are_checked_against_both_ends() {
        assert_eq!(PositionProblem::check(5, 0, 10), None);
        assert_eq!(PositionProblem::check(10, 0, 10), None, "caught up is fine");
        assert_eq!(PositionProblem::check(0, 0, 0), None, "an empty partition is fine");
        let past = PositionProblem::check(150, 0, 40).unwrap();
        assert_eq!((past.kind(), past.resume_at(), past.lost()), ("past_end", 0, 0));
        let gone = PositionProblem::check(3, 8, 20).unwrap();
        assert_eq!((gone.kind(), gone.resume_at(), gone.lost()), ("before_log_start", 8, 5));
        assert!(gone.to_string().contains("3..8 (5 records)"), "{gone}");
        assert_eq!(PositionProblem::report(Some(150), 0, 40), ("past_end", 40), "read again from the log start");
        assert_eq!(PositionProblem::report(Some(3), 8, 20), ("before_log_start", 12));
        assert_eq!(PositionProblem::report(Some(15), 8, 20), ("ok", 5));
        assert_eq!(PositionProblem::report(None, 8, 20), ("ok", 12));
    }
}
