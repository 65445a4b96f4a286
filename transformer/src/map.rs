//! The mapping: one raw record in, one [`ProcessedEvent`] or one [`MapError`] out. Pure: no I/O, no clock.
//!
//! It reproduces the original Flink SQL job for its four output fields:
//! ```sql
//! UPPER(REPLACE(topic, 'user_', ''))              AS event_type,
//! TO_TIMESTAMP(timestamp)                          AS event_timestamp,
//! user_id,
//! CONCAT_WS(' | ', url, element_id, order_id, CAST(amount AS STRING)) AS details
//! ```
//! and adds the stable `event_id`, the typed fields and the source coordinates. Where Flink would emit a NULL or
//! fail the job (no `user_id`, an unparsable timestamp, a field of the wrong JSON type) we return a [`MapError`],
//! which the pipeline sends to the dead-letter topic.
//!
//! [`map`] returns a [`Mapped`]: the unified record as views into the raw bytes, nothing copied. The pipeline
//! writes it straight to JSON ([`crate::encode`]); [`Mapped::to_event`] (or [`map_record`]) builds the owned
//! [`ProcessedEvent`] for everyone else.

use std::borrow::Cow;
use std::fmt;

use contract::processed::ProcessedEvent;
use contract::time::{self, TimeError};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

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

/// Why a record could not be mapped. [`MapError::reason`] is the stable code stored with the dead letter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MapError {
    /// The record has no value, or an empty one.
    #[error("empty record")]
    Empty,
    /// The value is larger than the configured maximum.
    #[error("record of {size} bytes is over the {max}-byte limit")]
    TooLarge {
        /// Size of the value.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The value is not UTF-8.
    #[error("invalid UTF-8 at byte {0}")]
    InvalidUtf8(usize),
    /// The value is not JSON (or nests deeper than 128 levels, or repeats a field).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The value is JSON but not an object.
    #[error("expected a JSON object, got {0}")]
    NotAnObject(&'static str),
    /// A required field is absent, null or empty.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    #[error("field {field} must be {expected}, got {got}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What the contract says.
        expected: &'static str,
        /// What the record has.
        got: &'static str,
    },
    /// The unified record would be larger than a produce request may be (a huge but valid field).
    #[error("the unified record would be {size} bytes, over the {max}-byte output limit")]
    OutputTooLarge {
        /// Size of the encoded record.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The timestamp is unparsable or out of range.
    #[error(transparent)]
    Timestamp(#[from] TimeError),
}

impl MapError {
    /// Stable, machine-readable reason (a label value in metrics and a column in ClickHouse).
    pub fn reason(&self) -> &'static str {
        match self {
            MapError::Empty => "empty_record",
            MapError::TooLarge { .. } | MapError::OutputTooLarge { .. } => "too_large",
            MapError::InvalidUtf8(_) => "invalid_utf8",
            MapError::InvalidJson(_) => "invalid_json",
            MapError::NotAnObject(_) => "not_an_object",
            MapError::MissingField(_) => "missing_field",
            MapError::WrongType { .. } => "wrong_type",
            MapError::Timestamp(TimeError::Unparsable(_)) => "bad_timestamp",
            MapError::Timestamp(TimeError::OutOfRange(_)) => "timestamp_out_of_range",
        }
    }

    /// Every reason code, for metrics that want a zero for each.
    pub const REASONS: [&'static str; 9] = [
        "empty_record",
        "too_large",
        "invalid_utf8",
        "invalid_json",
        "not_an_object",
        "missing_field",
        "wrong_type",
        "bad_timestamp",
        "timestamp_out_of_range",
    ];
}

/// A raw record, mapped: every field of the unified record, borrowed from the raw bytes where it can be.
/// Build it with [`map`]; get the owned record with [`Mapped::to_event`] or its JSON with [`Mapped::write_json`].
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped<'a> {
    /// Where the raw record came from.
    pub src: Source<'a>,
    /// [`contract::id::event_id`] of the raw record, as ASCII.
    pub event_id: [u8; 36],
    /// The parsed `timestamp`, epoch milliseconds.
    pub event_time_ms: i64,
    /// `user_id` (never empty).
    pub user_id: Cow<'a, str>,
    /// `url`, when present.
    pub url: Option<Cow<'a, str>>,
    /// `element_id`, when present.
    pub element_id: Option<Cow<'a, str>>,
    /// `duration_seconds`, when present.
    pub duration_seconds: Option<i64>,
    /// `order_id`, when present.
    pub order_id: Option<Cow<'a, str>>,
    /// `amount`, when present.
    pub amount: Option<f64>,
    /// `ip_address`, when present.
    pub ip_address: Option<Cow<'a, str>>,
}

impl Mapped<'_> {
    /// The owned unified record.
    pub fn to_event(&self) -> ProcessedEvent {
        let owned = |s: &Option<Cow<'_, str>>| s.as_deref().map(str::to_owned);
        ProcessedEvent {
            event_id: self.event_id.iter().map(|&c| char::from(c)).collect(),
            event_type: event_type(self.src.topic),
            event_timestamp: time::format_flink(self.event_time_ms),
            event_time_ms: self.event_time_ms,
            user_id: self.user_id.clone().into_owned(),
            details: details(self.url.as_deref(), self.element_id.as_deref(), self.order_id.as_deref(), self.amount),
            url: owned(&self.url),
            element_id: owned(&self.element_id),
            duration_seconds: self.duration_seconds,
            order_id: owned(&self.order_id),
            amount: self.amount,
            ip_address: owned(&self.ip_address),
            source_topic: self.src.topic.to_owned(),
            source_partition: self.src.partition,
            source_offset: self.src.offset,
        }
    }
}

/// Maps one raw record to its owned unified record: [`map`], then [`Mapped::to_event`].
pub fn map_record(src: Source<'_>, value: Option<&[u8]>, max_bytes: usize) -> Result<ProcessedEvent, MapError> {
    map(src, value, max_bytes).map(|m| m.to_event())
}

/// Maps one raw record. `max_bytes` bounds the value size (larger values are dead-lettered unread).
pub fn map<'a>(src: Source<'a>, value: Option<&'a [u8]>, max_bytes: usize) -> Result<Mapped<'a>, MapError> {
    let bytes = match value {
        None | Some([]) => return Err(MapError::Empty),
        Some(b) => b,
    };
    if bytes.len() > max_bytes {
        return Err(MapError::TooLarge { size: bytes.len(), max: max_bytes });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| MapError::InvalidUtf8(e.valid_up_to()))?;
    if text.trim().is_empty() {
        return Err(MapError::Empty);
    }
    let raw: RawFields<'_> = match serde_json::from_str::<Top<'_>>(text) {
        Ok(Top::Object(fields)) => fields,
        Ok(Top::Other(kind)) => return Err(MapError::NotAnObject(kind)),
        Err(e) => return Err(MapError::InvalidJson(e.to_string())),
    };

    let user_id = match raw.user_id {
        None | Some(Scalar::Null) => return Err(MapError::MissingField("user_id")),
        Some(Scalar::Str(s)) if s.is_empty() => return Err(MapError::MissingField("user_id")),
        Some(Scalar::Str(s)) => s,
        Some(other) => return Err(wrong("user_id", "a string", &other)),
    };
    let event_time_ms = match raw.timestamp {
        None | Some(Scalar::Null) => return Err(MapError::MissingField("timestamp")),
        Some(Scalar::Str(s)) => time::parse_text(&s)?,
        Some(Scalar::Int(ms)) => time::check_range(ms)?,
        Some(other) => return Err(wrong("timestamp", "a string or epoch milliseconds", &other)),
    };
    let url = opt_string("url", raw.url)?;
    let element_id = opt_string("element_id", raw.element_id)?;
    let order_id = opt_string("order_id", raw.order_id)?;
    let ip_address = opt_string("ip_address", raw.ip_address)?;
    let duration_seconds = match raw.duration_seconds {
        None | Some(Scalar::Null) => None,
        Some(Scalar::Int(n)) => Some(n),
        Some(other) => return Err(wrong("duration_seconds", "an integer", &other)),
    };
    let amount = match raw.amount {
        None | Some(Scalar::Null) => None,
        Some(Scalar::Int(n)) => Some(n as f64),
        Some(Scalar::Float(f)) => Some(f),
        Some(other) => return Err(wrong("amount", "a number", &other)),
    };

    Ok(Mapped {
        src,
        event_id: contract::id::event_id_ascii(src.topic, bytes),
        event_time_ms,
        user_id,
        url,
        element_id,
        duration_seconds,
        order_id,
        amount,
        ip_address,
    })
}

/// `UPPER(REPLACE(topic, 'user_', ''))`.
pub fn event_type(topic: &str) -> String {
    topic.replace("user_", "").to_uppercase()
}

/// `CONCAT_WS(' | ', url, element_id, order_id, CAST(amount AS STRING))`: NULLs are skipped, empty strings kept.
pub fn details(url: Option<&str>, element_id: Option<&str>, order_id: Option<&str>, amount: Option<f64>) -> String {
    let amount = amount.map(java_double_to_string);
    let parts = [url, element_id, order_id, amount.as_deref()];
    let mut out = String::with_capacity(96);
    for (i, part) in parts.into_iter().flatten().enumerate() {
        if i > 0 {
            out.push_str(" | ");
        }
        out.push_str(part);
    }
    out
}

/// `CAST(x AS STRING)` of a Flink `DOUBLE`, which is Java's `Double.toString`: the shortest text that reads back as
/// the same double, always with a fraction (`100.0`), and in `1.0E7` notation outside `[1e-3, 1e7)`.
pub fn java_double_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let a = x.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{x}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        // Rust prints 1.5e-5 / 1e7; Java prints 1.5E-5 / 1.0E7.
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').expect("{:e} always has an exponent");
        let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
        format!("{mantissa}E{exp}")
    }
}

fn opt_string<'a>(field: &'static str, v: Option<Scalar<'a>>) -> Result<Option<Cow<'a, str>>, MapError> {
    match v {
        None | Some(Scalar::Null) => Ok(None),
        Some(Scalar::Str(s)) => Ok(Some(s)),
        Some(other) => Err(wrong(field, "a string", &other)),
    }
}

fn wrong(field: &'static str, expected: &'static str, got: &Scalar<'_>) -> MapError {
    MapError::WrongType { field, expected, got: got.kind() }
}

/// The fields of the original Flink source table; any other field is ignored, as Flink does.
#[derive(Deserialize)]
struct RawFields<'a> {
    #[serde(borrow)]
    timestamp: Option<Scalar<'a>>,
    #[serde(borrow)]
    user_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    ip_address: Option<Scalar<'a>>,
    #[serde(borrow)]
    url: Option<Scalar<'a>>,
    #[serde(borrow)]
    element_id: Option<Scalar<'a>>,
    duration_seconds: Option<Scalar<'a>>,
    #[serde(borrow)]
    order_id: Option<Scalar<'a>>,
    amount: Option<Scalar<'a>>,
}

/// A JSON value reduced to what the mapping needs: scalars kept, arrays and objects only named.
enum Scalar<'a> {
    Null,
    Bool,
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Array,
    Object,
}

impl Scalar<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool => "a boolean",
            Scalar::Int(_) | Scalar::Float(_) => "a number",
            Scalar::Str(_) => "a string",
            Scalar::Array => "an array",
            Scalar::Object => "an object",
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool)
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        // Beyond i64 an "integer" cannot be a duration or epoch millis we accept; keep it as a float for amount.
        Ok(i64::try_from(v).map(Scalar::Int).unwrap_or(Scalar::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

/// The top level of a record: an object of [`RawFields`], or the kind of whatever else it is.
enum Top<'a> {
    Object(RawFields<'a>),
    Other(&'static str),
}

impl<'de: 'a, 'a> Deserialize<'de> for Top<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TopVisitor;
        impl<'de> Visitor<'de> for TopVisitor {
            type Value = Top<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawFields::deserialize(de::value::MapAccessDeserializer::new(map)).map(Top::Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Top::Other("an array"))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Top::Other("null"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Top::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Top::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Top::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Top::Other("a number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Top::Other("a string"))
            }
        }
        d.deserialize_any(TopVisitor)
    }
}
