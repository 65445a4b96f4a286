//! What the transformer writes: the unified [`ProcessedEvent`] (topic `processed_events`) and the
//! [`DeadLetter`] (topic `dead_letters`). Both are JSON objects whose fields are exactly the columns of the
//! ClickHouse Kafka-engine tables in `schema/sql/` (ClickHouse 18.16 rejects unknown fields).

use serde::{Deserialize, Serialize};

/// The unified record. The first four fields are the original Flink job's output, unchanged in meaning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessedEvent {
    /// Stable id: the same raw record always gives the same id ([`crate::id::event_id`]).
    pub event_id: String,
    /// `UPPER(REPLACE(topic, 'user_', ''))`: `CLICKS`, `PAGE_VIEWS`, `ORDERS`.
    pub event_type: String,
    /// `"YYYY-MM-DD HH:MM:SS[.fff]"`, UTC, exactly as Flink's JSON format writes a `TIMESTAMP(3)`: the fraction
    /// only when not zero, trailing zeros trimmed ([`crate::time::format_flink`]).
    pub event_timestamp: String,
    /// The same instant as epoch milliseconds (ClickHouse 18.16's DateTime has whole seconds only).
    pub event_time_ms: i64,
    /// The raw record's `user_id`.
    pub user_id: String,
    /// Non-null `url`, `element_id`, `order_id`, `amount` joined with `" | "`.
    pub details: String,
    /// Typed copy of the raw field, when present.
    pub url: Option<String>,
    /// Typed copy of the raw field, when present.
    pub element_id: Option<String>,
    /// Typed copy of the raw field, when present.
    pub duration_seconds: Option<i64>,
    /// Typed copy of the raw field, when present.
    pub order_id: Option<String>,
    /// Typed copy of the raw field, when present.
    pub amount: Option<f64>,
    /// Typed copy of the raw field, when present.
    pub ip_address: Option<String>,
    /// Raw topic the record was read from.
    pub source_topic: String,
    /// Partition of the raw record.
    pub source_partition: i32,
    /// Offset of the raw record.
    pub source_offset: i64,
}

/// The source coordinates every output record carries (unified records and dead letters alike): what recovery
/// reads back from the outputs to know which inputs were already written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SourceCoordinates {
    /// Raw topic the record was read from.
    pub source_topic: String,
    /// Partition of the raw record.
    pub source_partition: i32,
    /// Offset of the raw record.
    pub source_offset: i64,
}

/// A raw record the transformer could not map. It keeps the original (as text, possibly cut) and says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Raw topic the record was read from.
    pub source_topic: String,
    /// Partition of the raw record.
    pub source_partition: i32,
    /// Offset of the raw record.
    pub source_offset: i64,
    /// Machine-readable reason, e.g. `invalid_json` (see the transformer's `MapError::reason`).
    pub reason: String,
    /// Human-readable detail.
    pub error: String,
    /// The raw value as UTF-8 (invalid bytes replaced), cut to the configured maximum.
    pub raw: String,
    /// Size of the raw value in bytes, before any cut.
    pub raw_size: u64,
    /// When the transformer dead-lettered it, epoch milliseconds.
    pub failed_at_ms: i64,
}
