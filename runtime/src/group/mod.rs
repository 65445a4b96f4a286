//! Kafka consumer groups, which rskafka does not have: the coordinator assigns partitions to the members alive,
//! drops the ones it stops hearing from, and refuses commits from a generation that is over.
//!
//! - [`conn`]: one connection speaking the `kafka-protocol` crate's messages (TCP, TLS, SASL).
//! - [`member`]: join, heartbeat, commit, fetch offsets, leave; the lease that says whether we may still write.
//! - [`assign`]: the leader's round-robin assignment and the consumer protocol's bytes (pure).

pub mod assign;
pub mod conn;
pub mod member;

pub use assign::Tp;
pub use conn::GroupError;
pub use kafka_protocol::error::ResponseError;
pub use member::{is_fencing, Beat, Committed, Described, Generation, Member, Settings};
