//! Typed configuration: every flag has an environment variable and a documented default.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
pub use runtime::kafka::CompressionArg;
pub use runtime::logging::LogFormat;
use tracing::{info, warn};

/// What to do when an input position is no longer valid (the topic was recreated, or retention deleted unread
/// records). Kafka's `auto.offset.reset` decides only for a group without offsets; this decides for a committed
/// position the broker no longer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOffsetOutOfRange {
    /// Resume at the partition's log start, out loud: an ERROR log line, /healthz degraded, counters in /metrics.
    Earliest,
    /// Stop with an error (exit 1) naming the partition; move on with `transformer offsets reset`.
    Fail,
}

/// How an instance gets its input partitions (`--assignment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Assignment {
    /// `--instance i` of `--instances n` takes every n-th partition; positions in the checkpoint topic. Nothing
    /// checks that every instance runs, or that two do not share an identity: for brokers without a group
    /// coordinator.
    Static,
    /// Kafka's group coordinator deals the partitions among the transformers alive in `--group`, moves a dead
    /// one's partitions to the others within `--session-timeout-ms`, and refuses commits from a stale member.
    /// Positions are the group's committed offsets (Kafka's tools show the lag).
    Group,
}

pub use crate::source::StartAt;

/// Where `transformer offsets reset --to` moves the positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetTo {
    /// Each partition to this position: earliest (everything is read and written again), latest (what is there now
    /// is never read), or the first record produced at or after a time.
    Position(StartAt),
    /// A copy of the checkpoint at this offset of the checkpoint topic: resumes exactly there, skipping what was
    /// written after it (the way out of a checkpoint record that does not decode).
    Checkpoint(i64),
}

impl std::str::FromStr for ResetTo {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(o) = s.parse::<i64>() {
            return if o >= 0 { Ok(Self::Checkpoint(o)) } else { Err("a checkpoint offset is >= 0".into()) };
        }
        s.parse::<StartAt>().map(Self::Position).map_err(|_| {
            format!("{s:?}: expected earliest, latest, an RFC 3339 time or the offset of a checkpoint record")
        })
    }
}

/// Where the transformer writes (`--sink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SinkKind {
    /// The topics processed_events and dead_letters; ClickHouse reads them with its Kafka engine (the original's
    /// architecture).
    Kafka,
    /// Straight into ClickHouse's tables events_processed and dead_letters, exactly once (no Kafka engine).
    #[value(name = "clickhouse")]
    ClickHouse,
}

/// The ClickHouse server of `--sink clickhouse`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClickHouseArgs {
    /// ClickHouse's HTTP interface, http:// or https:// (for --sink clickhouse).
    #[arg(long, env = "CLICKHOUSE_URL", default_value = "http://127.0.0.1:8123")]
    pub clickhouse_url: String,
    /// ClickHouse user.
    #[arg(long, env = "CLICKHOUSE_USER", default_value = "default")]
    pub clickhouse_user: String,
    /// ClickHouse password (prefer --clickhouse-password-file or the environment: a command line is visible to
    /// other users).
    #[arg(long, env = "CLICKHOUSE_PASSWORD", hide_env_values = true)]
    pub clickhouse_password: Option<runtime::security::Secret>,
    /// File holding the ClickHouse password (a trailing newline is ignored).
    #[arg(long, env = "CLICKHOUSE_PASSWORD_FILE", conflicts_with = "clickhouse_password")]
    pub clickhouse_password_file: Option<std::path::PathBuf>,
    /// The database holding events_processed and dead_letters.
    #[arg(long, env = "CLICKHOUSE_DATABASE", default_value = "default")]
    pub clickhouse_database: String,
    /// PEM file of the CA certificate(s) that signed ClickHouse's certificate (https:// URLs). Without it, the
    /// public web CAs (Mozilla's list, built in) are trusted.
    #[arg(long, env = "CLICKHOUSE_CA_LOCATION")]
    pub clickhouse_ca_location: Option<std::path::PathBuf>,
}

pub use crate::error::ConfigError;

/// The longest a round may gather records (`sink.flush-interval`, `--sink-flush-interval-ms`): ten minutes.
pub const MAX_GATHER_MS: u64 = 600_000;

/// When a round stops gathering records and writes them: Flink's ClickHouse and JDBC sinks flush a buffer at
/// `sink.batch-size` rows or after `sink.flush-interval`, whichever comes first. Here a round is that buffer: it
/// fetches until either, or the round's memory budget, is reached, and is then written and committed as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cadence {
    /// How long a round goes on fetching after its first fetch (zero: one fetch per round).
    pub gather: Duration,
    /// Most records a round takes: each record makes at most one row per sink, so this caps every INSERT.
    pub max_records: Option<u64>,
}

/// `Err(ConfigError::Invalid(format!(...)))` unless `cond`.
macro_rules! require {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(ConfigError::Invalid(format!($($message)+)));
        }
    };
}

impl ClickHouseArgs {
    /// The password, from the flag, the environment or the file.
    pub fn password(&self) -> Result<Option<String>, ConfigError> {
        Ok(match (&self.clickhouse_password, &self.clickhouse_password_file) {
            (Some(p), _) => Some(p.expose().to_owned()),
            (None, Some(path)) => Some(runtime::security::read_password_file("--clickhouse-password-file", path)?),
            (None, None) => None,
        })
    }
}

/// `transformer schema --clickhouse-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClickHouseVersionArg {
    /// ClickHouse 18.16 (Debian's; the native run).
    #[value(name = "18")]
    V18,
    /// A current ClickHouse (compose).
    Current,
}

impl From<ClickHouseVersionArg> for contract::sql::ClickHouseVersion {
    fn from(v: ClickHouseVersionArg) -> Self {
        match v {
            ClickHouseVersionArg::V18 => Self::V18,
            ClickHouseVersionArg::Current => Self::Current,
        }
    }
}

/// Subcommands; without one the transformer runs the pipeline.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Print the ClickHouse DDL (schema/sql, placeholders filled from these flags and the topic flags) and exit.
    /// The only renderer: scripts/up.sh and compose apply what it prints. Needs no server.
    Schema {
        /// Which ClickHouse the DDL is for (the Kafka-engine settings differ).
        #[arg(long, env = "CLICKHOUSE_VERSION", value_enum, default_value_t = ClickHouseVersionArg::V18)]
        clickhouse_version: ClickHouseVersionArg,
        /// The database holding the tables.
        #[arg(long, env = "CLICKHOUSE_DATABASE", default_value = "default")]
        database: String,
        /// Prefix of ClickHouse's consumer group names.
        #[arg(long, env = "CLICKHOUSE_GROUP", default_value = "clickhouse")]
        group: String,
        /// The broker as ClickHouse reaches it (default: the first of --brokers).
        #[arg(long)]
        kafka_broker: Option<String>,
        /// Write to this file instead of stdout (for the compose init step, whose image has no shell).
        #[arg(long)]
        output: Option<std::path::PathBuf>,
        /// Print the unified record's field table (Markdown, as README.md holds it) instead of the DDL.
        #[arg(long)]
        fields: bool,
        /// Also run the DDL on ClickHouse (--clickhouse-url; a job's ClickHouse sink at its own 'url'), statement
        /// by statement: it creates only what does not exist.
        #[arg(long)]
        create_tables: bool,
    },
    /// Maps records from a file through the job, with no broker, and prints what a pipeline would write: one JSON
    /// line per output, `{"sink", "source": "topic/partition/offset", "value": "<the exact text a Kafka sink
    /// writes>"}`, or `{"dead_letter": {…}}`. The input has one JSON object per line: `{"topic", "partition",
    /// "offset", "value"}` (`value`: the raw text, null for a tombstone; `timestamp` in epoch ms and `key`
    /// optional). Test a job in seconds.
    RunJob {
        /// The records, one JSON object per line (`-`: standard input).
        #[arg(long)]
        input: PathBuf,
    },
    /// This instance's committed input positions (its checkpoints in the checkpoint topic): show or move them.
    Offsets {
        /// What to do.
        #[command(subcommand)]
        action: OffsetsAction,
    },
}

/// `transformer offsets ...`
#[derive(Debug, Clone, Subcommand)]
pub enum OffsetsAction {
    /// Print the newest checkpoint of this instance (group, --instance, --instances), each position against the
    /// partition's log start and high watermark, and the offsets of earlier checkpoints.
    Show {
        /// How many earlier checkpoints to list.
        #[arg(long, default_value_t = 5)]
        history: usize,
    },
    /// Append a new checkpoint for this instance. Stop the transformer first: a running one overwrites it at its
    /// next commit.
    Reset {
        /// earliest | latest | an RFC 3339 time | the offset of a checkpoint record (see `offsets show`).
        #[arg(long, required_unless_present = "to_offset", conflicts_with = "to_offset")]
        to: Option<ResetTo>,
        /// Move only this input partition (`topic/partition`) to `--to-offset`, keeping every other position and
        /// the output marks: the way past a record batch that cannot be read.
        #[arg(long, requires = "to_offset")]
        partition: Option<String>,
        /// The offset `--partition` resumes at.
        #[arg(long, requires = "partition")]
        to_offset: Option<i64>,
        /// Print the new checkpoint without writing it.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Reads the raw topics, maps every record to the unified event, writes `processed_events` (and dead letters),
/// and commits its input offsets only after the output is acknowledged.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// The Flink SQL job to run: CREATE TABLE statements for the topics it reads and writes, and INSERT INTO …
    /// SELECT (README: "Jobs"). Without it the built-in default job runs (schema/jobs/unified.sql: the original
    /// job's SELECT and the unified record's columns). The job's connection options (properties.bootstrap.servers,
    /// properties.group.id, scan.startup.mode, the topics) are defaults: the flags and variables given here win.
    #[arg(long, env = "JOB_FILE", global = true)]
    pub job: Option<PathBuf>,
    /// The planned job ([`Config::load_job`]).
    #[arg(skip)]
    pub plan: Option<Arc<job::Plan>>,
    /// Which flags were given (on the command line or in the environment) rather than left at their defaults.
    #[arg(skip)]
    pub given: BTreeSet<String>,
    /// Kafka bootstrap brokers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092", value_delimiter = ',')]
    pub brokers: Vec<String>,
    /// TLS and SASL, with librdkafka's names.
    #[command(flatten)]
    pub security: runtime::security::SecurityArgs,
    /// Where to write: kafka (the topics processed_events and dead_letters, read by ClickHouse's Kafka engine) or
    /// clickhouse (straight into the tables, exactly once; then `transformer schema` prints only those tables).
    #[arg(long, env = "SINK", value_enum, default_value_t = SinkKind::Kafka, global = true)]
    pub sink: SinkKind,
    /// How often the input topics are looked at for new partitions (and, for a job's 'topic-pattern', new
    /// topics), in milliseconds; 0: never (only at start and on a rebalance). New partitions are read from their
    /// first record. Wins over the job's 'scan.topic-partition-discovery.interval'; default 5 minutes, as Flink's.
    #[arg(long, env = "PARTITION_DISCOVERY_INTERVAL_MS")]
    pub partition_discovery_interval_ms: Option<u64>,
    /// How long a round goes on gathering records before it writes them, in milliseconds (0: one fetch per round,
    /// written at once). Fewer, larger INSERTs on a slow stream; offsets still move only after the write. Wins over
    /// the job's `sink.flush-interval`.
    #[arg(long, env = "SINK_FLUSH_INTERVAL_MS", value_parser = clap::value_parser!(u64).range(0..=MAX_GATHER_MS))]
    pub sink_flush_interval_ms: Option<u64>,
    /// Most records a round takes, so at most this many rows go to a table in one INSERT. Wins over the job's
    /// `sink.batch-size`.
    #[arg(long, env = "SINK_BATCH_SIZE", value_parser = clap::value_parser!(u64).range(1..))]
    pub sink_batch_size: Option<u64>,
    /// The ClickHouse server, for --sink clickhouse.
    #[command(flatten)]
    pub clickhouse: ClickHouseArgs,
    /// Raw topics to read, comma-separated.
    #[arg(long, env = "INPUT_TOPICS", default_value = "user_clicks,page_views,orders", value_delimiter = ',')]
    pub input_topics: Vec<String>,
    /// Topic for unified records.
    #[arg(long, env = "OUTPUT_TOPIC", default_value = contract::topics::PROCESSED)]
    pub output_topic: String,
    /// Topic for records that cannot be mapped.
    #[arg(long, env = "DEAD_LETTER_TOPIC", default_value = contract::topics::DEAD_LETTERS)]
    pub dead_letter_topic: String,
    /// Topic holding the offset checkpoints.
    #[arg(long, env = "CHECKPOINT_TOPIC", default_value = contract::topics::CHECKPOINTS)]
    pub checkpoint_topic: String,
    /// Name of this transformer group; checkpoints are kept per group and instance.
    #[arg(long, env = "TRANSFORMER_GROUP", default_value = "transformer")]
    pub group: String,
    /// This instance's index, 0-based. Input partitions are split statically: instance i takes every n-th.
    #[arg(long, env = "TRANSFORMER_INSTANCE", default_value_t = 0)]
    pub instance: u32,
    /// Number of instances in the group.
    #[arg(long, env = "TRANSFORMER_INSTANCES", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub instances: u32,
    /// How this instance gets its input partitions: `group` (Kafka's consumer group --group: partitions shared
    /// among the transformers alive, positions committed to the group) or `static` (--instance of --instances,
    /// positions in the checkpoint topic). Default: group, or static when --instances is above 1.
    #[arg(long, env = "ASSIGNMENT", value_enum)]
    pub assignment: Option<Assignment>,
    /// With --assignment group: static membership (Kafka's group.instance.id). A transformer restarted with the
    /// same id gets its partitions back at once, with no rebalance; a second process with the same id is fenced.
    /// Give each transformer its own (e.g. the pod or host name). Unset: a restart waits for the coordinator to
    /// drop the old member (--session-timeout-ms).
    #[arg(long, env = "GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    /// With --assignment group: the coordinator gives a member's partitions to the others when it has not heard
    /// from it for this long (Kafka's session.timeout.ms). A member that has not reached the coordinator for this
    /// long stops writing.
    #[arg(long, env = "SESSION_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1000..))]
    pub session_timeout_ms: u64,
    /// With --assignment group: how often a member tells the coordinator it is alive, and learns of a rebalance
    /// (Kafka's heartbeat.interval.ms). Below --session-timeout-ms.
    #[arg(long, env = "HEARTBEAT_INTERVAL_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub heartbeat_interval_ms: u64,
    /// With --assignment group: how long a rebalance waits for every member to finish its round and rejoin
    /// (Kafka's max.poll.interval.ms, the group's rebalance timeout).
    #[arg(long, env = "MAX_POLL_INTERVAL_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1000..))]
    pub max_poll_interval_ms: u64,
    /// Most bytes fetched from one partition per round (a larger first record is still returned whole).
    #[arg(long, env = "FETCH_MAX_BYTES", default_value_t = 1_048_576)]
    pub fetch_max_bytes: i32,
    /// Memory budget of a round: the bytes fetched, mapped and not yet acknowledged, and the next round's fetched
    /// meanwhile. Each partition's fetch and the
    /// records one round takes are sized from it (a unified record is up to ~3 times its raw size), whatever the
    /// producer's batch sizes. A broker that answers with under half of what is asked while the partition has more
    /// (nisshi's sqlite store) is asked for up to 4 times a partition's share, within --fetch-max-bytes; the round
    /// still takes only its budget. At least 1 MiB.
    #[arg(long, env = "MAX_INFLIGHT_BYTES", default_value_t = 16 << 20, value_parser = clap::value_parser!(u64).range(1 << 20..))]
    pub max_inflight_bytes: u64,
    /// How long a fetch waits for new records, in milliseconds (at least 1).
    #[arg(long, env = "FETCH_MAX_WAIT_MS", default_value_t = 100, value_parser = clap::value_parser!(i32).range(1..))]
    pub fetch_max_wait_ms: i32,
    /// Records larger than this many bytes are dead-lettered (reason too_large) without parsing. Every record that
    /// fits is written: its unified record is at most twice its size plus 4 KiB (url, element_id and order_id
    /// appear twice), which must fit the output topic's max.message.bytes (--output-max-message-bytes).
    #[arg(long, env = "MAX_RECORD_BYTES", default_value_t = 512_000)]
    pub max_record_bytes: usize,
    /// The output and dead-letter topics' max.message.bytes: the largest record batch the broker takes there
    /// (Kafka's default is 1048588). A unified record larger than this is dead-lettered (too_large) instead of
    /// stalling its partition; at start the transformer warns when --max-record-bytes allows one. The output and
    /// dead-letter topics the transformer creates (--create-topics) are created with it.
    #[arg(long, env = "OUTPUT_MAX_MESSAGE_BYTES", default_value_t = 1_048_588)]
    pub output_max_message_bytes: usize,
    /// How many bytes of the raw value a dead letter keeps.
    #[arg(long, env = "DEAD_LETTER_MAX_RAW", default_value_t = 65_536)]
    pub dead_letter_max_raw: usize,
    /// Stop (exit non-zero, after committing) when dead letters exceed this share of the last
    /// `--dead-letter-window` records: the input is probably not what the contract says. 0 turns the cap off.
    #[arg(long, env = "MAX_DEAD_LETTER_RATIO", default_value_t = 0.0)]
    pub max_dead_letter_ratio: f64,
    /// Number of recent records the dead-letter cap looks at.
    #[arg(long, env = "DEAD_LETTER_WINDOW", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub dead_letter_window: u64,
    /// Compression of produced batches.
    #[arg(long, env = "COMPRESSION", value_enum, default_value_t = CompressionArg::None)]
    pub compression: CompressionArg,
    /// Create the missing topics this process writes at start (output, dead-letter, checkpoint). The input topics
    /// must exist (a misspelt one is refused, naming the topics there); `--init` creates them too.
    #[arg(long, env = "CREATE_TOPICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub create_topics: bool,
    /// Partitions of topics this process creates (the checkpoint topic always gets 1).
    #[arg(long, env = "TOPIC_PARTITIONS", default_value_t = 3)]
    pub topic_partitions: i32,
    /// Give up starting when the broker has not answered for this many seconds (0: wait forever).
    #[arg(long, env = "CONNECT_TIMEOUT_SECS", default_value_t = 60)]
    pub connect_timeout_secs: u64,
    /// A single Kafka request gives up after this many seconds; the round is then retried from the last commit.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Log a throughput line every this many seconds (0: never).
    #[arg(long, env = "STATS_INTERVAL_SECS", default_value_t = 10)]
    pub stats_interval_secs: u64,
    /// Address of the HTTP endpoints (/metrics, /healthz, the status page at /); `off` disables them.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:9464")]
    pub http_addr: String,
    /// /healthz answers 503 when no round has succeeded for this many seconds.
    #[arg(long, env = "HEALTH_MAX_AGE_SECS", default_value_t = 10)]
    pub health_max_age_secs: u64,
    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Testing only (built with the `failpoints` feature, never in a release): abort the process right after the
    /// outputs of round N+1 are acknowledged and before its commit, the worst moment for a crash
    /// (tests/pipeline.rs proves nothing is written twice even then).
    #[cfg(feature = "failpoints")]
    #[arg(long, hide = true)]
    pub crash_before_commit: Option<u64>,
    /// Testing only (`failpoints`): in the Kafka sink's write number N (from 1), produce the first sink's records
    /// only and abort: a round that reached one output and not the others (tests/pipeline.rs).
    #[cfg(feature = "failpoints")]
    #[arg(long, hide = true)]
    pub crash_mid_write: Option<u64>,
    /// Testing only (`failpoints`): wait this long between a round's acknowledgement and its commit, so that a
    /// kill at a random moment often lands where a crash costs the most.
    #[cfg(feature = "failpoints")]
    #[arg(long, hide = true)]
    pub delay_before_commit_ms: Option<u64>,
    /// Drain mode: exit 0 once every input partition is committed up to its high watermark (a backfill, or a
    /// benchmark of draining a backlog).
    #[arg(long, env = "DRAIN")]
    pub drain: bool,
    /// Create the missing topics, then exit (for setup scripts).
    #[arg(long, conflicts_with = "status")]
    pub init: bool,
    /// Add the columns a job's ClickHouse table lacks (`ALTER TABLE … ADD COLUMN`) instead of refusing to start
    /// with the statements to run. Columns of another type are never changed.
    #[arg(long, env = "EVOLVE")]
    pub evolve: bool,
    /// Print every topic's high watermarks and this group's committed offsets and lag, then exit.
    #[arg(long)]
    pub status: bool,
    /// What to do when a committed input position is no longer valid (a recreated topic, records deleted by
    /// retention before they were read).
    #[arg(long, env = "ON_OFFSET_OUT_OF_RANGE", value_enum, default_value_t = OnOffsetOutOfRange::Earliest)]
    pub on_offset_out_of_range: OnOffsetOutOfRange,
    /// Where a partition with no committed position starts: earliest (default), latest, or an RFC 3339 time (the
    /// first record produced at or after it). Kafka's auto.offset.reset, plus a time; a committed position wins.
    #[arg(long, env = "START_AT", default_value = "earliest")]
    pub start_at: StartAt,
    /// A subcommand; none runs the pipeline.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Config {
    /// Parses `args` (the first is the program's name) as the binary does, remembering which flags were given:
    /// what tests and tools use instead of clap's `parse_from`.
    pub fn from_args<I: IntoIterator<Item = A>, A: Into<std::ffi::OsString> + Clone>(args: I) -> Self {
        let (mut cfg, given): (Self, _) = runtime::cli::parse_given_from(args);
        cfg.given = given;
        cfg
    }

    /// Reads and plans the job (`--job`, or the default job) and fills in, from its options, what the flags did not
    /// say: the brokers, the input topics, the group, the output topic and where a new partition starts. Logs where
    /// each setting comes from. Errors are configuration errors (exit 2), with the job file's line and column.
    pub fn load_job(&mut self) -> Result<Arc<job::Plan>, ConfigError> {
        if let Some(plan) = &self.plan {
            return Ok(Arc::clone(plan));
        }
        let (name, text) = match &self.job {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::Invalid(format!("cannot read the job file {} (--job / JOB_FILE): {e}", path.display()))
                })?;
                (path.display().to_string(), text)
            }
            None => (job::DEFAULT_JOB_NAME.to_owned(), job::DEFAULT_JOB.to_owned()),
        };
        let plan = job::Plan::new(&name, &text)?;
        for w in &plan.warnings {
            warn!(job = %name, "{w}");
        }
        self.apply_job(&plan)?;
        let plan = Arc::new(plan);
        self.plan = Some(Arc::clone(&plan));
        let outputs = self.sink_targets().join(",");
        let (sources, sinks, inputs) = (plan.sources.len(), plan.sinks.len(), self.input_topics.join(","));
        if self.job.is_some() {
            info!(job = %name, sources, sinks, input_topics = %inputs, outputs = %outputs, "job planned");
        } else {
            tracing::debug!(job = %name, sources, sinks, input_topics = %inputs, outputs = %outputs, "job planned");
        }
        let cadence = self.cadence();
        if cadence.gather > Duration::from_millis(MAX_GATHER_MS) {
            return Err(ConfigError::Invalid(format!(
                "a 'sink.flush-interval' of {} s in {name}: at most {} s (a round holds its records in memory and \
                 its offsets uncommitted that long)",
                cadence.gather.as_secs(),
                MAX_GATHER_MS / 1000
            )));
        }
        if cadence != Cadence::default() {
            info!(
                flush_interval_ms = cadence.gather.as_millis() as u64,
                batch_size = cadence.max_records.map_or_else(|| "none".to_owned(), |n| n.to_string()),
                "rounds gather records before writing (sink.flush-interval / sink.batch-size, or the --sink-* flags)"
            );
        }
        // An input topic given by the flags and named by none of several sources would be read by none.
        if plan.sources.len() > 1 && self.given.contains("input_topics") {
            if let Some(t) = self.input_topics.iter().find(|t| plan.sources_reading(t).is_empty()) {
                return Err(ConfigError::Invalid(format!(
                    "--input-topics names {t}, which none of the job's {} sources reads ({}): name it in a \
                     source's 'topic' (or 'topic-pattern'), or leave --input-topics out",
                    plan.sources.len(),
                    plan.sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        // Recovery tells the outputs apart by topic: a topic written by two sinks (or by a sink and the dead letters)
        // would let one sink's rows stand for the other's after a crash.
        let mut topics: Vec<String> = self.output_topics();
        topics.push(self.dead_letter_topic.clone());
        for (i, t) in topics.iter().enumerate() {
            if let Some(j) = topics[..i].iter().position(|u| u == t) {
                let name = |k: usize| match plan.sinks.iter().filter(|s| s.topic().is_some()).nth(k) {
                    Some(s) => format!("the sink {}", s.name),
                    None => "the dead letters (--dead-letter-topic)".to_owned(),
                };
                return Err(ConfigError::Invalid(format!(
                    "{} and {} both write the topic {t}: give each its own topic",
                    name(j),
                    name(i)
                )));
            }
        }
        Ok(plan)
    }

    /// The job's connection options as defaults for the flags not given.
    fn apply_job(&mut self, plan: &job::Plan) -> Result<(), ConfigError> {
        use job::catalog::{StartupMode, Topics};
        // One value of an option across the job's sources (they are read by one client and one group).
        let one = |key: &str| -> Result<Option<String>, ConfigError> {
            let mut values: Vec<&String> = plan.sources.iter().filter_map(|s| s.options.get(key)).collect();
            values.dedup();
            match values.as_slice() {
                [] => Ok(None),
                [v] => Ok(Some((*v).clone())),
                _ => Err(ConfigError::Invalid(format!(
                    "the job's sources give different '{key}' options; one transformer reads them all with one                      client: give one value (or the flag)"
                ))),
            }
        };
        let loud = self.job.is_some();
        let settle = |flag: &str, given: bool, from_job: Option<String>, now: String| -> Option<String> {
            match (given, from_job) {
                (true, Some(v)) if v != now => {
                    // The built-in job's options are the flags' defaults: only a job file's are worth a line.
                    if loud {
                        info!(setting = flag, value = %now, job_value = %v, "the flag wins over the job's option");
                    }
                    None
                }
                (false, Some(v)) if v != now => {
                    info!(setting = flag, value = %v, "from the job");
                    Some(v)
                }
                _ => None,
            }
        };
        if let Some(v) = settle(
            "brokers",
            self.given.contains("brokers"),
            one("properties.bootstrap.servers")?,
            self.brokers.join(","),
        ) {
            self.brokers = v.split(',').map(|b| b.trim().to_owned()).collect();
            runtime::kafka::check_brokers(&self.brokers).map_err(ConfigError::Invalid)?;
        }
        if let Some(v) = settle("group", self.given.contains("group"), one("properties.group.id")?, self.group.clone())
        {
            self.group = v;
        }
        if !self.given.contains("input_topics") {
            let mut topics = Vec::new();
            for s in &plan.sources {
                match &s.topics {
                    Topics::List(l) => topics.extend(l.iter().cloned()),
                    Topics::Pattern(_) => {}
                }
            }
            if topics.is_empty() && plan.sources.iter().all(|s| matches!(s.topics, Topics::Pattern(_))) {
                // Resolved against the broker's topics at start (resolve_topic_patterns).
                self.input_topics.clear();
            } else {
                // Each topic once, in the job's order (two sources may read one topic).
                let mut seen = BTreeSet::new();
                topics.retain(|t| seen.insert(t.clone()));
                self.input_topics = topics;
            }
        }
        if !self.given.contains("start_at") {
            let modes: Vec<StartupMode> = plan.sources.iter().map(|s| s.startup_mode).collect();
            if modes.contains(&StartupMode::Latest) {
                if modes.iter().any(|m| *m != StartupMode::Latest) {
                    return Err(ConfigError::Invalid(
                        "the job's sources give different 'scan.startup.mode' options; give one (or --start-at)".into(),
                    ));
                }
                info!(setting = "start_at", value = "latest", "from the job");
                self.start_at = StartAt::Latest;
            }
        }
        match plan.sinks.as_slice() {
            [sink] if sink.topic().is_some() => {
                if let Some(v) = settle(
                    "output_topic",
                    self.given.contains("output_topic"),
                    sink.topic().map(str::to_owned),
                    self.output_topic.clone(),
                ) {
                    self.output_topic = v;
                }
            }
            sinks if self.given.contains("output_topic") => {
                let topics = sinks.iter().filter(|s| s.topic().is_some()).count();
                if topics == 0 {
                    warn!(output_topic = %self.output_topic, "--output-topic / OUTPUT_TOPIC is ignored: the job writes no Kafka topic");
                } else {
                    return Err(ConfigError::Invalid(format!(
                        "--output-topic / OUTPUT_TOPIC names one topic, and this job's {} sinks write {topics}: name \
                         them in the job",
                        sinks.len()
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The topic of each of the job's Kafka sinks, in order (a ClickHouse sink has none): `--output-topic` for a
    /// job with one sink.
    pub fn output_topics(&self) -> Vec<String> {
        match self.plan.as_deref() {
            Some(plan) => (0..plan.sinks.len()).filter_map(|i| self.sink_topic(i)).collect(),
            None => vec![self.output_topic.clone()],
        }
    }

    /// The DDL parameters of the pipeline's run: the database of `--clickhouse-database` (which wins over the
    /// job's `database-name` when given), for `version`.
    pub fn ddl_params(&self, version: contract::sql::ClickHouseVersion) -> job::ddl::DdlParams {
        job::ddl::DdlParams {
            database: self.clickhouse.clickhouse_database.clone(),
            database_wins: self.given.contains("clickhouse_database"),
            kafka_broker: self.brokers[0].clone(),
            group: "clickhouse".into(),
            version,
            kafka_topic: None,
        }
    }

    /// Where each of the job's sinks writes with these flags, for people and checkers: `kafka:<topic>` or
    /// `clickhouse:<database>.<table>`.
    pub fn sink_targets(&self) -> Vec<String> {
        let plan = self.plan();
        let params = self.ddl_params(contract::sql::ClickHouseVersion::V18);
        (0..plan.sinks.len())
            .map(|i| match self.sink_topic(i) {
                Some(topic) => format!("kafka:{topic}"),
                None => {
                    let (database, table) = job::ddl::stored_table(&plan.sinks[i], &params);
                    format!("clickhouse:{database}.{table}")
                }
            })
            .collect()
    }

    /// The topic of the job's sink `i` when it is a Kafka sink: `--output-topic` for a job with one sink.
    pub fn sink_topic(&self, i: usize) -> Option<String> {
        let plan = self.plan.as_deref()?;
        let topic = plan.sinks.get(i)?.topic()?;
        Some(if plan.sinks.len() == 1 { self.output_topic.clone() } else { topic.to_owned() })
    }

    /// The ClickHouse connection of a job's ClickHouse sink: its `url`, `database-name`, `username` and
    /// `password` where the flags were not given (the flags win, as for the job's Kafka options).
    pub fn clickhouse_for(&self, t: &job::plan::ClickHouseTable) -> ClickHouseArgs {
        let mut ch = self.clickhouse.clone();
        let take = |flag: &str, from_job: &Option<String>, to: &mut String| {
            if let Some(v) = from_job {
                if self.given.contains(flag) {
                    if v != to {
                        info!(setting = flag, value = %to, job = %v, "the flag wins over the job's ClickHouse sink");
                    }
                } else {
                    *to = v.clone();
                }
            }
        };
        take("clickhouse_url", &t.url, &mut ch.clickhouse_url);
        take("clickhouse_database", &t.database, &mut ch.clickhouse_database);
        take("clickhouse_user", &t.username, &mut ch.clickhouse_user);
        let password_given =
            self.given.contains("clickhouse_password") || self.given.contains("clickhouse_password_file");
        if let (Some(p), false) = (&t.password, password_given) {
            ch.clickhouse_password = Some(p.parse().expect("any text is a secret"));
        }
        ch
    }

    /// The plan loaded by [`Config::load_job`].
    pub fn plan(&self) -> Arc<job::Plan> {
        Arc::clone(self.plan.as_ref().expect("Config::load_job runs before the pipeline starts"))
    }

    /// Connect deadline; zero means forever.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
    /// Raw bytes one round takes, out of `--max-inflight-bytes`: a fifth (the raw records, their unified records at
    /// up to about three times the size, and the next round's raw records, fetched while this round is written).
    pub fn round_raw_bytes(&self) -> u64 {
        self.max_inflight_bytes / 5
    }
    /// The rounds' cadence: the flags when given, else the smallest `sink.flush-interval` and `sink.batch-size`
    /// among the job's ClickHouse sinks (one round writes every sink), else one fetch per round, uncapped.
    pub fn cadence(&self) -> Cadence {
        let tables = || self.plan.iter().flat_map(|p| p.sinks.iter().filter_map(|s| s.clickhouse()));
        let gather_ms = self.sink_flush_interval_ms.or_else(|| tables().filter_map(|t| t.flush_interval_ms).min());
        Cadence {
            gather: Duration::from_millis(gather_ms.unwrap_or(0)),
            max_records: self.sink_batch_size.or_else(|| tables().filter_map(|t| t.batch_rows).min()),
        }
    }
    /// How often to look for new input partitions ([`Config::partition_discovery_interval_ms`]): the flag, else the
    /// smallest 'scan.topic-partition-discovery.interval' of the job's sources, else 5 minutes; `None`: never.
    pub fn discovery_interval(&self) -> Option<Duration> {
        let from_job = || {
            self.plan.iter().flat_map(|p| p.sources.iter()).filter_map(|s| {
                s.options.get("scan.topic-partition-discovery.interval").and_then(|v| job::catalog::duration_ms(v))
            })
        };
        let ms = self.partition_discovery_interval_ms.or_else(|| from_job().min()).unwrap_or(300_000);
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// The topics to read now: `--input-topics` (or the job's 'topic'), or those on the broker that match the
    /// job's 'topic-pattern' when the job reads by pattern and no `--input-topics` were given.
    pub async fn topics_now(
        &self,
        client: &rskafka::client::Client,
    ) -> Result<Vec<String>, runtime::kafka::KafkaError> {
        let plan = self.plan();
        let by_pattern = !self.given.contains("input_topics")
            && plan.sources.iter().all(|s| matches!(s.topics, job::catalog::Topics::Pattern(_)));
        if !by_pattern {
            return Ok(self.input_topics.clone());
        }
        let mut topics: Vec<String> = runtime::kafka::topic_names(client)
            .await?
            .into_iter()
            .filter(|t| !plan.sources_reading(t).is_empty())
            .collect();
        topics.sort();
        Ok(topics)
    }

    /// How many failed rounds in a row the loop retries before it stops (exit 1): the smallest `sink.max-retries`
    /// among the job's ClickHouse sinks (Flink's connectors fail the job then). `None`: retried for good, with
    /// backoff, as a server that went away usually comes back.
    pub fn max_retries(&self) -> Option<u32> {
        self.plan.iter().flat_map(|p| p.sinks.iter().filter_map(|s| s.clickhouse())).filter_map(|t| t.max_retries).min()
    }

    /// One partition's fetch size: its share of [`Config::round_raw_bytes`], at least 64 KiB, but never more than
    /// `--fetch-max-bytes`.
    pub fn partition_fetch_bytes(&self, partitions: usize) -> i32 {
        let share = self.round_raw_bytes() / partitions.max(1) as u64;
        // `--fetch-max-bytes` is the last word, even below 64 KiB.
        share.max(64 << 10).min(self.fetch_max_bytes.max(1) as u64) as i32
    }
    /// Per-request deadline.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
    /// The TLS and SASL settings, read and checked (`--security-protocol` and the flags that go with it).
    pub fn security(&self) -> Result<runtime::security::Security, ConfigError> {
        Ok(self.security.resolve()?)
    }
    /// How partitions are assigned: `--assignment`, or by default a consumer group — unless `--instances` asks for
    /// the static split, as it did before groups existed.
    pub fn assignment(&self) -> Assignment {
        self.assignment.unwrap_or(if self.instances > 1 { Assignment::Static } else { Assignment::Group })
    }

    /// The checkpoint key of this instance.
    pub fn checkpoint_key(&self) -> String {
        format!("{}/{}-of-{}", self.group, self.instance, self.instances)
    }

    /// The largest row written, in bytes: what `--max-record-bytes` allows for the default job
    /// ([`crate::limits::output_bound`]), within what the output topic takes (a batch's framing set aside).
    pub fn max_output_bytes(&self) -> usize {
        crate::limits::output_bound(self.max_record_bytes).min(self.output_max_message_bytes - crate::limits::FRAMING)
    }

    /// Checks what clap cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        runtime::kafka::check_brokers(&self.brokers).map_err(ConfigError::Invalid)?;
        self.security.resolve()?;
        require!(self.max_record_bytes > 0, "--max-record-bytes must be at least 1 (default 512000)");
        require!(
            self.output_max_message_bytes >= 16_384,
            "--output-max-message-bytes must be at least 16384 (default 1048588, Kafka's default max.message.bytes)"
        );
        require!(
            self.health_max_age_secs > 0,
            "--health-max-age-secs must be at least 1 (default 10): 0 would make /healthz fail always"
        );
        require!(
            self.instance < self.instances,
            "--instance {} must be below --instances {}",
            self.instance,
            self.instances
        );
        // Empty when left to a job that reads by 'topic-pattern' (resolved at start).
        require!(!self.input_topics.is_empty() || !self.given.contains("input_topics"), "--input-topics is empty");
        if self.assignment == Some(Assignment::Group) {
            require!(
                self.instances == 1,
                "--instances {} is the static split: with --assignment group the group coordinator shares the \
                 partitions among the transformers alive; drop --instance/--instances (or use --assignment static)",
                self.instances
            );
            require!(
                self.heartbeat_interval_ms * 2 <= self.session_timeout_ms,
                "--heartbeat-interval-ms {} must be at most half of --session-timeout-ms {}",
                self.heartbeat_interval_ms,
                self.session_timeout_ms
            );
        }
        require!(self.fetch_max_bytes > 0, "--fetch-max-bytes must be positive");
        require!(self.topic_partitions > 0, "--topic-partitions must be positive");
        require!(
            self.dead_letter_max_raw <= runtime::kafka::MAX_REQUEST_BYTES / 2,
            "--dead-letter-max-raw must be at most {} (a dead letter must fit in a produce request)",
            runtime::kafka::MAX_REQUEST_BYTES / 2
        );
        require!(
            (0.0..=1.0).contains(&self.max_dead_letter_ratio),
            "--max-dead-letter-ratio must be between 0.0 (off) and 1.0"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(args: &[&str]) -> Config {
        Config::parse_from(std::iter::once("transformer").chain(args.iter().copied()))
    }

    #[test]
    fn a_partitions_fetch_is_its_share_of_the_budget_within_fetch_max_bytes() {
        // 16 MiB budget, a fifth for raw records, over 9 partitions: 364 KiB each.
        assert_eq!(cfg(&[]).partition_fetch_bytes(9), (16 << 20) / 5 / 9);
        assert_eq!(cfg(&[]).partition_fetch_bytes(1), 1 << 20, "at most --fetch-max-bytes");
        assert_eq!(cfg(&[]).partition_fetch_bytes(1000), 64 << 10, "at least 64 KiB");
        assert_eq!(cfg(&["--fetch-max-bytes=4096"]).partition_fetch_bytes(9), 4096, "a small --fetch-max-bytes wins");
        assert_eq!(cfg(&["--fetch-max-bytes=4096"]).partition_fetch_bytes(1000), 4096);
    }
}
