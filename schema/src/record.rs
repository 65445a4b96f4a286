//! The unified record declared once, as data: every field of `processed_events` with its JSON type, its
//! ClickHouse columns and where its value comes from. The rest is derived from this table or checked against it by
//! a test that fails on any difference: the Rust struct ([`crate::processed::ProcessedEvent`], field order), the
//! JSON encoder's size bound ([`json_fixed_bytes`]), the DDL of `events_queue` and `events_processed`
//! (`schema/sql/01_events.sql`) and the field table in README.md ([`markdown_table`], printed by
//! `transformer schema --fields`).
//!
//! Adding a field: a row here; the field in `ProcessedEvent` (same place); its value in the transformer's `Mapped`
//! and `write_json` (a property test holds the encoder to serde's output of the struct); its columns in
//! `schema/sql/01_events.sql`; the README table (`transformer schema --fields` prints it). The tests name whichever
//! of these was forgotten.

/// How a field is written in the JSON of `processed_events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Json {
    /// A string, always present.
    String,
    /// A string, or `null`.
    NullableString,
    /// An integer, always present.
    Int,
    /// An integer, or `null`.
    NullableInt,
    /// A double, or `null`.
    NullableFloat,
}

impl Json {
    /// Whether the value is written in quotes (when present).
    pub fn quoted(self) -> bool {
        matches!(self, Self::String | Self::NullableString)
    }
    /// Whether the value may be `null`.
    pub fn nullable(self) -> bool {
        matches!(self, Self::NullableString | Self::NullableInt | Self::NullableFloat)
    }
    fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::NullableString => "string or null",
            Self::Int => "integer",
            Self::NullableInt => "integer or null",
            Self::NullableFloat => "number or null",
        }
    }
}

/// One field of the unified record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its name in the JSON (and, mostly, in ClickHouse).
    pub name: &'static str,
    /// Its JSON type.
    pub json: Json,
    /// Its column type in the Kafka-engine table `events_queue`, which reads the JSON as written.
    pub queue_type: &'static str,
    /// The columns of `events_processed` made from it, with their types (none: stored through another field).
    pub stored_as: &'static [(&'static str, &'static str)],
    /// Where its value comes from.
    pub origin: &'static str,
}

const fn field(
    name: &'static str,
    json: Json,
    queue_type: &'static str,
    stored_as: &'static [(&'static str, &'static str)],
    origin: &'static str,
) -> Field {
    Field { name, json, queue_type, stored_as, origin }
}

/// The fields, in the order they are written.
pub const FIELDS: [Field; 15] = [
    field(
        "event_id",
        Json::String,
        "String",
        &[("event_id", "UUID")],
        "xxh3-128 of topic and raw bytes, as a UUID (stable across replays)",
    ),
    field(
        "event_type",
        Json::String,
        "String",
        &[("event_type", "String")],
        "UPPER(REPLACE(topic, 'user_', '')) (original)",
    ),
    field(
        "event_timestamp",
        Json::String,
        "String",
        &[],
        "raw `timestamp`, written as Flink writes TIMESTAMP(3) (original)",
    ),
    field(
        "event_time_ms",
        Json::Int,
        "UInt64",
        &[("event_timestamp", "DateTime('UTC')"), ("event_timestamp_ms", "UInt16")],
        "the same instant, epoch milliseconds",
    ),
    field("user_id", Json::String, "String", &[("user_id", "String")], "raw `user_id` (original)"),
    field(
        "details",
        Json::String,
        "String",
        &[("details", "String")],
        "CONCAT_WS(' \\| ', url, element_id, order_id, amount) (original)",
    ),
    field("url", Json::NullableString, "Nullable(String)", &[("url", "Nullable(String)")], "raw `url`"),
    field(
        "element_id",
        Json::NullableString,
        "Nullable(String)",
        &[("element_id", "Nullable(String)")],
        "raw `element_id`",
    ),
    field(
        "duration_seconds",
        Json::NullableInt,
        "Nullable(Int64)",
        &[("duration_seconds", "Nullable(Int64)")],
        "raw `duration_seconds`",
    ),
    field("order_id", Json::NullableString, "Nullable(String)", &[("order_id", "Nullable(String)")], "raw `order_id`"),
    field("amount", Json::NullableFloat, "Nullable(Float64)", &[("amount", "Nullable(Float64)")], "raw `amount`"),
    field(
        "ip_address",
        Json::NullableString,
        "Nullable(String)",
        &[("ip_address", "Nullable(String)")],
        "raw `ip_address`",
    ),
    field("source_topic", Json::String, "String", &[("source_topic", "String")], "the raw record's topic"),
    field("source_partition", Json::Int, "Int32", &[("source_partition", "Int32")], "the raw record's partition"),
    field("source_offset", Json::Int, "Int64", &[("source_offset", "Int64")], "the raw record's offset"),
];

/// Columns of `events_processed` that no field makes: ClickHouse fills them.
pub const TABLE_ONLY: [(&str, &str); 1] = [("inserted_at", "DateTime('UTC')")];

/// The bytes of the unified JSON that do not depend on the values: braces, field names with their quotes and
/// colons, separators, and the quotes of string values.
pub const fn json_fixed_bytes() -> usize {
    let mut n = 2 + FIELDS.len() - 1; // { } and the commas
    let mut i = 0;
    while i < FIELDS.len() {
        n += FIELDS[i].name.len() + 3; // "name":
        i += 1;
    }
    n + 2 * count_of(&[Json::String, Json::NullableString]) // the quotes of string values
}

/// How many fields are of one of `kinds`.
pub const fn count_of(kinds: &[Json]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < FIELDS.len() {
        let mut k = 0;
        while k < kinds.len() {
            if FIELDS[i].json as u8 == kinds[k] as u8 {
                n += 1;
                break;
            }
            k += 1;
        }
        i += 1;
    }
    n
}

/// How many fields hold a number (each at most 24 bytes as text).
pub const fn numeric_fields() -> usize {
    count_of(&[Json::Int, Json::NullableInt, Json::NullableFloat])
}

/// How many string fields may be `null` (4 bytes where `""` takes 2).
pub const fn nullable_string_fields() -> usize {
    count_of(&[Json::NullableString])
}

/// The `events_processed` columns in table order: each field's, then [`TABLE_ONLY`].
pub fn stored_columns() -> Vec<(&'static str, &'static str)> {
    FIELDS.iter().flat_map(|f| f.stored_as.iter().copied()).chain(TABLE_ONLY).collect()
}

/// The README's field table (Markdown), exactly as README.md must hold it.
pub fn markdown_table() -> String {
    let mut s = String::from("| field | JSON | `events_queue` | `events_processed` | from |\n|---|---|---|---|---|\n");
    for f in FIELDS {
        let stored = if f.stored_as.is_empty() {
            "(via `event_time_ms`)".to_string()
        } else {
            f.stored_as.iter().map(|(c, t)| format!("`{c}` {t}")).collect::<Vec<_>>().join(", ")
        };
        s.push_str(&format!("| `{}` | {} | {} | {stored} | {} |\n", f.name, f.json.name(), f.queue_type, f.origin));
    }
    for (c, t) in TABLE_ONLY {
        s.push_str(&format!("| | | | `{c}` {t} | ClickHouse, at insert |\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ddl_columns(table: &str) -> Vec<(String, String)> {
        crate::sql::table_columns(table)
    }

    #[test]
    fn the_kafka_table_reads_exactly_the_fields() {
        let want: Vec<(String, String)> =
            FIELDS.iter().map(|f| (f.name.to_string(), f.queue_type.to_string())).collect();
        assert_eq!(ddl_columns("events_queue"), want);
    }

    #[test]
    fn the_stored_table_has_exactly_the_declared_columns() {
        let want: Vec<(String, String)> =
            stored_columns().into_iter().map(|(c, t)| (c.to_string(), t.to_string())).collect();
        assert_eq!(ddl_columns("events_processed"), want);
        let view = include_str!("../sql/01_events.sql").split("{database}.events_mv TO").nth(1).expect("the view");
        for (c, _) in stored_columns() {
            assert!(
                view.contains(&format!("AS {c},"))
                    || view.contains(&format!("    {c},"))
                    || view.contains(&format!("AS {c}\n")),
                "the view does not fill {c}"
            );
        }
    }

    #[test]
    fn the_struct_writes_exactly_the_fields_in_order() {
        let e = crate::processed::ProcessedEvent {
            event_id: "i".into(),
            event_type: "T".into(),
            event_timestamp: "t".into(),
            event_time_ms: 1,
            user_id: "u".into(),
            details: "d".into(),
            url: None,
            element_id: Some("e".into()),
            duration_seconds: None,
            order_id: None,
            amount: Some(1.5),
            ip_address: None,
            source_topic: "s".into(),
            source_partition: 0,
            source_offset: 2,
        };
        let json = serde_json::to_string(&e).unwrap();
        let keys: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        let mut at = 0;
        for k in &keys {
            let needle = format!("\"{k}\":");
            let found = json[at..].find(&needle).unwrap_or_else(|| panic!("{k} missing or out of order in {json}"));
            at += found + needle.len();
        }
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(map.len(), FIELDS.len(), "the struct has fields the table does not: {json}");
        for f in FIELDS {
            let v = &map[f.name];
            let ok = match f.json {
                Json::String => v.is_string(),
                Json::NullableString => v.is_string() || v.is_null(),
                Json::Int => v.is_i64() || v.is_u64(),
                Json::NullableInt => v.is_i64() || v.is_u64() || v.is_null(),
                Json::NullableFloat => v.is_number() || v.is_null(),
            };
            assert!(ok, "{} is written as {v}, declared {:?}", f.name, f.json);
        }
    }

    #[test]
    fn the_fixed_bytes_are_what_an_all_empty_record_takes() {
        // Every string empty, every nullable null, every number 0: the JSON is the fixed part, plus 1 byte per
        // number, plus 2 per null string beyond its `""`.
        let mut json = String::from("{");
        for (i, f) in FIELDS.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&format!("\"{}\":", f.name));
            json.push_str(match f.json {
                Json::String => "\"\"",
                Json::NullableString => "null",
                _ => "0",
            });
        }
        json.push('}');
        assert_eq!(json.len(), json_fixed_bytes() + numeric_fields() + 2 * nullable_string_fields());
    }

    #[test]
    fn the_readme_holds_the_field_table() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        assert!(
            readme.contains(&markdown_table()),
            "README.md must hold this table (`transformer schema --fields` prints it):\n{}",
            markdown_table()
        );
    }
}
