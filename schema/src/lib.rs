//! The data contract shared by the `emitter` and the `transformer` (the crate `contract`, in the folder `schema/`
//! the product was specified with). Plain data and pure functions: no I/O, no async runtime, no Kafka client.
//!
//! # Layout
//! - [`topics`]: the Kafka topic names both binaries agree on.
//! - [`raw`]: the three raw event shapes the emitter writes (the original demo's fields).
//! - [`record`]: the unified record declared once, as a table of fields (JSON type, ClickHouse columns, origin).
//! - [`processed`]: the unified record as a Rust struct, and the dead-letter record.
//! - [`time`]: parsing and formatting of event timestamps (the original's format, RFC 3339, epoch millis).
//! - [`id`]: the stable event id, derived from the raw record so that a replay yields the same id.
//! - [`sql`]: the ClickHouse DDL, embedded from `schema/sql/` so tests apply exactly what the scripts apply.

pub mod id;
pub mod processed;
pub mod raw;
pub mod record;
pub mod sql;
pub mod time;
pub mod topics;
