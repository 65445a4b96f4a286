//! Flink SQL jobs for the transformer: a job file in, a [`Plan`] out, and each Kafka record mapped through it
//! ([`Plan::map`]) into rows for its sinks, written in Flink's JSON format. Pure like the contract crate: no I/O,
//! no async runtime, no Kafka client; the transformer keeps those.
//!
//! # Layout
//! - [`parse`]: the statement layer (CREATE TABLE, INSERT, SET, statement sets) over sqlparser, with our dialect.
//! - [`catalog`]: declared tables checked: columns, metadata keys, connector options.
//! - [`plan`]: names resolved, types checked, expressions compiled ([`plan::compile`]); errors before anything runs.
//! - [`expr`]: compiled expressions and their evaluation; [`func`]: the built-in functions.
//! - [`flink_json`] and [`read`]: Flink's JSON format, reading; [`write`]: writing.
//! - [`map`]: one record through the plan.
//! - [`ddl`]: the ClickHouse tables of the job's sinks.
//! - [`value`], [`types`], [`error`]: values, types, and what can go wrong; [`bytes`]: short copies and compares.
//!
//! The product's own job ([`DEFAULT_JOB`], `schema/jobs/unified.sql`) runs when no job file is given.

pub mod bytes;
pub mod catalog;
pub mod ddl;
pub mod error;
pub mod expr;
pub mod flink_json;
pub mod func;
pub mod map;
pub(crate) mod nested;
pub mod parse;
pub mod plan;
pub mod raw;
pub mod read;
pub mod scan;
pub mod types;
pub mod value;
pub mod write;

pub use error::{JobError, MapError};
pub use map::{Emit, Outcome, Record, Row, Scratch};
pub use plan::Plan;

/// The product's default job: the original job's SELECT extended with the unified record's columns.
pub const DEFAULT_JOB: &str = include_str!("../../schema/jobs/unified.sql");

/// The file name the default job is reported under.
pub const DEFAULT_JOB_NAME: &str = "schema/jobs/unified.sql";
