//! Rows out, in Flink's JSON format (what Flink's `json` format writes through Jackson): columns in the sink's
//! order, `null` for NULL, strings escaped as Jackson escapes them (`\n`, `\t`, `\r`, `\b`, `\f`, `\u00XX` for other
//! control characters, characters outside the BMP as `\uXXXX\uXXXX` surrogate pairs), DOUBLE as Java's
//! `Double.toString`, DECIMAL as `BigDecimal.toString`, TIMESTAMP as `yyyy-MM-dd HH:mm:ss[.fraction]` with the
//! fraction's trailing zeros cut, TIMESTAMP_LTZ the same with a `Z`, DATE as `yyyy-MM-dd`, BYTES as base64.

use crate::bytes::push_bytes;
use crate::catalog::SinkColumn;
use crate::func::time;
use crate::types::{RowField, Type};
use crate::value::{decimal_java, push_java_double, Val};

/// Appends the row `values` of a sink's `columns` as one JSON object; `keys` are [`json_keys`] of the columns.
/// Each value comes with whether it is verbatim: a string known to need no escapes (see
/// [`crate::raw::Raw::verbatim`]), copied without looking for any.
pub fn write_json<'v>(
    keys: &[Vec<u8>],
    columns: &[SinkColumn],
    values: impl IntoIterator<Item = (&'v Val<'v>, bool)>,
    out: &mut Vec<u8>,
) {
    for ((key, col), (v, verbatim)) in keys.iter().zip(columns).zip(values) {
        push_bytes(out, key);
        match v {
            Val::Str(s) if verbatim => {
                out.push(b'"');
                push_bytes(out, s.as_bytes());
                out.push(b'"');
            }
            v => write_scalar(col.ty, v, out),
        }
    }
    if columns.is_empty() {
        out.push(b'{');
    }
    out.push(b'}');
}

/// The `,"name":` (`{"name":` first) of each column.
pub fn json_keys(columns: &[SinkColumn]) -> Vec<Vec<u8>> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut k = Vec::new();
            k.push(if i == 0 { b'{' } else { b',' });
            push_json_string(&mut k, &c.name);
            k.push(b':');
            k
        })
        .collect()
}

/// One value as JSON.
pub fn write_value(ty: Type, v: &Val<'_>, out: &mut Vec<u8>) {
    match v {
        Val::Array(_) | Val::Map(_) | Val::Row(_) => write_nested(ty, v, out),
        scalar => write_scalar(ty, scalar, out),
    }
}

/// [`write_value`] of a value that is not nested: on every column's path, inlined there (as it was before nested
/// values; the writer's cost per record depends on it, BENCHMARKS.md).
#[inline(always)]
fn write_scalar(ty: Type, v: &Val<'_>, out: &mut Vec<u8>) {
    match v {
        Val::Null(_) => out.extend_from_slice(b"null"),
        Val::Str(s) => push_json_string(out, s),
        Val::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Val::Int(n) => push_bytes(out, itoa::Buffer::new().format(*n).as_bytes()),
        Val::Double(x) => {
            let mut s = String::with_capacity(24);
            if ty == Type::Float {
                s = crate::value::java_float(*x as f32);
            } else {
                push_java_double(&mut s, *x);
            }
            if x.is_finite() {
                out.extend_from_slice(s.as_bytes());
            } else {
                // Jackson's WRITE_NAN_AS_STRINGS, on by default.
                push_json_string(out, &s);
            }
        }
        Val::Dec(x, s) => out.extend_from_slice(decimal_java(*x, *s).as_bytes()),
        Val::Ts(ms) => {
            out.push(b'"');
            if (YEAR_1..=YEAR_9999_END).contains(ms) {
                let (text, len) = contract::time::format_flink_ascii(*ms);
                push_bytes(out, &text[..len]);
            } else {
                let mut s = String::new();
                time::format_timestamp(*ms, 3, true, &mut s);
                out.extend_from_slice(s.as_bytes());
            }
            if matches!(ty, Type::TimestampLtz(_)) {
                out.push(b'Z');
            }
            out.push(b'"');
        }
        Val::Date(d) => {
            let mut s = String::with_capacity(12);
            time::format_date(*d, &mut s);
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
        Val::Bytes(b) => {
            use base64::Engine;
            out.push(b'"');
            out.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(b).as_bytes());
            out.push(b'"');
        }
        // Nested values are written by write_nested.
        Val::Array(_) | Val::Map(_) | Val::Row(_) => write_nested(ty, v, out),
    }
}

/// [`write_value`] of a nested value: an ARRAY as a JSON array, a MAP as an object of its entries, a ROW as an
/// object of its declared fields. Out of line: it recurses (through [`write_value`]), and the scalars' writer on
/// every column's path must stay free of recursion to be inlined.
#[inline(never)]
fn write_nested(ty: Type, v: &Val<'_>, out: &mut Vec<u8>) {
    match v {
        Val::Array(items) => {
            let elem = match ty {
                Type::Array(e) => e.ty,
                _ => Type::Null,
            };
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(elem, item, out);
            }
            out.push(b']');
        }
        Val::Map(entries) => {
            let value = match ty {
                Type::Map(e) => e.ty,
                _ => Type::Null,
            };
            out.push(b'{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Keys are STRING; written as text whatever they hold.
                match k {
                    Val::Str(s) => push_json_string(out, s),
                    other => push_json_string(out, &crate::func::cast::to_string(other.clone(), Type::String)),
                }
                out.push(b':');
                write_value(value, v, out);
            }
            out.push(b'}');
        }
        Val::Row(values) => {
            let fields: &[RowField] = match ty {
                Type::Row(f) => f,
                _ => &[],
            };
            out.push(b'{');
            for (i, (f, v)) in fields.iter().zip(values.iter()).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json_string(out, &f.name);
                out.push(b':');
                write_value(f.ty, v, out);
            }
            out.push(b'}');
        }
        scalar => write_scalar(ty, scalar, out),
    }
}

/// Epoch milliseconds of 0001-01-01 and of the end of 9999: the years written with four digits.
const YEAR_1: i64 = -62_135_596_800_000;
const YEAR_9999_END: i64 = 253_402_300_799_999;

/// `s` as a JSON string, escaped as Jackson escapes it.
pub fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_json_contents(out, s);
    out.push(b'"');
}

/// The inside of [`push_json_string`]: copied in one piece when nothing needs escaping (nearly always).
pub fn push_json_contents(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        push_bytes(out, s.as_bytes());
        return;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut buf = [0u8; 4];
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            c if (c as u32) < 0x20 => {
                let n = c as usize;
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[n >> 4], HEX[n & 15]]);
            }
            c if (c as u32) > 0xFFFF => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let u = *u as usize;
                    out.extend_from_slice(&[
                        b'\\',
                        b'u',
                        HEX[u >> 12],
                        HEX[(u >> 8) & 15],
                        HEX[(u >> 4) & 15],
                        HEX[u & 15],
                    ]);
                }
            }
            c => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
}

/// Whether a byte of `s` needs more than a copy: a control character, `"`, `\\`, or 0xF0.. (the first byte of a
/// character outside the BMP, written as a surrogate pair). In blocks of a fixed size the compiler turns into vector
/// compares without a loop: sixteen bytes at a time, the last block overlapping the one before it; a string shorter
/// than that in two overlapping blocks of eight, or byte by byte under eight.
fn needs_escape(s: &[u8]) -> bool {
    fn special(b: u8) -> bool {
        (b < 0x20) | (b == b'"') | (b == b'\\') | (b >= 0xF0)
    }
    fn block<const N: usize>(b: &[u8; N]) -> bool {
        b.iter().fold(false, |acc, &b| acc | special(b))
    }
    let n = s.len();
    if n < 8 {
        return s.iter().any(|&b| special(b));
    }
    if n < 16 {
        return block::<8>(s[..8].try_into().expect("eight bytes"))
            | block::<8>(s[n - 8..].try_into().expect("eight bytes"));
    }
    let mut found = false;
    let mut chunks = s.chunks_exact(16);
    for chunk in &mut chunks {
        found |= block::<16>(chunk.try_into().expect("sixteen bytes"));
    }
    if !chunks.remainder().is_empty() {
        found |= block::<16>(s[n - 16..].try_into().expect("sixteen bytes"));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> String {
        let mut out = Vec::new();
        push_json_string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    proptest::proptest! {
        /// The block-wise test finds what a byte-by-byte one finds, wherever the byte is, at any length.
        #[test]
        fn needs_escape_is_the_bytewise_test(
            s in proptest::collection::vec(0x20u8..0x7F, 0..50),
            at in 0usize..50,
            b in proptest::prelude::any::<u8>(),
        ) {
            let mut s: Vec<u8> = s.into_iter().filter(|&x| x != b'"' && x != b'\\').collect();
            proptest::prop_assert!(!needs_escape(&s));
            if !s.is_empty() {
                let at = at % s.len();
                s[at] = b;
            }
            let bytewise = s.iter().any(|&x| x < 0x20 || x == b'"' || x == b'\\' || x >= 0xF0);
            proptest::prop_assert_eq!(needs_escape(&s), bytewise);
        }
    }

    #[test]
    fn jackson_escapes() {
        assert_eq!(j("plain é"), "\"plain é\"");
        assert_eq!(j("a\"b\\c\n\t\u{1}\u{1f}/"), "\"a\\\"b\\\\c\\n\\t\\u0001\\u001F/\"");
        assert_eq!(j("😀"), "\"\\uD83D\\uDE00\"");
        let mut out = Vec::new();
        write_value(Type::BigInt, &Val::Int(i64::MIN), &mut out);
        assert_eq!(out, b"-9223372036854775808");
    }
}
