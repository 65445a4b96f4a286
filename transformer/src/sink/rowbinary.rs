//! ClickHouse's RowBinary format, written straight from a job's row: no owned row, no allocation per field. The
//! direct sink stores the unified record: the job's one sink must have the unified record's columns (the default
//! job's `processed_events`; [`check_job`] says so at start), and the stored columns are the records' declaration
//! (`contract::record`), which the DDL is rendered from; the tests below read the rows back by the declared types.
//! The INSERT names its columns, so a table with extra columns (with defaults) still takes the rows. Tables of a
//! job's own come with ClickHouse sinks declared in the job.
//!
//! Encodings (ClickHouse's RowBinary): integers and floats little-endian; `String` as a LEB128 length and the
//! bytes; `Nullable(T)` as one byte (1 = NULL) and then `T` if not NULL; `DateTime` as u32 seconds; `UUID` as its
//! two 64-bit halves, each little-endian.

use contract::processed::DeadLetter;
use contract::record::Record;

use job::ddl::{ChColumn, Part};
use job::types::Type;
use job::value::Val;
use job::{MapError, Row};

/// The columns of `record`'s stored table, in order, with their ClickHouse types: what [`write_event`] (for
/// `contract::record::EVENTS`) and [`write_dead_letter`] (`DEAD_LETTERS`) write, as the tests below check.
pub fn columns(record: &Record) -> Vec<(&'static str, &'static str)> {
    record.stored_columns().map(|c| (c.name, c.ty)).collect()
}

/// Whether `plan` writes what the direct sink stores: one sink with the unified record's fields, in order, each
/// of its JSON type. Otherwise, what to do.
pub fn check_job(plan: &job::Plan) -> Result<(), String> {
    use contract::record::{Json, FIELDS};
    use job::types::Type;
    let fits = |json: Json, ty: Type, nullable: bool| match json {
        Json::String => ty == Type::String && !nullable,
        Json::NullableString => ty == Type::String,
        Json::Int => ty.is_integer() && !nullable,
        Json::NullableInt => ty.is_integer(),
        Json::NullableFloat => matches!(ty, Type::Double | Type::Float),
    };
    let ok = match plan.sinks.as_slice() {
        [sink] => {
            sink.columns.len() == FIELDS.len()
                && sink.columns.iter().zip(FIELDS.iter()).all(|(c, f)| {
                    c.name == f.name
                        && (fits(f.json, c.ty, c.nullable) || (f.name == "event_timestamp" && c.ty.is_timestamp()))
                })
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(format!(
        "--sink clickhouse stores the unified record, and the job {} writes {}: run the default job (no --job), or \
         a job whose one sink has the columns of schema/jobs/unified.sql's processed_events, or --sink kafka",
        plan.file,
        plan.sinks.iter().map(|s| format!("{} ({} columns)", s.name, s.columns.len())).collect::<Vec<_>>().join(", ")
    ))
}

/// Appends the `events_processed` row of `row` ([`columns`] of `EVENTS`; [`check_job`] checked the job's sink has
/// the unified record's fields in order), inserted at `inserted_at` (epoch seconds). The values are the ones the
/// Kafka path stores (its materialized view makes the same columns from the JSON). A value the table cannot hold
/// (an event id that is not a UUID, a time outside DateTime's range) is refused, and the record dead-lettered.
pub fn write_event(out: &mut Vec<u8>, row: &Row<'_>, inserted_at: u32) -> Result<(), MapError> {
    let v = |i: usize| row.value(i);
    let text = |i: usize| v(i).as_str();
    let refuse = |column: &str, why: &str| MapError::Eval {
        expr: format!("the column {column} of {}", row.sink.name),
        line: 0,
        message: why.to_owned(),
    };
    let id =
        text(0).filter(|s| is_uuid(s)).ok_or_else(|| refuse("event_id", "not a UUID (the table stores a UUID)"))?;
    uuid(out, id.as_bytes().try_into().expect("is_uuid checked the length"));
    string(out, text(1).unwrap_or_default());
    let ms = v(3).as_i64().unwrap_or_default();
    if !(0..=contract::time::MAX_MS).contains(&ms) {
        return Err(refuse("event_time_ms", "outside 1970-01-01..2105-12-31 (ClickHouse's DateTime)"));
    }
    out.extend_from_slice(&((ms.div_euclid(1000)) as u32).to_le_bytes());
    out.extend_from_slice(&((ms.rem_euclid(1000)) as u16).to_le_bytes());
    string(out, text(4).unwrap_or_default());
    string(out, text(5).unwrap_or_default());
    nullable_string(out, text(6));
    nullable_string(out, text(7));
    nullable(out, v(8).as_i64().map(i64::to_le_bytes));
    nullable_string(out, text(9));
    nullable(out, v(10).as_f64().map(f64::to_le_bytes));
    nullable_string(out, text(11));
    string(out, text(12).unwrap_or_default());
    out.extend_from_slice(&(v(13).as_i64().unwrap_or_default() as i32).to_le_bytes());
    out.extend_from_slice(&v(14).as_i64().unwrap_or_default().to_le_bytes());
    out.extend_from_slice(&inserted_at.to_le_bytes());
    Ok(())
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { c == b'-' } else { c.is_ascii_hexdigit() })
}

/// Appends the `dead_letters` row of `d` ([`columns`] of `DEAD_LETTERS`), inserted at `inserted_at` (epoch seconds).
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
pub use job::ddl::quote;

/// A `String`: its length (LEB128) and its bytes.
pub fn string(out: &mut Vec<u8>, s: &str) {
    bytes(out, s.as_bytes());
}

/// A `String` of any bytes.
fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    varuint(out, b.len());
    out.extend_from_slice(b);
}

/// Appends the values of a job's row as the columns of its ClickHouse table (`job::ddl::columns` of its sink):
/// each converted to the column's type, or refused (the row then becomes a dead letter naming the column) where
/// the type cannot hold it: a time outside DateTime's or Date's range, an integer wider than the column. On error
/// `out` may hold part of the row: the caller cuts it off.
pub fn write_job_row(out: &mut Vec<u8>, columns: &[ChColumn], row: &Row<'_>) -> Result<(), MapError> {
    for c in columns {
        let declared = &row.sink.columns[c.from];
        let v = row.value(c.from);
        let refuse = |why: String| MapError::Eval {
            expr: format!("the column {} of {}", c.name, row.sink.name),
            line: 0,
            message: why,
        };
        if let Part::Sub(k) = c.part {
            split(out, declared.ty, v, usize::from(k)).map_err(refuse)?;
            continue;
        }
        if declared.ty.is_nested() {
            nested(out, declared.ty, v, c.part == Part::Seconds).map_err(refuse)?;
            continue;
        }
        if declared.nullable {
            if v.is_null() {
                out.push(1);
                continue;
            }
            out.push(0);
        } else if v.is_null() {
            return Err(refuse("NULL in a NOT NULL column".into()));
        }
        scalar(out, declared.ty, v, c.part).map_err(refuse)?;
    }
    Ok(())
}

/// A non-NULL value of a scalar type, as `part` of it says.
fn scalar(out: &mut Vec<u8>, ty: Type, v: &Val<'_>, part: Part) -> Result<(), String> {
    match (ty, v) {
        (_, Val::Str(s)) => string(out, s),
        (_, Val::Bytes(b)) => bytes(out, b),
        (_, Val::Bool(b)) => out.push(u8::from(*b)),
        (Type::TinyInt, Val::Int(n)) => {
            out.extend_from_slice(&i8::try_from(*n).map_err(|_| format!("{n} is no TINYINT"))?.to_le_bytes())
        }
        (Type::SmallInt, Val::Int(n)) => {
            out.extend_from_slice(&i16::try_from(*n).map_err(|_| format!("{n} is no SMALLINT"))?.to_le_bytes())
        }
        (Type::Int, Val::Int(n)) => {
            out.extend_from_slice(&i32::try_from(*n).map_err(|_| format!("{n} is no INT"))?.to_le_bytes())
        }
        (_, Val::Int(n)) => out.extend_from_slice(&n.to_le_bytes()),
        (Type::Float, Val::Double(x)) => out.extend_from_slice(&(*x as f32).to_le_bytes()),
        (_, Val::Double(x)) => out.extend_from_slice(&x.to_le_bytes()),
        (Type::Decimal(p, s), Val::Dec(v, scale)) => {
            let v = job::value::rescale(*v, *scale, s)
                .filter(|v| job::value::fits(*v, p))
                .ok_or_else(|| format!("does not fit DECIMAL({p}, {s})"))?;
            match p {
                0..=9 => out.extend_from_slice(&(v as i32).to_le_bytes()),
                10..=18 => out.extend_from_slice(&(v as i64).to_le_bytes()),
                _ => out.extend_from_slice(&v.to_le_bytes()),
            }
        }
        (_, Val::Date(d)) => {
            let days =
                u16::try_from(*d).map_err(|_| "outside 1970-01-01..2149-06-06 (ClickHouse's Date)".to_string())?;
            out.extend_from_slice(&days.to_le_bytes());
        }
        (ty, Val::Ts(ms)) => match part {
            Part::Seconds | Part::Sub(_) => {
                let secs = u32::try_from(ms.div_euclid(1000))
                    .map_err(|_| "outside 1970..2106 (ClickHouse's DateTime)".to_string())?;
                out.extend_from_slice(&secs.to_le_bytes());
            }
            Part::Millis => out.extend_from_slice(&(ms.rem_euclid(1000) as u16).to_le_bytes()),
            Part::Value => {
                if !(DATETIME64_MIN_MS..=DATETIME64_MAX_MS).contains(ms) {
                    return Err("outside 1900..2299 (ClickHouse's DateTime64)".into());
                }
                let p = match ty {
                    Type::Timestamp(p) | Type::TimestampLtz(p) => u32::from(p.min(9)),
                    _ => 3,
                };
                let ticks =
                    if p >= 3 { ms.checked_mul(10i64.pow(p - 3)) } else { Some(ms.div_euclid(10i64.pow(3 - p))) };
                let ticks = ticks.ok_or_else(|| format!("outside what DateTime64({p}) holds"))?;
                out.extend_from_slice(&ticks.to_le_bytes());
            }
        },
        (ty, other) => return Err(format!("a {other:?} where the sink declares {ty}")),
    }
    Ok(())
}

/// A value of a nested type (`job::ddl`'s Array, Map or Array(Tuple) on 18.16, and Tuple; never Nullable): a NULL
/// array or map is written empty, a NULL row as a tuple of NULLs (its NOT NULL fields as their type's zero).
/// `seconds`: timestamps inside are whole seconds (18.16's DateTime). A refusal names the part (`[2].qty`).
fn nested(out: &mut Vec<u8>, ty: Type, v: &Val<'_>, seconds: bool) -> Result<(), String> {
    match (ty, v) {
        (Type::Array(_) | Type::Map(_), Val::Null(_)) => varuint(out, 0),
        (Type::Array(elem), Val::Array(items)) => {
            varuint(out, items.len());
            for (i, item) in items.iter().enumerate() {
                part(out, elem.ty, elem.nullable, item, seconds).map_err(|e| format!("[{}]{e}", i + 1))?;
            }
        }
        (Type::Map(value), Val::Map(entries)) => {
            varuint(out, entries.len());
            for (k, v) in entries {
                let key = k.as_str().unwrap_or_default();
                string(out, key);
                part(out, value.ty, value.nullable, v, seconds).map_err(|e| format!("['{key}']{e}"))?;
            }
        }
        (Type::Row(fields), Val::Row(values)) => {
            for (f, v) in fields.iter().zip(values) {
                part(out, f.ty, f.nullable, v, seconds).map_err(|e| format!(".{}{e}", f.name))?;
            }
        }
        (Type::Row(fields), Val::Null(_)) => {
            for f in fields {
                let v = if f.nullable { job::value::NULL } else { zero(f.ty) };
                part(out, f.ty, f.nullable, &v, seconds).map_err(|e| format!(".{}{e}", f.name))?;
            }
        }
        (ty, other) => return Err(format!(": a {other:?} where the sink declares {ty}")),
    }
    Ok(())
}

/// Field `k` of every entry of a map (0 the key, 1 the value) or of every element of an array of rows, as one
/// array: 18.16's split of an `Array(Tuple(…))` column ([`Part::Sub`]; timestamps are whole seconds there).
fn split(out: &mut Vec<u8>, ty: Type, v: &Val<'_>, k: usize) -> Result<(), String> {
    match (ty, v) {
        (Type::Map(_) | Type::Array(_), Val::Null(_)) => varuint(out, 0),
        (Type::Map(value), Val::Map(entries)) => {
            varuint(out, entries.len());
            for (key, v) in entries {
                let key = key.as_str().unwrap_or_default();
                if k == 0 {
                    string(out, key);
                } else {
                    part(out, value.ty, value.nullable, v, true).map_err(|e| format!("['{key}']{e}"))?;
                }
            }
        }
        (Type::Array(elem), Val::Array(items)) => {
            let Type::Row(fields) = elem.ty else { return Err(format!(": a {ty} is not split")) };
            let f = &fields[k];
            varuint(out, items.len());
            for (i, item) in items.iter().enumerate() {
                let v = match item {
                    Val::Row(values) => values[k].clone(),
                    _ if f.nullable => job::value::NULL,
                    _ => zero(f.ty),
                };
                part(out, f.ty, f.nullable, &v, true).map_err(|e| format!("[{}].{}{e}", i + 1, f.name))?;
            }
        }
        (ty, other) => return Err(format!(": a {other:?} where the sink declares {ty}")),
    }
    Ok(())
}

/// One part of a nested value: `Nullable` unless declared NOT NULL (or nested itself).
fn part(out: &mut Vec<u8>, ty: Type, nullable: bool, v: &Val<'_>, seconds: bool) -> Result<(), String> {
    if ty.is_nested() {
        return nested(out, ty, v, seconds);
    }
    if nullable {
        if v.is_null() {
            out.push(1);
            return Ok(());
        }
        out.push(0);
    } else if v.is_null() {
        return Err(": NULL in a NOT NULL part".into());
    }
    let how = if seconds { Part::Seconds } else { Part::Value };
    scalar(out, ty, v, how).map_err(|e| format!(": {e}"))
}

/// The zero of a scalar type, as ClickHouse's default for a column of it.
fn zero(ty: Type) -> Val<'static> {
    match ty {
        Type::String => Val::Str("".into()),
        Type::Bytes => Val::Bytes(Vec::new().into()),
        Type::Boolean => Val::Bool(false),
        Type::Float | Type::Double => Val::Double(0.0),
        Type::Decimal(_, s) => Val::Dec(0, s),
        Type::Date => Val::Date(0),
        Type::Timestamp(_) | Type::TimestampLtz(_) => Val::Ts(0),
        t if t.is_integer() => Val::Int(0),
        _ => job::value::NULL,
    }
}

/// An unsigned LEB128 number (RowBinary's lengths).
fn varuint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// DateTime64's range, 1900-01-01 to 2299-12-31 (UTC), in epoch milliseconds.
const DATETIME64_MIN_MS: i64 = -2_208_988_800_000;
const DATETIME64_MAX_MS: i64 = 10_413_791_999_999;

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

    /// Reads one RowBinary row of `columns` from `bytes` by the declared types; returns each column's value as text
    /// and the bytes left. Panics on a type it does not know or on too few bytes.
    fn read_row<'a>(columns: &[(&str, &str)], mut bytes: &'a [u8]) -> (Vec<(String, String)>, &'a [u8]) {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> &'a [u8] {
            let (head, rest) = bytes.split_at(n);
            *bytes = rest;
            head
        }
        fn value(ty: &str, bytes: &mut &[u8]) -> String {
            if let Some(inner) = ty.strip_prefix("Nullable(").and_then(|t| t.strip_suffix(')')) {
                return if take(bytes, 1)[0] == 1 { "NULL".into() } else { value(inner, bytes) };
            }
            let le = |b: &[u8]| b.iter().rev().fold(0u64, |n, &x| n << 8 | u64::from(x));
            match ty {
                "String" => {
                    let (mut n, mut shift) = (0usize, 0);
                    loop {
                        let b = take(bytes, 1)[0];
                        n |= usize::from(b & 0x7f) << shift;
                        shift += 7;
                        if b < 0x80 {
                            break;
                        }
                    }
                    String::from_utf8(take(bytes, n).to_vec()).expect("UTF-8")
                }
                "UUID" => format!("{:016x}{:016x}", le(take(bytes, 8)), le(take(bytes, 8))),
                "UInt16" => le(take(bytes, 2)).to_string(),
                "Int32" => (le(take(bytes, 4)) as i32).to_string(),
                "UInt32" | "DateTime('UTC')" => le(take(bytes, 4)).to_string(),
                "Int64" => (le(take(bytes, 8)) as i64).to_string(),
                "UInt64" => le(take(bytes, 8)).to_string(),
                "Float64" => f64::from_bits(le(take(bytes, 8))).to_string(),
                other => panic!("a column type the test does not read: {other}"),
            }
        }
        let row = columns.iter().map(|(c, ty)| (c.to_string(), value(ty, &mut bytes))).collect();
        (row, bytes)
    }

    #[test]
    fn rows_read_back_by_the_declared_columns() {
        let raw = br#"{"user_id":"u1","timestamp":"2024-05-01 10:00:00.250","amount":12.5,"url":"/a"}"#;
        /// Each row of the job, as RowBinary inserted at `.1`.
        struct Rows(Vec<u8>, u32);
        impl job::Emit for Rows {
            fn row(&mut self, _sink: usize, row: Row<'_>) -> Result<u64, MapError> {
                write_event(&mut self.0, &row, self.1).map(|()| 0)
            }
            fn dead_letter(&mut self, _sink: Option<usize>, err: MapError) {
                panic!("dead-lettered: {err}")
            }
            fn dropped(&mut self, _sink: usize) {
                panic!("dropped")
            }
        }
        let plan = job::Plan::new(job::DEFAULT_JOB_NAME, job::DEFAULT_JOB).unwrap();
        check_job(&plan).expect("the default job is what the direct sink stores");
        let rec = job::Record {
            topic: "orders",
            partition: 2,
            offset: 9,
            timestamp_ms: 0,
            key: None,
            value: Some(raw),
            headers: None,
        };
        let mut rows = Rows(Vec::new(), 7);
        plan.map(0, &rec, 1 << 20, 0, &mut rows);
        rows.1 = 8;
        plan.map(0, &rec, 1 << 20, 0, &mut rows);
        let out = rows.0;
        let event_columns = columns(&contract::record::EVENTS);
        let (first, rest) = read_row(&event_columns, &out);
        let (second, rest) = read_row(&event_columns, rest);
        assert!(rest.is_empty(), "bytes left over: the writer writes more than the declared columns");
        let get = |row: &[(String, String)], c: &str| row.iter().find(|(n, _)| n == c).expect(c).1.clone();
        assert_eq!(get(&first, "event_id"), contract::id::event_id("orders", raw).replace('-', ""));
        assert_eq!(get(&first, "event_type"), "ORDERS");
        assert_eq!(get(&first, "event_timestamp"), "1714557600");
        assert_eq!(get(&first, "event_timestamp_ms"), "250");
        assert_eq!(get(&first, "details"), "/a | 12.5");
        assert_eq!(get(&first, "amount"), "12.5");
        assert_eq!(get(&first, "order_id"), "NULL");
        assert_eq!((get(&first, "source_partition"), get(&first, "source_offset")), ("2".into(), "9".into()));
        assert_eq!((get(&first, "inserted_at"), get(&second, "inserted_at")), ("7".into(), "8".into()));

        let letter = DeadLetter {
            source_topic: "orders".into(),
            source_partition: 1,
            source_offset: 5,
            reason: "invalid_json".into(),
            error: "expected value".into(),
            raw: "nope".into(),
            raw_size: 4,
            failed_at_ms: 1_714_557_600_999,
        };
        let mut out = Vec::new();
        write_dead_letter(&mut out, &letter, 9);
        let (row, rest) = read_row(&columns(&contract::record::DEAD_LETTERS), &out);
        assert!(rest.is_empty(), "bytes left over in the dead letter");
        let row: Vec<(&str, &str)> = row.iter().map(|(c, v)| (c.as_str(), v.as_str())).collect();
        assert_eq!(
            row,
            [
                ("source_topic", "orders"),
                ("source_partition", "1"),
                ("source_offset", "5"),
                ("reason", "invalid_json"),
                ("error", "expected value"),
                ("raw", "nope"),
                ("raw_size", "4"),
                ("failed_at", "1714557600"),
                ("inserted_at", "9"),
            ]
        );
    }

    /// A job's row as the RowBinary of its table's columns, on both ClickHouse versions, byte by byte.
    #[test]
    fn a_job_row_of_every_type_is_clickhouses_rowbinary() {
        use contract::sql::ClickHouseVersion::{Current, V18};
        let plan = job::Plan::new(
            "t.sql",
            "CREATE TABLE src (s STRING, dt STRING, ts STRING) WITH ('connector' = 'kafka', 'topic' = 't', 'format' = 'json');
             CREATE TABLE out (s STRING NOT NULL, b BOOLEAN, t TINYINT, m DECIMAL(10, 3) NOT NULL, d DECIMAL(4, 1),
               ts TIMESTAMP(3) NOT NULL, ts6 TIMESTAMP(6) NOT NULL, dt DATE NOT NULL, n BIGINT)
               WITH ('connector' = 'clickhouse');
             INSERT INTO out SELECT s, TRUE, CAST(5 AS TINYINT), CAST(1.5 AS DECIMAL(10, 3)), CAST(2.5 AS DECIMAL(4, 1)),
               TO_TIMESTAMP(ts), TO_TIMESTAMP(ts), TO_DATE(dt), CAST(NULL AS BIGINT) FROM src;",
        )
        .unwrap();
        /// The row's RowBinary for the table's columns on `version`.
        struct Body(Vec<u8>, contract::sql::ClickHouseVersion);
        impl job::Emit for Body {
            fn row(&mut self, _sink: usize, row: Row<'_>) -> Result<u64, MapError> {
                let columns = job::ddl::columns(row.sink, self.1);
                write_job_row(&mut self.0, &columns, &row).map(|()| 0)
            }
            fn dead_letter(&mut self, _sink: Option<usize>, err: MapError) {
                self.0.extend_from_slice(err.to_string().as_bytes());
            }
            fn dropped(&mut self, _sink: usize) {
                panic!("dropped")
            }
        }
        let body = |raw: &[u8], version| {
            let rec = job::Record {
                topic: "t",
                partition: 0,
                offset: 0,
                timestamp_ms: 0,
                key: None,
                value: Some(raw),
                headers: None,
            };
            let mut b = Body(Vec::new(), version);
            plan.map(0, &rec, 1 << 20, 0, &mut b);
            b.0
        };
        let raw = br#"{"s":"ab","dt":"2024-05-01","ts":"2024-05-01 10:00:00.25"}"#;
        let ms: i64 = 1_714_557_600_250;
        let mut head = vec![2, b'a', b'b', 0, 1, 0, 5];
        head.extend_from_slice(&1500i64.to_le_bytes()); // DECIMAL(10, 3): 64 bits, three decimals
        head.extend_from_slice(&[0]);
        head.extend_from_slice(&25i32.to_le_bytes()); // DECIMAL(4, 1): 32 bits
        let tail = |v: &mut Vec<u8>| {
            v.extend_from_slice(&19_844u16.to_le_bytes()); // 2024-05-01, days since 1970
            v.push(1); // NULL
        };
        let mut current = head.clone();
        current.extend_from_slice(&ms.to_le_bytes()); // DateTime64(3)
        current.extend_from_slice(&(ms * 1000).to_le_bytes()); // DateTime64(6)
        tail(&mut current);
        assert_eq!(body(raw, Current), current);
        let mut v18 = head;
        for _ in 0..2 {
            v18.extend_from_slice(&1_714_557_600u32.to_le_bytes()); // DateTime
            v18.extend_from_slice(&250u16.to_le_bytes()); // and its milliseconds
        }
        tail(&mut v18);
        assert_eq!(body(raw, V18), v18);
        // A date ClickHouse's Date cannot hold: the row is refused, naming the column.
        let old = body(br#"{"s":"ab","dt":"1969-12-31","ts":"2024-05-01 10:00:00"}"#, V18);
        let text = String::from_utf8_lossy(&old);
        assert!(text.contains("the column dt of out") && text.contains("ClickHouse's Date"), "{text}");
    }

    /// Nested values as RowBinary, byte by byte: Array, Map (18.16: Array(Tuple), the same bytes), Tuple; NULLs
    /// inside as Nullable parts, a NULL array empty and a NULL row as its fields' NULLs and zeros; a part that does
    /// not fit is refused naming the column and the part.
    #[test]
    fn nested_values_are_clickhouses_rowbinary() {
        use contract::sql::ClickHouseVersion::{Current, V18};
        let plan = job::Plan::new(
            "t.sql",
            "CREATE TABLE src (tags ARRAY<STRING>, m MAP<STRING, INT>, r ROW<a INT NOT NULL, s STRING>,
                 seen ARRAY<TIMESTAMP(3)>, days ARRAY<DATE>)
               WITH ('connector' = 'kafka', 'topic' = 't', 'format' = 'json');
             CREATE TABLE out (tags ARRAY<STRING>, m MAP<STRING, INT>, r ROW<a INT NOT NULL, s STRING>,
                 seen ARRAY<TIMESTAMP(3)>, days ARRAY<DATE>)
               WITH ('connector' = 'clickhouse');
             INSERT INTO out SELECT * FROM src;",
        )
        .unwrap();
        let sink = &plan.sinks[0];
        let types: Vec<String> = job::ddl::columns(sink, Current).into_iter().map(|c| c.ty).collect();
        assert_eq!(
            types,
            [
                "Array(Nullable(String))",
                "Map(String, Nullable(Int32))",
                "Tuple(`a` Int32, `s` Nullable(String))",
                "Array(Nullable(DateTime64(3, 'UTC')))",
                "Array(Nullable(Date))"
            ]
        );
        let types: Vec<String> = job::ddl::columns(sink, V18).into_iter().map(|c| c.ty).collect();
        assert_eq!(
            types,
            [
                "Array(Nullable(String))",
                "Array(String)",          // m.key
                "Array(Nullable(Int32))", // m.value
                "Tuple(Int32, Nullable(String))",
                "Array(Nullable(DateTime('UTC')))",
                "Array(Nullable(Date))"
            ]
        );
        struct Body(Vec<u8>, contract::sql::ClickHouseVersion);
        impl job::Emit for Body {
            fn row(&mut self, _sink: usize, row: Row<'_>) -> Result<u64, MapError> {
                let columns = job::ddl::columns(row.sink, self.1);
                write_job_row(&mut self.0, &columns, &row).map(|()| 0)
            }
            fn dead_letter(&mut self, _sink: Option<usize>, err: MapError) {
                self.0.extend_from_slice(err.to_string().as_bytes());
            }
            fn dropped(&mut self, _sink: usize) {
                panic!("dropped")
            }
        }
        let body = |raw: &str, version| {
            let rec = job::Record {
                topic: "t",
                partition: 0,
                offset: 0,
                timestamp_ms: 0,
                key: None,
                value: Some(raw.as_bytes()),
                headers: None,
            };
            let mut b = Body(Vec::new(), version);
            plan.map(0, &rec, 1 << 20, 0, &mut b);
            b.0
        };
        let raw = r#"{"tags": ["ab", null], "m": {"k": 5}, "r": {"a": 1, "s": "x"},
            "seen": ["2024-05-01 10:00:00.25"], "days": ["2024-05-01"]}"#;
        let ms: i64 = 1_714_557_600_250;
        let head = |v: &mut Vec<u8>, version| {
            v.extend_from_slice(&[2, 0, 2, b'a', b'b', 1]); // two elements: "ab", NULL
            if version == Current {
                v.extend_from_slice(&[1, 1, b'k', 0]); // one entry: "k" => 5
            } else {
                v.extend_from_slice(&[1, 1, b'k', 1, 0]); // 18.16: the keys ["k"], then the values [5]
            }
            v.extend_from_slice(&5i32.to_le_bytes());
            v.extend_from_slice(&1i32.to_le_bytes()); // (1, "x")
            v.extend_from_slice(&[0, 1, b'x']);
            v.extend_from_slice(&[1, 0]); // one timestamp, not NULL
        };
        let tail = |v: &mut Vec<u8>| {
            v.extend_from_slice(&[1, 0]);
            v.extend_from_slice(&19_844u16.to_le_bytes());
        };
        let mut current = Vec::new();
        head(&mut current, Current);
        current.extend_from_slice(&ms.to_le_bytes());
        tail(&mut current);
        assert_eq!(body(raw, Current), current);
        let mut v18 = Vec::new();
        head(&mut v18, V18);
        v18.extend_from_slice(&1_714_557_600u32.to_le_bytes()); // whole seconds in 18.16's DateTime
        tail(&mut v18);
        assert_eq!(body(raw, V18), v18);
        // NULLs: an empty array and map, a row of NULL and zero.
        let mut nulls = vec![0, 0];
        nulls.extend_from_slice(&0i32.to_le_bytes());
        nulls.extend_from_slice(&[1, 0, 0]);
        assert_eq!(body("{}", Current), nulls);
        // A part that does not fit: the row is refused, naming the column and the part.
        let old = String::from_utf8_lossy(&body(r#"{"days": ["2024-05-01", "1969-12-31"]}"#, Current)).into_owned();
        assert!(old.contains("the column days of out") && old.contains("[2]: outside 1970-01-01"), "{old}");
        let null_a = String::from_utf8_lossy(&body(r#"{"r": {"s": "x"}}"#, Current)).into_owned();
        assert!(null_a.contains(".a: NULL in a NOT NULL part"), "{null_a}");
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
}
