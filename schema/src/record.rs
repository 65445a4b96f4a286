//! The records on the output topics declared once, as data: every field of `processed_events` ([`EVENTS`]) and of
//! `dead_letters` ([`DEAD_LETTERS`]) with its JSON type, the ClickHouse columns made from it (and how the
//! materialized view makes them) and where its value comes from. Derived from these tables: the column lists of the
//! DDL (`contract::sql` fills them into `schema/sql/`), the direct sink's INSERT columns, the JSON encoder's size
//! bound ([`json_fixed_bytes`]) and the field table in README.md ([`markdown_table`], printed by `transformer schema
//! --fields`). Checked against them by tests that fail on any difference: the Rust structs
//! ([`crate::processed::ProcessedEvent`], [`crate::processed::DeadLetter`]: field order and JSON types), the
//! transformer's JSON and RowBinary writers, and the README.
//!
//! Adding a field: a row here; the field in `ProcessedEvent` (same place); its value in the transformer's `Mapped`,
//! `write_json` (a property test holds it to serde's output of the struct) and `rowbinary::write_event`; the README
//! table (`transformer schema --fields` prints it). The tests name whichever of these was forgotten. Existing tables
//! take the new columns with `ALTER TABLE ... ADD COLUMN` (the Kafka table and its view are dropped and created again
//! from `transformer schema`).

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

/// A column of a stored table, and how the materialized view fills it from the Kafka table's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: &'static str,
    /// Its ClickHouse type.
    pub ty: &'static str,
    /// The view's expression for it: a column of the Kafka table, or SQL over them.
    pub from: &'static str,
}

/// A stored column with the same name and value as its field.
const fn col(name: &'static str, ty: &'static str) -> Column {
    Column { name, ty, from: name }
}

/// A stored column the view computes with `from`.
const fn col_from(name: &'static str, ty: &'static str, from: &'static str) -> Column {
    Column { name, ty, from }
}

/// One field of a record on an output topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Its name in the JSON (and, mostly, in ClickHouse).
    pub name: &'static str,
    /// Its JSON type.
    pub json: Json,
    /// Its column type in the Kafka-engine table, which reads the JSON as written.
    pub queue_type: &'static str,
    /// The columns of the stored table made from it (none: stored through another field).
    pub stored_as: &'static [Column],
    /// Where its value comes from.
    pub origin: &'static str,
}

const fn field(
    name: &'static str,
    json: Json,
    queue_type: &'static str,
    stored_as: &'static [Column],
    origin: &'static str,
) -> Field {
    Field { name, json, queue_type, stored_as, origin }
}

/// A record on an output topic and the two ClickHouse tables of it: the Kafka-engine table that reads the topic and
/// the table that stores the rows (filled by a materialized view, or by the direct sink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The fields, in the order they are written.
    pub fields: &'static [Field],
    /// The Kafka-engine table.
    pub queue: &'static str,
    /// The stored table.
    pub stored: &'static str,
    /// Columns of the stored table that no field makes.
    pub table_only: &'static [Column],
}

impl Record {
    /// The stored table's columns in table order: each field's, then the table's own.
    pub fn stored_columns(&self) -> impl Iterator<Item = Column> {
        self.fields.iter().flat_map(|f| f.stored_as.iter().copied()).chain(self.table_only.iter().copied())
    }
}

/// The unified record: `processed_events`, `events_queue`, `events_processed`.
pub const EVENTS: Record =
    Record { fields: &FIELDS, queue: "events_queue", stored: "events_processed", table_only: &TABLE_ONLY };

/// A dead letter: `dead_letters` (topic and stored table), `dead_letters_queue`.
pub const DEAD_LETTERS: Record = Record {
    fields: &DEAD_LETTER_FIELDS,
    queue: "dead_letters_queue",
    stored: "dead_letters",
    table_only: &TABLE_ONLY,
};

/// The fields, in the order they are written.
pub const FIELDS: [Field; 15] = [
    field(
        "event_id",
        Json::String,
        "String",
        &[col_from("event_id", "UUID", "toUUID(event_id)")],
        "xxh3-128 of topic and raw bytes, as a UUID (stable across replays)",
    ),
    field(
        "event_type",
        Json::String,
        "String",
        &[col("event_type", "String")],
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
        &[
            col_from("event_timestamp", "DateTime('UTC')", "toDateTime(intDiv(event_time_ms, 1000), 'UTC')"),
            col_from("event_timestamp_ms", "UInt16", "toUInt16(event_time_ms % 1000)"),
        ],
        "the same instant, epoch milliseconds",
    ),
    field("user_id", Json::String, "String", &[col("user_id", "String")], "raw `user_id` (original)"),
    field(
        "details",
        Json::String,
        "String",
        &[col("details", "String")],
        "CONCAT_WS(' \\| ', url, element_id, order_id, amount) (original)",
    ),
    field("url", Json::NullableString, "Nullable(String)", &[col("url", "Nullable(String)")], "raw `url`"),
    field(
        "element_id",
        Json::NullableString,
        "Nullable(String)",
        &[col("element_id", "Nullable(String)")],
        "raw `element_id`",
    ),
    field(
        "duration_seconds",
        Json::NullableInt,
        "Nullable(Int64)",
        &[col("duration_seconds", "Nullable(Int64)")],
        "raw `duration_seconds`",
    ),
    field(
        "order_id",
        Json::NullableString,
        "Nullable(String)",
        &[col("order_id", "Nullable(String)")],
        "raw `order_id`",
    ),
    field("amount", Json::NullableFloat, "Nullable(Float64)", &[col("amount", "Nullable(Float64)")], "raw `amount`"),
    field(
        "ip_address",
        Json::NullableString,
        "Nullable(String)",
        &[col("ip_address", "Nullable(String)")],
        "raw `ip_address`",
    ),
    SOURCE[0],
    SOURCE[1],
    SOURCE[2],
];

/// The source coordinates, in both records: they make a replay find what is already stored.
const SOURCE: [Field; 3] = [
    field("source_topic", Json::String, "String", &[col("source_topic", "String")], "the raw record's topic"),
    field("source_partition", Json::Int, "Int32", &[col("source_partition", "Int32")], "the raw record's partition"),
    field("source_offset", Json::Int, "Int64", &[col("source_offset", "Int64")], "the raw record's offset"),
];

/// The fields of a dead letter, in the order they are written.
pub const DEAD_LETTER_FIELDS: [Field; 8] = [
    SOURCE[0],
    SOURCE[1],
    SOURCE[2],
    field("reason", Json::String, "String", &[col("reason", "String")], "why it was not mapped, a code"),
    field("error", Json::String, "String", &[col("error", "String")], "why it was not mapped, in words"),
    field(
        "raw",
        Json::String,
        "String",
        &[col("raw", "String")],
        "the raw value as text, cut to --dead-letter-max-raw",
    ),
    field("raw_size", Json::Int, "UInt64", &[col("raw_size", "UInt64")], "the raw value's size in bytes"),
    field(
        "failed_at_ms",
        Json::Int,
        "UInt64",
        &[col_from("failed_at", "DateTime('UTC')", "toDateTime(intDiv(failed_at_ms, 1000), 'UTC')")],
        "when the transformer dead-lettered it, epoch milliseconds",
    ),
];

/// Columns of both stored tables that no field makes: ClickHouse fills them.
pub const TABLE_ONLY: [Column; 1] = [col_from("inserted_at", "DateTime('UTC')", "now()")];

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

/// The README's field table (Markdown), exactly as README.md must hold it.
pub fn markdown_table() -> String {
    let mut s = String::from("| field | JSON | `events_queue` | `events_processed` | from |\n|---|---|---|---|---|\n");
    for f in FIELDS {
        let stored = if f.stored_as.is_empty() {
            "(via `event_time_ms`)".to_string()
        } else {
            f.stored_as.iter().map(|c| format!("`{}` {}", c.name, c.ty)).collect::<Vec<_>>().join(", ")
        };
        s.push_str(&format!("| `{}` | {} | {} | {stored} | {} |\n", f.name, f.json.name(), f.queue_type, f.origin));
    }
    for c in TABLE_ONLY {
        s.push_str(&format!("| | | | `{}` {} | ClickHouse, at insert |\n", c.name, c.ty));
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
    fn the_tables_have_exactly_the_declared_columns() {
        for r in [EVENTS, DEAD_LETTERS] {
            let queue: Vec<_> = r.fields.iter().map(|f| (f.name.to_string(), f.queue_type.to_string())).collect();
            assert_eq!(ddl_columns(r.queue), queue, "{}", r.queue);
            let stored: Vec<_> = r.stored_columns().map(|c| (c.name.to_string(), c.ty.to_string())).collect();
            assert_eq!(ddl_columns(r.stored), stored, "{}", r.stored);
        }
    }

    #[test]
    fn each_view_fills_every_stored_column_from_its_kafka_table() {
        let ddl = crate::sql::script(&crate::sql::SqlParams::default());
        for r in [EVENTS, DEAD_LETTERS] {
            let head = format!("TO default.{} AS\nSELECT\n", r.stored);
            let view = ddl.split(&head).nth(1).unwrap_or_else(|| panic!("no view into {}", r.stored));
            let view = &view[..view.find(';').expect("the view ends")];
            let filled: Vec<&str> =
                view.lines().take_while(|l| !l.starts_with("FROM")).map(|l| l.trim().trim_end_matches(',')).collect();
            let want: Vec<String> = r
                .stored_columns()
                .map(|c| if c.from == c.name { c.name.to_string() } else { format!("{} AS {}", c.from, c.name) })
                .collect();
            assert_eq!(filled, want, "{view}");
            assert!(view.contains(&format!("FROM default.{}", r.queue)), "{view}");
        }
    }

    /// `json` (serde's output of a struct) has exactly `fields`, in order, each of its declared JSON type.
    fn holds_to(json: &str, fields: &[Field]) {
        let mut at = 0;
        for f in fields {
            let needle = format!("\"{}\":", f.name);
            let found =
                json[at..].find(&needle).unwrap_or_else(|| panic!("{} missing or out of order in {json}", f.name));
            at += found + needle.len();
        }
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).unwrap();
        assert_eq!(map.len(), fields.len(), "the struct has fields the table does not: {json}");
        for f in fields {
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
    fn the_structs_write_exactly_the_fields_in_order() {
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
        holds_to(&serde_json::to_string(&e).unwrap(), &FIELDS);
        let d = crate::processed::DeadLetter {
            source_topic: "s".into(),
            source_partition: 1,
            source_offset: 2,
            reason: "invalid_json".into(),
            error: "e".into(),
            raw: "r".into(),
            raw_size: 1,
            failed_at_ms: 3,
        };
        holds_to(&serde_json::to_string(&d).unwrap(), &DEAD_LETTER_FIELDS);
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
