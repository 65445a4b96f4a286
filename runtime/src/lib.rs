//! What the two binaries run on, apart from the data contract (the `contract` crate, in `schema/`).
//!
//! # Layout
//! - [`kafka`]: connecting to the broker with a deadline, creating topics, reading offset ranges in bounded
//!   chunks, and [`kafka::KeyedLog`], a partition used as a log of keyed checkpoints.
//! - [`group`]: Kafka consumer groups (join, heartbeat, commit), which rskafka does not have.
//! - [`http`]: a minimal, hardened HTTP server for `/metrics`, `/healthz` and status pages.
//! - [`shutdown`]: SIGINT/SIGTERM as a future, and a stop flag every task watches.
//! - [`logging`]: tracing to stderr, text or JSON.
//! - [`retry`]: the one retry pace (exponential backoff that shutdown cuts short).
//! - [`telemetry`]: the Prometheus text format and the `/healthz` verdict, the same for both binaries.
//! - [`cli`]: flags and environment into typed config, an empty variable counting as unset.

pub mod cli;
pub mod group;
pub mod http;
pub mod kafka;
pub mod logging;
pub mod retry;
pub mod security;
pub mod shutdown;
pub mod telemetry;
