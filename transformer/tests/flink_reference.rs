//! Both jobs against an independent model of the original job's semantics (Flink 2.0's JSON format and SQL
//! functions), on records built to hit every coercion: numbers and booleans where a STRING is declared, objects and
//! arrays there too, floats and numeric strings where BIGINT or DOUBLE is declared, repeated keys, every form
//! `TO_TIMESTAMP` reads, CAST(DOUBLE AS STRING) and CONCAT_WS with NULLs. The original job.sql, unchanged, must
//! write Flink's bytes; the default job must agree on the four original fields.
//!
//! The model works on the *meaning* of each generated value (the generator knows it), never on the JSON text the
//! engine reads, and shares no code with the engine.

#[path = "support/jobs.rs"]
mod jobs;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use jobs::{one, seed_job};
use proptest::prelude::*;

fn map_record(topic: &str, value: &[u8]) -> Result<contract::processed::ProcessedEvent, job::MapError> {
    jobs::unified(topic, Some(value))
}

/// A generated JSON value, with what it means.
#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    /// An integer, written as its digits.
    Int(i64),
    /// A two-decimal number written with both decimals (`2.50`): Java's Double.toString of it is known exactly.
    Cents(i64),
    /// A float written as `text`, meaning `value`.
    Float {
        text: String,
        value: f64,
    },
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(&b.to_string()),
            J::Int(n) => out.push_str(&n.to_string()),
            J::Cents(c) => out.push_str(&cents_text(*c)),
            J::Float { text, .. } => out.push_str(text),
            J::Str(s) => out.push_str(&serde_json::to_string(s).unwrap()),
            J::Arr(items) => {
                out.push_str("[ ");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" , ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push_str(" : ");
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

/// `2.50` for 250: always two decimals, as a producer formatting money writes them.
fn cents_text(c: i64) -> String {
    format!("{}{}.{:02}", if c < 0 { "-" } else { "" }, c.unsigned_abs() / 100, c.unsigned_abs() % 100)
}

/// Java's Double.toString of a two-decimal value below 10^7: trailing zeros dropped, at least one decimal kept.
fn java_cents(c: i64) -> String {
    let mut s = cents_text(c);
    while s.ends_with('0') && !s.ends_with(".0") {
        s.pop();
    }
    if s == "-0.0" {
        s = "-0.0".into();
    }
    s
}

/// What Flink's JSON format does with a value for a column of some type: a value, NULL, or the job fails.
#[derive(Debug, Clone, PartialEq)]
enum Col<T> {
    Value(T),
    Null,
    Fails,
}

/// STRING: a string as is, a number as its text, a boolean as `true`/`false`, a container as Jackson's JSON text.
fn flink_string(j: &J) -> Col<String> {
    match j {
        J::Null => Col::Null,
        J::Str(s) => Col::Value(s.clone()),
        J::Arr(_) | J::Obj(_) => Col::Value(jackson(j)),
        other => Col::Value(other.text()),
    }
}

/// Jackson's JsonNode.toString: compact; a repeated key keeps its first place and last value; numbers re-printed.
fn jackson(j: &J) -> String {
    match j {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Int(n) => n.to_string(),
        J::Cents(c) => java_cents(*c),
        J::Float { .. } => unreachable!("the generator puts only Cents floats in containers"),
        // JsonNode.toString keeps characters outside the BMP as they are.
        J::Str(s) => jackson_string(s, false),
        J::Arr(items) => format!("[{}]", items.iter().map(jackson).collect::<Vec<_>>().join(",")),
        J::Obj(fields) => {
            let mut merged: Vec<(String, &J)> = Vec::new();
            for (k, v) in fields {
                match merged.iter_mut().find(|(mk, _)| mk == k) {
                    Some(slot) => slot.1 = v,
                    None => merged.push((k.clone(), v)),
                }
            }
            let parts: Vec<String> =
                merged.iter().map(|(k, v)| format!("{}:{}", jackson(&J::Str(k.clone())), jackson(v))).collect();
            format!("{{{}}}", parts.join(","))
        }
    }
}

/// BIGINT: an integer; a float truncated toward zero within ±2^63; a string Long.parseLong reads once trimmed.
fn flink_bigint(j: &J) -> Col<i64> {
    match j {
        J::Null => Col::Null,
        J::Int(n) => Col::Value(*n),
        J::Cents(c) => Col::Value(c / 100),
        // Within [Long.MIN_VALUE, Long.MAX_VALUE] compared as doubles (both ±2^63), then Java's saturating cast.
        J::Float { value, .. } if value.abs() <= 2f64.powi(63) => Col::Value(value.trunc() as i64),
        J::Str(s) => match s.trim_matches(|c: char| c <= ' ').parse::<i64>() {
            Ok(n) => Col::Value(n),
            Err(_) => Col::Fails,
        },
        _ => Col::Fails,
    }
}

/// DOUBLE: a number; a string Double.parseDouble reads (the generator only makes decimal ones, or junk).
fn flink_double(j: &J) -> Col<f64> {
    match j {
        J::Null => Col::Null,
        J::Int(n) => Col::Value(*n as f64),
        J::Cents(c) => Col::Value(*c as f64 / 100.0),
        J::Float { value, .. } => Col::Value(*value),
        J::Str(s) => {
            let t = s.trim_matches(|c: char| c <= ' ');
            let t = t.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(t);
            match t.parse::<f64>() {
                Ok(x) if t.bytes().any(|b| b.is_ascii_digit()) && !t.contains("inf") => Col::Value(x),
                _ => Col::Fails,
            }
        }
        _ => Col::Fails,
    }
}

/// A timestamp text with what TO_TIMESTAMP makes of it: epoch milliseconds, or `None` when Flink would move it to
/// another day (a day past the month's end), which we dead-letter.
#[derive(Debug, Clone)]
struct Ts {
    text: String,
    ms: Option<i64>,
    /// What Flink's TO_TIMESTAMP gives: java.time's SMART resolver moves a day past the month's end to its last day.
    smart: i64,
}

fn ts_strategy() -> impl Strategy<Value = Ts> {
    (
        (1970i32..=2100, 1u32..=12, 1u32..=31),
        (0u32..=23, 0u32..=59, 0u32..=59),
        proptest::collection::vec(0u32..=9, 0..=9),
        (any::<bool>(), any::<bool>(), any::<[bool; 5]>()),
    )
        .prop_map(|((y, mo, d), (h, mi, s), frac, (date_only, dot, wide))| {
            let f = |v: u32, two: bool| if two { format!("{v:02}") } else { v.to_string() };
            let mut text = format!("{y}-{}-{}", f(mo, wide[0]), f(d, wide[1]));
            if !date_only {
                text += &format!(" {}:{}:{}", f(h, wide[2]), f(mi, wide[3]), f(s, wide[4]));
                if dot || !frac.is_empty() {
                    text.push('.');
                    text.extend(frac.iter().map(|d| char::from_digit(*d, 10).unwrap()));
                }
            }
            let (h, mi, s, frac) = if date_only { (0, 0, 0, vec![]) } else { (h, mi, s, frac) };
            let milli = (0..3).map(|i| frac.get(i).copied().unwrap_or(0)).fold(0, |acc, d| acc * 10 + d);
            let at = |date: NaiveDate| date.and_hms_milli_opt(h, mi, s, milli).unwrap().and_utc().timestamp_millis();
            let ms = NaiveDate::from_ymd_opt(y, mo, d).map(at);
            let last_day = (28..=31).rev().find(|&day| NaiveDate::from_ymd_opt(y, mo, day).is_some()).unwrap();
            let smart = at(NaiveDate::from_ymd_opt(y, mo, d.min(last_day)).unwrap());
            Ts { text, ms, smart }
        })
}

/// Flink's TIMESTAMP(3) text in its JSON output: seconds, then the millisecond fraction with trailing zeros cut.
fn flink_timestamp_text(ms: i64) -> String {
    let t = Utc.timestamp_millis_opt(ms).unwrap();
    let base = format!("{:04}-{:02}-{:02} {}", t.year(), t.month(), t.day(), t.format("%H:%M:%S"));
    let frac = format!("{:03}", ms.rem_euclid(1000));
    match frac.trim_end_matches('0') {
        "" => base,
        f => format!("{base}.{f}"),
    }
}

/// A value for a STRING column: the kinds producers write there.
fn string_value() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::Int),
        (-10_000_000i64..10_000_000).prop_map(J::Cents),
        "[ -~]{0,12}".prop_map(J::Str),
        any::<String>().prop_map(J::Str),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(J::Arr),
            proptest::collection::vec(("[a-c]", inner), 0..4).prop_map(J::Obj),
        ]
    })
}

/// A value for the BIGINT column (duration_seconds).
fn bigint_value() -> impl Strategy<Value = J> {
    prop_oneof![
        Just(J::Null),
        (5i64..=300).prop_map(J::Int),
        any::<i64>().prop_map(J::Int),
        (-100_000i64..100_000).prop_map(J::Cents),
        (-1e19f64..1e19).prop_map(|v| J::Float { text: format!("{v:e}"), value: v }),
        (any::<i32>(), "[ \t]{0,2}", "[ \t]{0,2}", any::<bool>())
            .prop_map(|(n, a, b, plus)| J::Str(format!("{a}{}{n}{b}", if plus && n >= 0 { "+" } else { "" }))),
        Just(J::Str("45.0".into())),
        Just(J::Str(String::new())),
        any::<bool>().prop_map(J::Bool),
    ]
}

/// A value for the DOUBLE column (amount).
fn double_value() -> impl Strategy<Value = J> {
    prop_oneof![
        Just(J::Null),
        (999i64..=99_999).prop_map(J::Cents),
        any::<i64>().prop_map(J::Int),
        any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(|v| J::Float { text: format!("{v:?}"), value: v }),
        (
            any::<f64>().prop_filter("finite", |v| v.is_finite()),
            "[ ]{0,2}",
            prop_oneof![Just(""), Just("d"), Just("F")]
        )
            .prop_map(|(v, pad, suffix)| J::Str(format!("{pad}{v:e}{suffix}{pad}"))),
        (999i64..=99_999).prop_map(|c| J::Str(cents_text(c))),
        Just(J::Str("abc".into())),
        Just(J::Str("NaN".into())),
        any::<bool>().prop_map(J::Bool),
    ]
}

/// A record: the fields of the source table in some order, some repeated, plus a field the job ignores.
fn record() -> impl Strategy<Value = (Vec<(&'static str, J)>, Ts)> {
    let field = prop_oneof![
        4 => string_value().prop_map(|j| ("user_id", j)),
        3 => string_value().prop_map(|j| ("url", j)),
        3 => string_value().prop_map(|j| ("element_id", j)),
        3 => string_value().prop_map(|j| ("order_id", j)),
        3 => double_value().prop_map(|j| ("amount", j)),
        2 => bigint_value().prop_map(|j| ("duration_seconds", j)),
        1 => string_value().prop_map(|j| ("other", j)),
    ];
    (proptest::collection::vec(field, 1..9), ts_strategy(), 0usize..9, "[a-f0-9-]{36}").prop_map(
        |(mut fields, ts, at, user)| {
            // Nearly always a user_id and a timestamp, so most records get as far as the four fields.
            fields.insert(0, ("user_id", J::Str(user)));
            let at = at.min(fields.len());
            fields.insert(at, ("timestamp", J::Str(ts.text.clone())));
            (fields, ts)
        },
    )
}

/// The fields the original job reads (its projection: the JSON format reads only these).
const SEED_READS: [&str; 6] = ["timestamp", "user_id", "url", "element_id", "order_id", "amount"];
/// The fields the default job reads.
const DEFAULT_READS: [&str; 8] =
    ["timestamp", "user_id", "url", "element_id", "order_id", "amount", "ip_address", "duration_seconds"];

/// The fields as Flink's streaming reader sees them for a job reading `reads`: a repeat overwrites, and once as
/// many fields have been read as the job reads (a repeat counts too), every further field is skipped.
fn flink_fields(fields: &[(&'static str, J)], reads: &[&str]) -> std::collections::HashMap<&'static str, J> {
    let mut seen = std::collections::HashMap::new();
    let mut n = 0;
    for (k, v) in fields {
        if reads.contains(k) && n < reads.len() {
            seen.insert(*k, v.clone());
            n += 1;
        }
    }
    seen
}

fn render(fields: &[(&'static str, J)]) -> String {
    let parts: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\": {}", v.text())).collect();
    format!("{{ {} }}", parts.join(", "))
}

/// The four original columns as the model computes them from what the reader saw: `None` where Flink fails the
/// job (a value that does not convert to its declared type).
struct Four {
    user_id: Col<String>,
    timestamp: Option<String>,
    details: String,
    amount: Col<f64>,
}

fn four(f: &std::collections::HashMap<&'static str, J>) -> Option<Four> {
    let get = |k: &str| f.get(k).cloned().unwrap_or(J::Null);
    let strings: Vec<Col<String>> =
        ["user_id", "url", "element_id", "order_id"].iter().map(|k| flink_string(&get(k))).collect();
    let amount = flink_double(&get("amount"));
    if amount == Col::Fails || strings.contains(&Col::Fails) {
        return None;
    }
    let value = |c: &Col<String>| match c {
        Col::Value(s) => Some(s.clone()),
        _ => None,
    };
    let amount_text = match &amount {
        Col::Value(x) => Some(java_double_reference(*x)),
        _ => None,
    };
    let parts: Vec<String> =
        [value(&strings[1]), value(&strings[2]), value(&strings[3]), amount_text].into_iter().flatten().collect();
    let timestamp = match get("timestamp") {
        J::Str(s) => Some(s),
        J::Null => None,
        other => panic!("the generator writes only the timestamp text: {other:?}"),
    };
    Some(Four { user_id: strings[0].clone(), timestamp, details: parts.join(" | "), amount })
}

/// A JSON string as Jackson writes it: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other control characters as
/// `\u00XX`, and with `surrogates` (Flink's JSON format) characters outside the BMP as two `\uXXXX` surrogates; the
/// rest as it is.
fn jackson_string(s: &str, surrogates: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if surrogates && (c as u32) > 0xFFFF => {
                let v = c as u32 - 0x10000;
                out.push_str(&format!("\\u{:04X}\\u{:04X}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string in a row of Flink's JSON format.
fn flink_json_string(s: &str) -> String {
    jackson_string(s, true)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// The original job.sql, unchanged, writes Flink's bytes: `event_type, event_timestamp, user_id, details` in
    /// Flink's JSON format, NULLs as `null`. Where Flink fails the job (a value that does not convert), the record
    /// is a dead letter with the reason.
    #[test]
    fn the_original_job_writes_flinks_bytes((fields, ts) in record()) {
        let raw = render(&fields);
        let got = one(seed_job(), "user_clicks", Some(raw.as_bytes()));
        match four(&flink_fields(&fields, &SEED_READS)) {
            None => prop_assert_eq!(got.map_err(|e| e.reason()), Err("wrong_type"), "{}", raw),
            Some(f) => {
                let ts_text = f.timestamp.as_ref().map(|t| {
                    prop_assert_eq!(t, &ts.text);
                    Ok(flink_json_string(&flink_timestamp_text(ts.smart)))
                });
                let ts_text = match ts_text {
                    Some(r) => r?,
                    None => "null".to_owned(),
                };
                let user_id = match &f.user_id {
                    Col::Value(u) => flink_json_string(u),
                    _ => "null".to_owned(),
                };
                let want = format!(
                    "{{\"event_type\":\"CLICKS\",\"event_timestamp\":{ts_text},\"user_id\":{user_id},\"details\":{}}}",
                    flink_json_string(&f.details)
                );
                prop_assert_eq!(got, Ok(want), "{}", raw);
            }
        }
    }

    /// The default job agrees with the original on the four fields for every record the original maps. Where the
    /// original writes NULL (no user_id, no timestamp) or fails (a value that does not convert), the record is a
    /// dead letter: a field that does not convert first (the reader stops there, as Flink's does), then the first
    /// NOT NULL column in the sink's order that is NULL, with its cause. A date past its month's end, which Flink
    /// would move to another day, is a dead letter too (the README lists both).
    #[test]
    fn the_default_job_agrees_on_the_four_fields((fields, ts) in record()) {
        let raw = render(&fields);
        let got = map_record("user_clicks", raw.as_bytes());
        let f = flink_fields(&fields, &DEFAULT_READS);
        let duration = flink_bigint(&f.get("duration_seconds").cloned().unwrap_or(J::Null));
        let reason = match four(&f) {
            _ if duration == Col::Fails => Some("wrong_type"),
            None => Some("wrong_type"),
            Some(x) if x.timestamp.is_none() => Some("missing_field"),
            Some(_) if ts.ms.is_none() => Some("bad_timestamp"),
            Some(x) if x.user_id == Col::Null => Some("missing_field"),
            Some(_) => None,
        };
        match (reason, got) {
            (Some(want), Err(err)) => prop_assert_eq!(err.reason(), want, "{}: {}", raw, err),
            (Some(want), Ok(e)) => prop_assert!(false, "{} mapped, want {}: {:?}", raw, want, e),
            (None, Err(err)) => prop_assert!(false, "{} not mapped: {}", raw, err),
            (None, Ok(e)) => {
                let x = four(&f).unwrap();
                prop_assert_eq!(e.event_type, "CLICKS");
                prop_assert_eq!(&e.event_timestamp, &flink_timestamp_text(ts.ms.unwrap()), "{}", raw);
                prop_assert_eq!(Some(e.user_id.clone()), match x.user_id { Col::Value(u) => Some(u), _ => None }, "{}", raw);
                prop_assert_eq!(&e.details, &x.details, "{}", raw);
                prop_assert_eq!(e.amount, match x.amount { Col::Value(v) => Some(v), _ => None });
                prop_assert_eq!(e.duration_seconds, match duration { Col::Value(n) => Some(n), _ => None });
            }
        }
    }
}

/// Java (19+) Double.toString, written from its specification independently of the mapping's version: the
/// shortest decimal that reads back as `x` (found by trying 1 to 17 significant digits), in plain notation within
/// [10^-3, 10^7) with at least one decimal, else as `d.dddE±n`.
fn java_double_reference(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let (digits, exp) = (1..=17)
        .find_map(|p| {
            let s = format!("{:.*e}", p - 1, x);
            (s.parse::<f64>().unwrap() == x).then_some(s)
        })
        .map(|s| {
            let (m, e) = s.split_once('e').unwrap();
            (m.replace(['.', '-'], ""), e.parse::<i32>().unwrap())
        })
        .unwrap();
    let sign = if x < 0.0 { "-" } else { "" };
    let a = x.abs();
    if (1e-3..1e7).contains(&a) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{body}")
    } else {
        let frac = if digits.len() > 1 { &digits[1..] } else { "0" };
        format!("{sign}{}.{}E{}", &digits[..1], frac, exp)
    }
}

#[test]
fn the_reference_double_to_string_is_javas() {
    for (x, s) in [
        (100.0, "100.0"),
        (1e7, "1.0E7"),
        (12_345_678.9, "1.23456789E7"),
        (1e-4, "1.0E-4"),
        (0.001, "0.001"),
        (-0.0, "-0.0"),
        (2e23, "2.0E23"),
        (12.5, "12.5"),
        // Two shortest decimals equally close (…925.25 exactly): Java takes the even last digit.
        (-1.2477222370209253e15, "-1.2477222370209252E15"),
    ] {
        assert_eq!(java_double_reference(x), s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// The engine's Double.toString (`CAST(DOUBLE AS STRING)`, JSON numbers, the writer) is the reference's for
    /// any double.
    #[test]
    fn the_engines_double_to_string_is_the_references(bits in any::<u64>()) {
        let x = f64::from_bits(bits);
        prop_assume!(x.is_finite());
        prop_assert_eq!(job::value::java_double(x), java_double_reference(x));
    }

    /// … and for doubles halfway between two 17-digit decimals, where a shortest printer may break the tie either
    /// way (quarters between 2^50 and 2^53, whose ulp is 1/4 or 1/2), and for cents.
    #[test]
    fn ties_and_cents_print_as_java_does(n in 1u64 << 50..1 << 53, quarter in 0u8..4, cents in -10_000_000_000i64..10_000_000_000) {
        let x = n as f64 + f64::from(quarter) / 4.0;
        prop_assert_eq!(job::value::java_double(x), java_double_reference(x));
        prop_assert_eq!(job::value::java_double(-x), java_double_reference(-x));
        let c = cents as f64 / 100.0;
        prop_assert_eq!(job::value::java_double(c), java_double_reference(c));
    }
}

#[test]
fn examples_from_the_issue() {
    let m = |raw: &str| map_record("page_views", raw.as_bytes());
    let e =
        m(r#"{"user_id":12345,"element_id":7,"url":"u","duration_seconds":30.0,"timestamp":"2021-06-15"}"#).unwrap();
    assert_eq!((e.user_id.as_str(), e.details.as_str(), e.duration_seconds), ("12345", "u | 7", Some(30)));
    assert_eq!(e.event_timestamp, "2021-06-15 00:00:00");
    let e = m(r#"{"user_id":"","duration_seconds":"45","amount":"12.50","timestamp":"2021-6-5 1:2:3.40"}"#).unwrap();
    assert_eq!((e.user_id.as_str(), e.duration_seconds, e.amount), ("", Some(45), Some(12.5)));
    assert_eq!((e.details.as_str(), e.event_timestamp.as_str()), ("12.5", "2021-06-05 01:02:03.4"));
    let e = m(r#"{"user_id":"a","user_id":"b","duration_seconds":12.7,"timestamp":"2021-06-15 12:30:45.5"}"#).unwrap();
    assert_eq!((e.user_id.as_str(), e.duration_seconds), ("b", Some(12)));
    // A raw control character inside a string (Jackson's ALLOW_UNESCAPED_CONTROL_CHARS), a byte order mark, and
    // text after the object (Flink's reader stops at the object's end).
    let e = m("\u{feff}{\"user_id\":\"a\tb\",\"timestamp\":\"2021-06-15 12:30:45\"} trailing").unwrap();
    assert_eq!(e.user_id, "a\tb");
    assert_eq!(m(r#"{"user_id":"u","timestamp":"2021-02-29"}"#).unwrap_err().reason(), "bad_timestamp");
}
