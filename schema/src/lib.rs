//! The data contract shared by the `emitter` and the `transformer`.
//!
//! # Layout
//! - [`topics`]: the Kafka topic names both binaries agree on.
//! - [`raw`]: the three raw event shapes the emitter writes (the original demo's fields).
//! - [`processed`]: the unified record written to `processed_events`, and the dead-letter record.
//! - [`time`]: parsing and formatting of event timestamps (the original's format, RFC 3339, epoch millis).
//! - [`id`]: the stable event id, derived from the raw record so that a replay yields the same id.
//! - [`sql`]: the ClickHouse DDL, embedded from `schema/sql/` so tests apply exactly what the scripts apply.
//! - [`shutdown`]: SIGINT/SIGTERM as a future, and a stop flag both binaries watch.
//! - [`http`]: a minimal HTTP server for `/metrics`, `/healthz` and status pages.
//! - [`logging`]: tracing to stderr, text or JSON.
//! - [`kafka`]: connecting to the broker with a deadline and creating topics (rskafka plumbing).

pub mod http;
pub mod id;
pub mod kafka;
pub mod logging;
pub mod processed;
pub mod raw;
pub mod shutdown;
pub mod sql;
pub mod time;
pub mod topics;
