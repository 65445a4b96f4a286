//! The mapping: one raw record in, one [`ProcessedEvent`] or one [`MapError`] out. Pure: no I/O, no clock.
//!
//! It reproduces the original Flink SQL job for its four output fields:
//! ```sql
//! UPPER(REPLACE(topic, 'user_', ''))              AS event_type,
//! TO_TIMESTAMP(timestamp)                          AS event_timestamp,
//! user_id,
//! CONCAT_WS(' | ', url, element_id, order_id, CAST(amount AS STRING)) AS details
//! ```
//! and adds the stable `event_id`, the typed fields and the source coordinates. Fields are read and coerced as
//! Flink's JSON format reads them ([`crate::flink_json`]). Where Flink would emit a NULL or fail the job (no
//! `user_id`, an unparsable timestamp, a value that does not convert to its declared type) we return a
//! [`MapError`], which the pipeline sends to the dead-letter topic.
//!
//! [`map`] returns a [`Mapped`]: the unified record as views into the raw bytes, nothing copied. The pipeline
//! writes it straight to JSON ([`crate::encode`]); [`Mapped::to_event`] (or [`map_record`]) builds the owned
//! [`ProcessedEvent`] for everyone else.

use std::borrow::Cow;
use std::fmt;

use contract::processed::ProcessedEvent;
use contract::time::{self, TimeError};
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use job::flink_json::{self, Refusal};

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
    /// The value is not JSON (or nests deeper than 128 levels).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The value is JSON but not an object.
    #[error("expected a JSON object, got {0}")]
    NotAnObject(&'static str),
    /// A required field is absent or null.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A number, or a numeric string, that does not convert to the field's type (or is NaN or infinite).
    #[error("field {field} must be a finite number in range, got {text}")]
    BadNumber {
        /// The field.
        field: &'static str,
        /// The value's text (at most 64 characters).
        text: String,
    },
    /// A field has a JSON type that does not convert to the field's type.
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
            MapError::WrongType { .. } | MapError::BadNumber { .. } => "wrong_type",
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
    /// `user_id` (never NULL; `""` is kept, as Flink keeps it).
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
///
/// The value is read as the original job's JSON format reads it ([`crate::flink_json`]): a UTF-8 byte order mark
/// is skipped, a raw control character inside a string is taken as it is, anything after the top-level object is
/// ignored, a repeated field keeps its last value (until the six fields the job reads have been read six times; after
/// that Flink's reader skips the rest), and each field is coerced to the type the source table declares.
pub fn map<'a>(src: Source<'a>, value: Option<&'a [u8]>, max_bytes: usize) -> Result<Mapped<'a>, MapError> {
    let bytes = match value {
        None | Some([]) => return Err(MapError::Empty),
        Some(b) => b,
    };
    if bytes.len() > max_bytes {
        return Err(MapError::TooLarge { size: bytes.len(), max: max_bytes });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| MapError::InvalidUtf8(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(MapError::Empty);
    }
    let values = match read_top(text) {
        Ok(fields) => Values::from_fields(fields)?,
        Err(err) => match flink_json::escape_raw_control_chars(text) {
            Some(escaped) => Values::from_fields(read_top(&escaped)?)?.into_owned(),
            None => return Err(err),
        },
    };
    Ok(Mapped {
        src,
        event_id: contract::id::event_id_ascii(src.topic, bytes),
        event_time_ms: values.event_time_ms,
        user_id: values.user_id,
        url: values.url,
        element_id: values.element_id,
        duration_seconds: values.duration_seconds,
        order_id: values.order_id,
        amount: values.amount,
        ip_address: values.ip_address,
    })
}

/// The top-level value of a record: its fields if it is an object.
fn read_top(text: &str) -> Result<RawFields<'_>, MapError> {
    let mut de = serde_json::Deserializer::from_str(text);
    // No `de.end()`: Flink's reader stops at the end of the object and never looks at what follows.
    match Top::deserialize(&mut de) {
        Ok(Top::Object(fields)) => Ok(fields),
        Ok(Top::Other(kind)) => Err(MapError::NotAnObject(kind)),
        Err(e) => Err(MapError::InvalidJson(e.to_string())),
    }
}

/// The unified record's values read from one record's fields, borrowed from its text where they can be.
struct Values<'a> {
    event_time_ms: i64,
    user_id: Cow<'a, str>,
    url: Option<Cow<'a, str>>,
    element_id: Option<Cow<'a, str>>,
    duration_seconds: Option<i64>,
    order_id: Option<Cow<'a, str>>,
    amount: Option<f64>,
    ip_address: Option<Cow<'a, str>>,
}

impl<'a> Values<'a> {
    fn from_fields(raw: RawFields<'a>) -> Result<Self, MapError> {
        let user_id = match raw.user_id.map(|v| coerce("user_id", "a string", flink_json::string(v))) {
            None => return Err(MapError::MissingField("user_id")),
            Some(v) => v?.ok_or(MapError::MissingField("user_id"))?,
        };
        let event_time_ms = match raw.timestamp {
            None => return Err(MapError::MissingField("timestamp")),
            Some(v) => match v.get().as_bytes()[0] {
                b'n' => return Err(MapError::MissingField("timestamp")),
                // Epoch milliseconds: beyond the original job, which reads a number here as text and gets NULL.
                b'-' | b'0'..=b'9' => match v.get().parse::<i64>() {
                    Ok(ms) => time::check_range(ms)?,
                    Err(_) => return Err(wrong("timestamp", "a string or epoch milliseconds", "a number")),
                },
                b'"' => match coerce("timestamp", "a string", flink_json::string(v))? {
                    Some(s) => time::parse_text(&s)?,
                    None => return Err(MapError::MissingField("timestamp")),
                },
                _ => return Err(wrong("timestamp", "a string or epoch milliseconds", flink_json::kind(v))),
            },
        };
        let string = |field, v: Option<&'a RawValue>| match v {
            None => Ok(None),
            Some(v) => coerce(field, "a string", flink_json::string(v)),
        };
        Ok(Values {
            event_time_ms,
            user_id,
            url: string("url", raw.url)?,
            element_id: string("element_id", raw.element_id)?,
            order_id: string("order_id", raw.order_id)?,
            ip_address: string("ip_address", raw.ip_address)?,
            duration_seconds: match raw.duration_seconds {
                None => None,
                Some(v) => coerce("duration_seconds", "an integer", flink_json::bigint(v))?,
            },
            amount: match raw.amount {
                None => None,
                Some(v) => coerce("amount", "a finite number", flink_json::double(v))?,
            },
        })
    }

    /// The same values, owning their text.
    fn into_owned(self) -> Values<'static> {
        let own = |s: Option<Cow<'_, str>>| s.map(|s| Cow::Owned(s.into_owned()));
        Values {
            event_time_ms: self.event_time_ms,
            user_id: Cow::Owned(self.user_id.into_owned()),
            url: own(self.url),
            element_id: own(self.element_id),
            duration_seconds: self.duration_seconds,
            order_id: own(self.order_id),
            amount: self.amount,
            ip_address: own(self.ip_address),
        }
    }
}

/// A coercion's refusal as a [`MapError`] naming the field.
fn coerce<T>(field: &'static str, expected: &'static str, r: Result<T, Refusal>) -> Result<T, MapError> {
    r.map_err(|refusal| match refusal {
        Refusal::Kind(got) => wrong(field, expected, got),
        Refusal::Number(text) => MapError::BadNumber { field, text },
        Refusal::LoneSurrogate => MapError::InvalidJson(format!("field {field} has a lone UTF-16 surrogate escape")),
        Refusal::Text(_, text) => MapError::BadNumber { field, text },
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

fn wrong(field: &'static str, expected: &'static str, got: &'static str) -> MapError {
    MapError::WrongType { field, expected, got }
}

/// The fields of the original Flink source table, each as its raw JSON text; any other field is ignored, as Flink
/// does. The first six are the ones the original job reads.
#[derive(Default)]
struct RawFields<'a> {
    timestamp: Option<&'a RawValue>,
    user_id: Option<&'a RawValue>,
    url: Option<&'a RawValue>,
    element_id: Option<&'a RawValue>,
    order_id: Option<&'a RawValue>,
    amount: Option<&'a RawValue>,
    ip_address: Option<&'a RawValue>,
    duration_seconds: Option<&'a RawValue>,
}

/// How many fields the original job reads. Flink's reader counts each field it reads (a repeat too) and skips
/// every field after this many.
const READ_BY_THE_JOB: usize = 6;

/// A field name of the source table.
enum Key {
    Timestamp,
    UserId,
    Url,
    ElementId,
    OrderId,
    Amount,
    IpAddress,
    DurationSeconds,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "timestamp" => Key::Timestamp,
                    "user_id" => Key::UserId,
                    "url" => Key::Url,
                    "element_id" => Key::ElementId,
                    "order_id" => Key::OrderId,
                    "amount" => Key::Amount,
                    "ip_address" => Key::IpAddress,
                    "duration_seconds" => Key::DurationSeconds,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// Reads an object's fields into [`RawFields`]: the last of a repeated field wins, as in Flink.
fn read_fields<'de, A: MapAccess<'de>>(mut map: A) -> Result<RawFields<'de>, A::Error> {
    let mut f = RawFields::default();
    let mut read = 0;
    while let Some(key) = map.next_key::<Key>()? {
        let slot = match key {
            Key::Timestamp => &mut f.timestamp,
            Key::UserId => &mut f.user_id,
            Key::Url => &mut f.url,
            Key::ElementId => &mut f.element_id,
            Key::OrderId => &mut f.order_id,
            Key::Amount => &mut f.amount,
            // Not read by the original job; typed fields of the unified record.
            Key::IpAddress => {
                f.ip_address = Some(map.next_value()?);
                continue;
            }
            Key::DurationSeconds => {
                f.duration_seconds = Some(map.next_value()?);
                continue;
            }
            Key::Other => {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
        };
        if read == READ_BY_THE_JOB {
            map.next_value::<IgnoredAny>()?;
            continue;
        }
        *slot = Some(map.next_value()?);
        read += 1;
    }
    Ok(f)
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
                read_fields(map).map(Top::Object)
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
