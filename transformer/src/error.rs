//! The transformer's errors, by where they come from. Every message says what failed and, where the operator can do
//! something about it, what to do.
//!
//! The loop retries a failed round or recovery from the last commit, except for [`Error::stops`]: a decision only
//! the operator can make (a position the broker no longer has, a table of another shape, another process with our
//! group instance id). `main` prints the message and exits 1; configuration errors are caught before, and exit 2.

use std::path::PathBuf;
use std::time::Duration;

use rskafka::client::error::Error as RsError;
use runtime::group::GroupError;
use runtime::kafka::KafkaError;

use crate::checkpoint::CheckpointError;

/// What went wrong; see the module documentation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag, or a combination of flags, that cannot work; or a file a flag names.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Connecting to Kafka, or a request about a topic. (Boxed, as is `Store`: a `Result` stays small.)
    #[error(transparent)]
    Kafka(Box<KafkaError>),
    /// A request to a partition leader: a fetch, a produce, an offset lookup.
    #[error(transparent)]
    Request(#[from] RsError),
    /// The recovery scan of an output partition failed.
    #[error("recovery scan of {partition}: {source}")]
    Scan {
        /// `topic/partition`.
        partition: String,
        /// What failed.
        source: RsError,
    },
    /// The offset store: the checkpoint topic or the consumer group.
    #[error(transparent)]
    Store(Box<CheckpointError>),
    /// The group coordinator, outside the store (describing the group, reading its offsets for a report).
    #[error("consumer group: {0}")]
    Group(#[from] GroupError),
    /// A request to ClickHouse; `what` says which.
    #[error("{what}: {source}")]
    ClickHouse {
        /// The request, e.g. `INSERT INTO etl.events_processed`.
        what: String,
        /// What ClickHouse or the connection said.
        source: clickhouse::error::Error,
    },
    /// INSERTs that a crash or a deadline cut off are still running on ClickHouse; what is stored is not final yet.
    #[error(
        "{running} INSERT(s) into {tables} still running on ClickHouse after {} s; waiting for them before looking at \
         what is stored",
        .waited.as_secs()
    )]
    InsertsRunning {
        /// How many.
        running: u64,
        /// `db.events_processed/dead_letters`.
        tables: String,
        /// How long we waited.
        waited: Duration,
    },
    /// A server did not become ready within `--connect-timeout-secs`.
    #[error("{hint}: {last}")]
    NotReady {
        /// Which server, how long, and what to check.
        hint: String,
        /// The last attempt's error.
        last: Box<Error>,
    },
    /// A server took longer than its deadline to answer.
    #[error(
        "no answer from {server} to {what} within {} s (--request-timeout-secs): the server is frozen, overloaded or \
         cut off",
        .waited.as_secs_f64()
    )]
    Timeout {
        /// `Kafka` or `ClickHouse`.
        server: &'static str,
        /// The request, e.g. `the fetch`.
        what: &'static str,
        /// The deadline.
        waited: Duration,
    },
    /// Retrying cannot help: the operator has to decide something, and the message says what.
    #[error("{0}")]
    Fatal(String),
    /// The HTTP endpoint cannot listen.
    #[error("cannot listen on {addr}: {source} (set --http-addr / HTTP_ADDR, or off)")]
    Listen {
        /// The address asked for.
        addr: String,
        /// Why not.
        source: std::io::Error,
    },
    /// `transformer schema --output` cannot write its file.
    #[error("cannot write the DDL to {}: {source}", .path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// Writing a report into a `String` (which cannot fail; here so `writeln!` takes `?`).
    #[error("formatting a report: {0}")]
    Format(#[from] std::fmt::Error),
}

impl Error {
    /// Whether this stops the transformer instead of being retried: [`Error::Fatal`], or another process took our
    /// group instance id (rejoining would only take it back, and the two would fence each other in turn).
    pub fn stops(&self) -> bool {
        match self {
            Error::Fatal(_) => true,
            Error::Store(e) => matches!(**e, CheckpointError::Replaced(_)),
            _ => false,
        }
    }
}

impl From<KafkaError> for Error {
    fn from(e: KafkaError) -> Self {
        Error::Kafka(Box::new(e))
    }
}

impl From<CheckpointError> for Error {
    fn from(e: CheckpointError) -> Self {
        Error::Store(Box::new(e))
    }
}

/// The transformer's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_operator_must_decide_stops_the_loop() {
        assert!(Error::Fatal("input orders/0: gone".into()).stops());
        assert!(Error::from(CheckpointError::Replaced("FENCED_INSTANCE_ID".into())).stops());
        assert!(!Error::from(CheckpointError::Fenced("generation 3 is over".into())).stops(), "rejoin and go on");
        assert!(!Error::from(CheckpointError::Group("coordinator moved".into())).stops());
        let timeout = Error::Timeout { server: "Kafka", what: "the fetch", waited: Duration::from_secs(30) };
        assert!(!timeout.stops());
    }

    #[test]
    fn a_message_carries_what_it_wraps() {
        let last = Error::Timeout { server: "ClickHouse", what: "the write", waited: Duration::from_millis(2_500) };
        let e = Error::NotReady {
            hint: "ClickHouse at http://ch:8123 did not answer within 5 s".into(),
            last: last.into(),
        };
        assert_eq!(
            e.to_string(),
            "ClickHouse at http://ch:8123 did not answer within 5 s: no answer from ClickHouse to the write within 2.5 s \
             (--request-timeout-secs): the server is frozen, overloaded or cut off"
        );
        let e = Error::from(CheckpointError::Group("joining the group etl: NOT_COORDINATOR".into()));
        assert_eq!(e.to_string(), "consumer group: joining the group etl: NOT_COORDINATOR");
    }
}

/// A flag, or a combination of flags, that cannot work: `main` exits 2 with it (clap's convention for usage errors).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// What is wrong, and what would be valid.
    #[error("{0}")]
    Invalid(String),
    /// The TLS or SASL flags, or a file one of them names.
    #[error(transparent)]
    Security(#[from] runtime::security::SecurityError),
    /// The job file: where it is wrong, and what is supported.
    #[error(transparent)]
    Job(#[from] job::JobError),
}
