//! How the original job's JSON format reads a value into the type its source table declares: Flink's streaming
//! JSON reader (`JsonParserToRowDataConverters`, the default since Flink 1.19) on Jackson. Pure functions of one
//! field's raw JSON text, which serde_json has already checked.
//!
//! - STRING takes a string as it is, a number as the text it was written with (`7`, `1.50`, `1e3`), a boolean as
//!   `true`/`false`, and an object or array as Jackson's compact JSON text of it ([`tree_text`]).
//! - BIGINT takes an integer, a float truncated toward zero (`12.7` → 12) when it lies within ±2^63, and a string
//!   that Java's `Long.parseLong` reads once trimmed (`" 45 "` → 45, `"+45"` → 45).
//! - DOUBLE takes a number (an integer read as its decimal text) and a string that Java's `Double.parseDouble`
//!   reads (`"12.50"`, `"1e3"`, `"12.5d"`).
//!
//! - INT, SMALLINT, TINYINT read as BIGINT does, then must fit (Jackson's `getIntValue` refuses what does not).
//! - BOOLEAN takes `true`/`false`, and any other scalar as Java's `Boolean.parseBoolean` of its trimmed text
//!   (`"TRUE"` → true, `"yes"` → false, `1` → false).
//! - DECIMAL(p, s) takes a number or a string Java's `BigDecimal` reads, rounded half up to s decimals; a value
//!   with more than p digits is NULL (Flink's `DecimalData.fromBigDecimal`).
//! - TIMESTAMP takes a string `yyyy-MM-dd HH:mm:ss[.fraction]` (the format's SQL standard, fixed widths), DATE a
//!   string `yyyy-MM-dd`; BYTES takes a base64 string.
//!
//! Anything else fails the Flink job; here it is a [`Refusal`], which the mapping turns into a dead letter.

use std::borrow::Cow;

use crate::raw::Raw;

use crate::types::Type;
use crate::value::Val;

/// Why a value could not be read as the declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The value's JSON kind cannot become the type (`got` names the kind).
    Kind(&'static str),
    /// A number or numeric string that does not fit or does not parse (the text, cut to 64 characters).
    Number(String),
    /// A string serde_json cannot decode: a lone UTF-16 surrogate escape, which UTF-8 cannot carry.
    LoneSurrogate,
    /// A string that is not in the form the type needs (what it needs, and the text cut to 64 characters).
    Text(&'static str, String),
    /// A ROW's field absent under `json.fail-on-missing-field` (inside an [`Refusal::Inside`]).
    Missing,
    /// A part of a nested value (`[2]`, `['key']`, `.field`, as a path from its parent), of this type, refused
    /// for this reason.
    Inside(String, Type, Box<Refusal>),
}

/// `raw` as a value of the scalar type `ty`: `None` for null. (Nested types: [`crate::nested::read`].) Inlined
/// into the mapping's field reader, as it was written there before nested types.
#[inline(always)]
pub(crate) fn scalar<'a>(raw: Raw<'a>, ty: Type) -> Result<Option<Val<'a>>, Refusal> {
    match ty {
        Type::String => string(raw).map(|v| v.map(Val::Str)),
        Type::BigInt => bigint(raw).map(|v| v.map(Val::Int)),
        Type::Int => int(raw, 32).map(|v| v.map(Val::Int)),
        Type::SmallInt => int(raw, 16).map(|v| v.map(Val::Int)),
        Type::TinyInt => int(raw, 8).map(|v| v.map(Val::Int)),
        Type::Double => double(raw).map(|v| v.map(Val::Double)),
        Type::Float => double(raw).map(|v| v.map(|x| Val::Double(f64::from(x as f32)))),
        Type::Boolean => boolean(raw).map(|v| v.map(Val::Bool)),
        Type::Decimal(p, s) => decimal(raw, p, s).map(|v| v.map(|x| Val::Dec(x, s))),
        Type::Timestamp(_) | Type::TimestampLtz(_) => timestamp(raw).map(|v| v.map(Val::Ts)),
        Type::Date => date(raw).map(|v| v.map(Val::Date)),
        Type::Bytes => bytes(raw).map(|v| v.map(|b| Val::Bytes(Cow::Owned(b)))),
        Type::Null => Ok(None),
        Type::Array(_) | Type::Map(_) | Type::Row(_) => unreachable!("nested types are read by crate::nested"),
    }
}

/// One raw JSON value, by kind.
enum Json<'a> {
    Null,
    Bool(bool),
    /// A number, as written; `integer` when it has no fraction and no exponent.
    Number {
        text: &'a str,
        integer: bool,
    },
    String(Cow<'a, str>),
    /// An object or an array, as written.
    Container(&'a str),
}

fn classify<'a>(raw: Raw<'a>) -> Result<Json<'a>, Refusal> {
    let text = raw.get();
    Ok(match text.as_bytes()[0] {
        b'n' => Json::Null,
        b't' => Json::Bool(true),
        b'f' => Json::Bool(false),
        b'"' if raw.may_have_escapes() => Json::String(decode_string(text)?),
        b'"' => Json::String(Cow::Borrowed(&text[1..text.len() - 1])),
        b'{' | b'[' => Json::Container(text),
        _ => Json::Number { text, integer: !text.contains(['.', 'e', 'E']) },
    })
}

/// The contents of a JSON string literal (checked by serde_json): borrowed when it has no escapes.
fn decode_string(literal: &str) -> Result<Cow<'_, str>, Refusal> {
    if !literal.contains('\\') {
        return Ok(Cow::Borrowed(&literal[1..literal.len() - 1]));
    }
    serde_json::from_str::<String>(literal).map(Cow::Owned).map_err(|_| Refusal::LoneSurrogate)
}

/// A STRING column: `None` for null.
pub fn string<'a>(raw: Raw<'a>) -> Result<Option<Cow<'a, str>>, Refusal> {
    Ok(match classify(raw)? {
        Json::Null => None,
        Json::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
        Json::Number { text, .. } => Some(Cow::Borrowed(text)),
        Json::String(s) => Some(s),
        Json::Container(text) => Some(Cow::Owned(tree_text(text)?)),
    })
}

/// A BIGINT column: `None` for null.
pub fn bigint(raw: Raw<'_>) -> Result<Option<i64>, Refusal> {
    Ok(match classify(raw)? {
        Json::Null => None,
        Json::Number { text, integer: true } => Some(text.parse().map_err(|_| number(text))?),
        Json::Number { text, integer: false } => {
            // Jackson's getLongValue: the double, if within [Long.MIN_VALUE, Long.MAX_VALUE] as doubles, then cast.
            let x: f64 = text.parse().map_err(|_| number(text))?;
            const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
            if !(-TWO_POW_63..=TWO_POW_63).contains(&x) {
                return Err(number(text));
            }
            Some(x as i64)
        }
        Json::String(s) => Some(parse_long(&s).ok_or_else(|| number(&s))?),
        Json::Bool(_) | Json::Container(_) => return Err(Refusal::Kind(kind(raw))),
    })
}

/// A DOUBLE column: `None` for null. A value that reads as NaN or an infinity is refused too: the unified record is
/// JSON, which cannot carry it.
pub fn double(raw: Raw<'_>) -> Result<Option<f64>, Refusal> {
    let x = match classify(raw)? {
        Json::Null => return Ok(None),
        Json::Number { text, .. } => text.parse::<f64>().map_err(|_| number(text))?,
        Json::String(s) => parse_double(&s).ok_or_else(|| number(&s))?,
        Json::Bool(_) | Json::Container(_) => return Err(Refusal::Kind(kind(raw))),
    };
    if !x.is_finite() {
        return Err(number(raw.get()));
    }
    Ok(Some(x))
}

/// An INT (or SMALLINT, TINYINT: `bits` 32, 16, 8) column: [`bigint`], then the value must fit.
pub fn int(raw: Raw<'_>, bits: u32) -> Result<Option<i64>, Refusal> {
    let n = bigint(raw)?;
    let (min, max) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
    match n {
        Some(v) if !(min..=max).contains(&v) => Err(number(raw.get().trim_matches('"'))),
        other => Ok(other),
    }
}

/// A BOOLEAN column: `None` for null.
pub fn boolean(raw: Raw<'_>) -> Result<Option<bool>, Refusal> {
    Ok(match classify(raw)? {
        Json::Null => None,
        Json::Bool(b) => Some(b),
        Json::Number { text, .. } => Some(java_trim(text).eq_ignore_ascii_case("true")),
        Json::String(s) => Some(java_trim(&s).eq_ignore_ascii_case("true")),
        Json::Container(_) => return Err(Refusal::Kind(kind(raw))),
    })
}

/// A DECIMAL(precision, scale) column: the unscaled value, `None` for null and for a value too wide for
/// `precision` (Flink gives NULL there).
pub fn decimal(raw: Raw<'_>, precision: u8, scale: u8) -> Result<Option<i128>, Refusal> {
    let text = match classify(raw)? {
        Json::Null => return Ok(None),
        Json::Number { text, .. } => Cow::Borrowed(text),
        Json::String(s) => s,
        Json::Bool(_) | Json::Container(_) => return Err(Refusal::Kind(kind(raw))),
    };
    // Java's BigDecimal(String) takes no spaces and no `d`/`f` suffix; Flink trims the text first.
    let t = java_trim(&text);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E')) {
        return Err(number(t));
    }
    let v = crate::value::parse_decimal(t, scale).ok_or_else(|| number(t))?;
    Ok(crate::value::fits(v, precision).then_some(v))
}

/// A TIMESTAMP column, epoch milliseconds: `None` for null.
pub fn timestamp(raw: Raw<'_>) -> Result<Option<i64>, Refusal> {
    match classify(raw)? {
        Json::Null => Ok(None),
        Json::String(s) => crate::func::time::parse_sql_timestamp(&s)
            .map(Some)
            .ok_or_else(|| Refusal::Text("a timestamp 'yyyy-MM-dd HH:mm:ss[.fraction]'", cut(&s))),
        _ => Err(Refusal::Kind(kind(raw))),
    }
}

/// A DATE column, days since 1970-01-01: `None` for null.
pub fn date(raw: Raw<'_>) -> Result<Option<i32>, Refusal> {
    match classify(raw)? {
        Json::Null => Ok(None),
        Json::String(s) => {
            crate::func::time::parse_iso_date(&s).map(Some).ok_or_else(|| Refusal::Text("a date 'yyyy-MM-dd'", cut(&s)))
        }
        _ => Err(Refusal::Kind(kind(raw))),
    }
}

/// A BYTES column: the base64 string decoded (Jackson's `getBinaryValue`), `None` for null.
pub fn bytes(raw: Raw<'_>) -> Result<Option<Vec<u8>>, Refusal> {
    use base64::Engine;
    match classify(raw)? {
        Json::Null => Ok(None),
        Json::String(s) => base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Some)
            .map_err(|_| Refusal::Text("base64 text", cut(&s))),
        _ => Err(Refusal::Kind(kind(raw))),
    }
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A raw value's JSON kind, as error messages name it.
pub fn kind(raw: Raw<'_>) -> &'static str {
    match raw.get().as_bytes()[0] {
        b'n' => "null",
        b't' | b'f' => "a boolean",
        b'"' => "a string",
        b'{' => "an object",
        b'[' => "an array",
        _ => "a number",
    }
}

fn number(text: &str) -> Refusal {
    Refusal::Number(text.chars().take(64).collect())
}

/// Java's `String.trim`: every character up to U+0020 off both ends.
pub fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Java's `Long.parseLong(s.trim())`: an optional sign and decimal digits, within i64. (Java also takes non-ASCII
/// decimal digits such as `٤٥`; this does not: the README lists it among the differences.)
pub fn parse_long(s: &str) -> Option<i64> {
    let t = java_trim(s);
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rust's parser takes the same forms: a leading `+` or `-`, then digits.
    t.parse().ok()
}

/// Java's `Double.parseDouble`: trimmed, an optional sign, then `NaN`, `Infinity`, or decimal digits with an
/// optional point and exponent and an optional type suffix (`f`, `F`, `d`, `D`; the value is read as a double
/// either way). Hexadecimal floating-point text (`0x1p3`) is not read here (a listed difference).
pub fn parse_double(s: &str) -> Option<f64> {
    let t = java_trim(s);
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    match body {
        "NaN" => return Some(f64::NAN),
        "Infinity" => return Some(sign * f64::INFINITY),
        _ => {}
    }
    let body = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
    let b = body.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(&b[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&b[i..]);
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = count_digits(&b[i..]);
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != b.len() {
        return None;
    }
    // Every form checked above is one Rust's exact parser reads (`1.`, `.5`, `1e5`).
    body.parse::<f64>().ok().map(|x| sign * x)
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// Jackson's `JsonNode.toString()` of an object or array read into a tree: compact JSON; a repeated key keeps its
/// first place and its last value; integers as their digits (`-0` as `0`); floats as Java's `Double.toString`
/// (`2.50` → `2.5`, `1e3` → `1000.0`, and a float too large for a double as the string `"Infinity"`); strings
/// re-escaped as Jackson writes them (`\n`, `\t`, `\b`, `\f`, `\r`, and `\u00XX` in upper case for the other
/// control characters; nothing else).
pub fn tree_text(text: &str) -> Result<String, Refusal> {
    let mut p = Tree { b: text.as_bytes(), text, i: 0 };
    let node = p.value()?;
    let mut out = String::with_capacity(text.len());
    node.write(&mut out);
    Ok(out)
}

/// A JSON value as Jackson's tree holds it.
enum Node {
    Null,
    Bool(bool),
    /// An integer's digits, as Jackson prints its IntNode, LongNode or BigIntegerNode.
    Int(String),
    Float(f64),
    Str(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    fn write(&self, out: &mut String) {
        match self {
            Node::Null => out.push_str("null"),
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Int(digits) => out.push_str(digits),
            Node::Float(x) if x.is_finite() => out.push_str(&crate::value::java_double(*x)),
            // JsonWriteFeature.WRITE_NAN_AS_STRINGS, on by default.
            Node::Float(x) => write_jackson_string(out, &crate::value::java_double(*x)),
            Node::Str(s) => write_jackson_string(out, s),
            Node::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Node::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_jackson_string(out, key);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string as Jackson's generator writes it.
fn write_jackson_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A reader of JSON text that serde_json has already checked, so it only needs to tell tokens apart.
struct Tree<'a> {
    b: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Tree<'_> {
    fn skip_ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Node, Refusal> {
        self.skip_ws();
        let node = match self.b[self.i] {
            b'{' => {
                self.i += 1;
                let mut fields: Vec<(String, Node)> = Vec::new();
                loop {
                    self.skip_ws();
                    match self.b[self.i] {
                        b'}' => break,
                        b',' => self.i += 1,
                        _ => {
                            let key = self.string()?;
                            self.skip_ws();
                            self.i += 1; // ':'
                            let value = self.value()?;
                            match fields.iter_mut().find(|(k, _)| *k == key) {
                                Some(slot) => slot.1 = value,
                                None => fields.push((key, value)),
                            }
                        }
                    }
                }
                self.i += 1;
                Node::Object(fields)
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.b[self.i] {
                        b']' => break,
                        b',' => self.i += 1,
                        _ => items.push(self.value()?),
                    }
                }
                self.i += 1;
                Node::Array(items)
            }
            b'"' => Node::Str(self.string()?),
            b't' => self.word(4, Node::Bool(true)),
            b'f' => self.word(5, Node::Bool(false)),
            b'n' => self.word(4, Node::Null),
            _ => self.number(),
        };
        Ok(node)
    }

    fn word(&mut self, len: usize, node: Node) -> Node {
        self.i += len;
        node
    }

    fn string(&mut self) -> Result<String, Refusal> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => break,
                _ => self.i += 1,
            }
        }
        self.i += 1;
        decode_string(&self.text[start..self.i]).map(Cow::into_owned)
    }

    fn number(&mut self) -> Node {
        let start = self.i;
        while matches!(self.b.get(self.i), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
            self.i += 1;
        }
        let text = &self.text[start..self.i];
        if text.contains(['.', 'e', 'E']) {
            Node::Float(text.parse().expect("serde_json checked the number"))
        } else if text.bytes().all(|c| c == b'-' || c == b'0') {
            Node::Int("0".into())
        } else {
            Node::Int(text.into())
        }
    }
}

/// Flink reads JSON with Jackson's ALLOW_UNESCAPED_CONTROL_CHARS: a raw control character inside a string is
/// taken as that character. serde_json refuses it, so a record that has some is read again from a copy with those
/// characters escaped. `None` when there is nothing to escape.
pub fn escape_raw_control_chars(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped, mut changed) = (false, false, false);
    for c in text.chars() {
        if in_string && !escaped && c < ' ' {
            out.push_str(&format!("\\u{:04x}", c as u32));
            changed = true;
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Raw<'_> {
        Raw::new(s)
    }

    #[test]
    fn strings_take_numbers_booleans_and_containers_as_text() {
        let s = |t: &str| string(raw(t)).unwrap().map(Cow::into_owned);
        assert_eq!(s("7"), Some("7".into()));
        assert_eq!(s("1.50"), Some("1.50".into()));
        assert_eq!(s("-0"), Some("-0".into()));
        assert_eq!(s("true"), Some("true".into()));
        assert_eq!(s("null"), None);
        assert_eq!(s(r#""a\nb""#), Some("a\nb".into()));
        assert_eq!(
            s(r#" { "b" : [1, 2.50, -0, 1e3, "x\u0001\n/"], "a": null, "b": 2 } "#.trim()),
            Some(r#"{"b":2,"a":null}"#.into())
        );
        assert_eq!(
            s(r#"[1, 2.50, -0, 1e3, 1E400, "x\u0001\n\/é", 123456789012345678901234567890]"#),
            Some(r#"[1,2.5,0,1000.0,"Infinity","x\u0001\n/é",123456789012345678901234567890]"#.into())
        );
        assert_eq!(string(raw(r#""\ud800""#)), Err(Refusal::LoneSurrogate));
    }

    #[test]
    fn bigints_truncate_floats_and_read_trimmed_strings() {
        let n = |t: &str| bigint(raw(t));
        assert_eq!(n("30"), Ok(Some(30)));
        assert_eq!(n("30.0"), Ok(Some(30)));
        assert_eq!(n("12.7"), Ok(Some(12)));
        assert_eq!(n("-12.7"), Ok(Some(-12)));
        assert_eq!(n("1e3"), Ok(Some(1000)));
        assert_eq!(n(r#""45""#), Ok(Some(45)));
        assert_eq!(n(r#"" +45\t""#), Ok(Some(45)));
        assert!(n("9.3e18").is_err());
        assert!(n("9223372036854775808").is_err());
        assert!(n(r#""45.0""#).is_err());
        assert!(n(r#""""#).is_err());
        assert_eq!(n("true"), Err(Refusal::Kind("a boolean")));
        assert_eq!(n("{}"), Err(Refusal::Kind("an object")));
        assert_eq!(n("null"), Ok(None));
    }

    #[test]
    fn doubles_read_java_text() {
        let d = |t: &str| double(raw(t));
        assert_eq!(d(r#""12.50""#), Ok(Some(12.5)));
        assert_eq!(d(r#"" 1e3 ""#), Ok(Some(1000.0)));
        assert_eq!(d(r#""12.5d""#), Ok(Some(12.5)));
        assert_eq!(d(r#""-.5F""#), Ok(Some(-0.5)));
        assert_eq!(d(r#""1.""#), Ok(Some(1.0)));
        assert_eq!(d("12"), Ok(Some(12.0)));
        assert_eq!(d("965.2603255521425"), Ok(Some(965.2603255521425)));
        for bad in [r#""NaN""#, r#""-Infinity""#, "1e400", r#""0x1p3""#, r#""1e""#, r#""." "#, r#""abc""#, "false"] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn raw_control_characters_are_escaped_only_inside_strings() {
        assert_eq!(escape_raw_control_chars("{\"a\":\"x\ty\"}\n"), Some("{\"a\":\"x\\u0009y\"}\n".into()));
        assert_eq!(escape_raw_control_chars("{\"a\":\"x\\\"\ny\"}"), Some("{\"a\":\"x\\\"\\u000ay\"}".into()));
        assert_eq!(escape_raw_control_chars("{\n\"a\" : 1}"), None);
    }
}
