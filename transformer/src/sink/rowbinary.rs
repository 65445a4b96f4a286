//! ClickHouse's RowBinary format, written straight from a mapped record (as [`crate::encode`] writes JSON): no
//! owned row, no allocation per field. The column lists are checked against the record's declaration
//! (`contract::record`) and the DDL by the tests below; the INSERT names its columns from them, so a table with
//! extra columns (with defaults) still takes the rows.
//!
//! Encodings (ClickHouse's RowBinary): integers and floats little-endian; `String` as a LEB128 length and the
//! bytes; `Nullable(T)` as one byte (1 = NULL) and then `T` if not NULL; `DateTime` as u32 seconds; `UUID` as its
//! two 64-bit halves, each little-endian.

use contract::processed::DeadLetter;

use crate::map::{details, event_type, Mapped};

/// The columns of `events_processed` that [`write_event`] writes, in order, with their ClickHouse types.
pub const EVENT_COLUMNS: [(&str, &str); 16] = [
    ("event_id", "UUID"),
    ("event_type", "String"),
    ("event_timestamp", "DateTime('UTC')"),
    ("event_timestamp_ms", "UInt16"),
    ("user_id", "String"),
    ("details", "String"),
    ("url", "Nullable(String)"),
    ("element_id", "Nullable(String)"),
    ("duration_seconds", "Nullable(Int64)"),
    ("order_id", "Nullable(String)"),
    ("amount", "Nullable(Float64)"),
    ("ip_address", "Nullable(String)"),
    ("source_topic", "String"),
    ("source_partition", "Int32"),
    ("source_offset", "Int64"),
    ("inserted_at", "DateTime('UTC')"),
];

/// The columns of `dead_letters` that [`write_dead_letter`] writes, in order, with their ClickHouse types.
pub const DEAD_LETTER_COLUMNS: [(&str, &str); 9] = [
    ("source_topic", "String"),
    ("source_partition", "Int32"),
    ("source_offset", "Int64"),
    ("reason", "String"),
    ("error", "String"),
    ("raw", "String"),
    ("raw_size", "UInt64"),
    ("failed_at", "DateTime('UTC')"),
    ("inserted_at", "DateTime('UTC')"),
];

/// Appends the `events_processed` row of `m` ([`EVENT_COLUMNS`]), inserted at `inserted_at` (epoch seconds).
/// The values are the ones the Kafka path stores (its materialized view makes the same columns from the JSON).
pub fn write_event(out: &mut Vec<u8>, m: &Mapped<'_>, inserted_at: u32) {
    uuid(out, &m.event_id);
    string(out, &event_type(m.src.topic));
    // The mapping accepts 1970-01-01..2105-12-31 only (contract::time), all within DateTime's u32 seconds.
    out.extend_from_slice(&((m.event_time_ms.div_euclid(1000)) as u32).to_le_bytes());
    out.extend_from_slice(&((m.event_time_ms.rem_euclid(1000)) as u16).to_le_bytes());
    string(out, &m.user_id);
    string(out, &details(m.url.as_deref(), m.element_id.as_deref(), m.order_id.as_deref(), m.amount));
    nullable_string(out, m.url.as_deref());
    nullable_string(out, m.element_id.as_deref());
    nullable(out, m.duration_seconds.map(i64::to_le_bytes));
    nullable_string(out, m.order_id.as_deref());
    nullable(out, m.amount.map(f64::to_le_bytes));
    nullable_string(out, m.ip_address.as_deref());
    string(out, m.src.topic);
    out.extend_from_slice(&m.src.partition.to_le_bytes());
    out.extend_from_slice(&m.src.offset.to_le_bytes());
    out.extend_from_slice(&inserted_at.to_le_bytes());
}

/// Appends the `dead_letters` row of `d` ([`DEAD_LETTER_COLUMNS`]), inserted at `inserted_at` (epoch seconds).
pub fn write_dead_letter(out: &mut Vec<u8>, d: &DeadLetter, inserted_at: u32) {
    string(out, &d.source_topic);
    out.extend_from_slice(&d.source_partition.to_le_bytes());
    out.extend_from_slice(&d.source_offset.to_le_bytes());
    string(out, &d.reason);
    string(out, &d.error);
    string(out, &d.raw);
    out.extend_from_slice(&d.raw_size.to_le_bytes());
    out.extend_from_slice(&(d.failed_at_ms.div_euclid(1000).clamp(0, u32::MAX as i64) as u32).to_le_bytes());
    out.extend_from_slice(&inserted_at.to_le_bytes());
}

/// `INSERT INTO db.table (columns) FORMAT RowBinary`.
pub fn insert_statement(database: &str, table: &str, columns: &[(&str, &str)]) -> String {
    let names: Vec<String> = columns.iter().map(|(c, _)| quote(c)).collect();
    format!("INSERT INTO {}.{} ({}) FORMAT RowBinary", quote(database), quote(table), names.join(", "))
}

/// A ClickHouse identifier in backquotes.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

fn string(out: &mut Vec<u8>, s: &str) {
    let mut n = s.len() as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(s.as_bytes());
}

/// A `Nullable` number, given as its little-endian bytes.
fn nullable<const N: usize>(out: &mut Vec<u8>, v: Option<[u8; N]>) {
    match v {
        Some(bytes) => {
            out.push(0);
            out.extend_from_slice(&bytes);
        }
        None => out.push(1),
    }
}

fn nullable_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(0);
            string(out, s);
        }
        None => out.push(1),
    }
}

/// A UUID from its 36-character text: the high and the low 64 bits, each little-endian.
fn uuid(out: &mut Vec<u8>, text: &[u8; 36]) {
    let mut bytes = [0u8; 16];
    let nibbles = text.iter().filter(|&&c| c != b'-').map(|&c| (c as char).to_digit(16).unwrap_or(0) as u8);
    for (i, n) in nibbles.take(32).enumerate() {
        bytes[i / 2] |= if i % 2 == 0 { n << 4 } else { n };
    }
    let (high, low) = bytes.split_at(8);
    out.extend(high.iter().rev());
    out.extend(low.iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_columns_are_the_declared_stored_columns() {
        assert_eq!(EVENT_COLUMNS.to_vec(), contract::record::stored_columns());
    }

    #[test]
    fn the_dead_letter_columns_are_the_tables() {
        let ddl = contract::sql::table_columns("dead_letters");
        let ours: Vec<(String, String)> =
            DEAD_LETTER_COLUMNS.iter().map(|(c, t)| (c.to_string(), t.to_string())).collect();
        assert_eq!(ours, ddl);
    }

    #[test]
    fn encodings_are_clickhouses() {
        let mut out = Vec::new();
        string(&mut out, &"x".repeat(300));
        assert_eq!(&out[..2], &[0xac, 0x02], "LEB128 length");
        let mut out = Vec::new();
        uuid(&mut out, b"61f0c404-5cb3-11e7-907b-a6006ad3dba0");
        // ClickHouse's own example of a UUID in RowBinary.
        assert_eq!(
            out,
            [0xe7, 0x11, 0xb3, 0x5c, 0x04, 0xc4, 0xf0, 0x61, 0xa0, 0xdb, 0xd3, 0x6a, 0x00, 0xa6, 0x7b, 0x90]
        );
        assert_eq!(
            insert_statement("d", "t", &[("a", "String"), ("b`c", "String")]),
            "INSERT INTO `d`.`t` (`a`, `b\\`c`) FORMAT RowBinary"
        );
    }

    #[test]
    fn an_event_row_has_every_column() {
        let raw = br#"{"user_id":"u1","timestamp":"2024-05-01 10:00:00.250","amount":12.5,"url":"/a"}"#;
        let src = crate::map::Source { topic: "orders", partition: 2, offset: 9 };
        let m = crate::map::map(src, Some(raw), 1 << 20).expect("maps");
        let mut out = Vec::new();
        write_event(&mut out, &m, 7);
        let details = "/a | 12.5";
        let expect =
            16 + (1 + 6) + 4 + 2 + (1 + 2) + (1 + details.len()) + (2 + 2) + 1 + 1 + 1 + 9 + 1 + (1 + 6) + 4 + 8 + 4;
        assert_eq!(out.len(), expect);
        assert_eq!(&out[16..23], b"\x06ORDERS");
        assert_eq!(&out[23..27], &1_714_557_600u32.to_le_bytes());
        assert_eq!(&out[27..29], &250u16.to_le_bytes());
        assert_eq!(&out[out.len() - 4..], &7u32.to_le_bytes());
    }
}
